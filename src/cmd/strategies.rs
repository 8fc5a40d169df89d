//! `rechunk strategies` (being written).

/// Options of `rechunk strategies`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rechunk strategies is not implemented yet")
}
