//! `rechunk diff` (being written).

/// Options of `rechunk diff`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rechunk diff is not implemented yet")
}
