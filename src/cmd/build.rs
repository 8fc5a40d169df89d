//! `rechunk build` (being written).

/// Options of `rechunk build`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rechunk build is not implemented yet")
}
