//! `rechunk inspect` (being written).

/// Options of `rechunk inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rechunk inspect is not implemented yet")
}
