//! Loaders for the real data rechunk replays (image histories, package sizes) and the
//! synthetic rootfs generator used by tests and benchmarks. Every loader names the file it
//! failed on and why.

pub mod contentmeta;
