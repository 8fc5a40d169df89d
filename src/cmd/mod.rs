//! One module per subcommand; each owns its clap `Args` and a `run` that returns an error with
//! context (paths and causes) for `main` to print.

pub mod build;
pub mod changelog;
pub mod common;
pub mod compare;
mod compare_build;
pub mod diff;
pub mod inspect;
pub mod ostree_log;
pub mod plan;
pub mod scan;
pub mod strategies;
pub mod synth;
