//! `rechunk compare` (being written).

/// Options of `rechunk compare`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rechunk compare is not implemented yet")
}
