//! What the benches share: the walk they all measure against, the median they report from
//! alternating runs, and the end-to-end harness ([`harness`]).

pub mod harness;

use std::path::Path;

use rechunk_rootfs::{scan, ScanOptions};

/// Walks `root` as `rechunk_rootfs::scan` does and returns the entry count (benches only: a
/// failed walk panics).
pub fn scan_entries(root: &Path) -> usize {
    scan(root, &ScanOptions::default())
        .expect("scan")
        .tree
        .entries
        .len()
}

/// Median of non-empty timings (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
