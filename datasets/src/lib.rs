//! Loaders for the real data rechunk replays (image histories, package sizes) and the
//! synthetic rootfs generator used by tests and benchmarks. Every loader names the file it
//! failed on and why.

pub mod contentmeta;
pub mod fcos;
pub mod generic;
pub mod rng;
pub mod rpmqa;
pub mod synth;
pub mod synthetic;
pub mod time;

use std::path::Path;

use anyhow::{Context, Result};
use rechunk_model::History;

/// The compression ratios measured on built images that `rechunk compare` applies by default
/// (the ratio file `rechunk compare --build` writes; origin in its comment lines).
pub const COMPRESSION_RATIOS: &str = include_str!("../data/compression-ratios.csv");

/// Where [`COMPRESSION_RATIOS`] lives in the repository.
pub const COMPRESSION_RATIOS_PATH: &str = "datasets/data/compression-ratios.csv";

/// Names of the histories shipped inside the binary.
pub const SHIPPED: [&str; 2] = ["fcos-stable", "fcos-testing"];

/// A history by name or path: `fcos-stable` / `fcos-testing` (shipped), a generic history CSV
/// file ([`generic`]), or a directory of `rpm -qa` dumps ([`rpmqa`]).
pub fn open_history(spec: &str) -> Result<History> {
    match spec {
        "fcos-stable" => Ok(fcos::load(fcos::Stream::Stable)?.history),
        "fcos-testing" => Ok(fcos::load(fcos::Stream::Testing)?.history),
        _ => {
            let path = Path::new(spec);
            let meta = std::fs::metadata(path).with_context(|| {
                format!(
                    "history {spec:?}: not a shipped history ({}) and not a readable file or directory",
                    SHIPPED.join(", ")
                )
            })?;
            if meta.is_dir() {
                rpmqa::load_dir(path)
            } else {
                generic::load(path)
            }
        }
    }
}

/// `path` made absolute against the current directory (without resolving symlinks), so that
/// error messages name the full path.
pub(crate) fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
