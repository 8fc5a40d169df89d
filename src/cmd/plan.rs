//! `rechunk plan` (being written).

/// Options of `rechunk plan`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rechunk plan is not implemented yet")
}
