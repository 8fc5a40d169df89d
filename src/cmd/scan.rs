//! `rechunk scan` (being written).

/// Options of `rechunk scan`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rechunk scan is not implemented yet")
}
