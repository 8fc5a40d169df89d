//! Scan speed against `find DIR -printf` on the same generated tree, in the same run:
//!
//! ```sh
//! cargo bench -p rechunk-bench --bench scan
//! ```
//!
//! Generates (once, then reuses) a synthetic tree of 120,000 files (`rechunk_datasets::
//! synthetic`) under `target/bench-data/`, then measures with criterion: the walk alone
//! (`rechunk_rootfs::scan`: every entry's metadata and xattrs), a full `load` (walk +
//! component assignment, which reads unowned content to version it) and
//! `find DIR -printf '%p %s %m %U %G %T@\n'`. Finally it times scan and find alternately and
//! prints files/s and the ratio scan/find (target ≤ 1.5).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rechunk_bench::{median, scan_entries};
use rechunk_datasets::synthetic::{generate_cached, Spec, Summary};
use rechunk_rootfs::{load, LoadOptions};

const SPEC: Spec = Spec {
    seed: 2024,
    files: 120_000,
    total_bytes: 256 << 20,
};

fn tree() -> (PathBuf, Summary) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/scan-synthetic");
    let t = Instant::now();
    let summary = generate_cached(&root, &SPEC).expect("synthetic tree");
    eprintln!(
        "tree {}: {} files, {} dirs, {} MiB ({:.1} s to prepare)",
        root.display(),
        summary.files(),
        summary.dirs,
        summary.bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    (root, summary)
}

fn run_find(root: &Path) {
    let status = Command::new("find")
        .arg(root)
        .args(["-printf", "%p %s %m %U %G %T@\\n"])
        .stdout(Stdio::null())
        .status()
        .expect("find runs");
    assert!(status.success());
}

fn benches(c: &mut Criterion, root: &Path, entries: u64) {
    let mut g = c.benchmark_group("scan");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(entries));
    g.bench_function("rechunk_scan", |b| b.iter(|| scan_entries(root)));
    g.bench_function("find_printf", |b| b.iter(|| run_find(root)));
    g.bench_function("rechunk_load", |b| {
        b.iter(|| load(root, &LoadOptions::default()).expect("load"))
    });
    g.finish();
}

/// Alternating runs so both see the same cache and machine load.
fn ratio_report(root: &Path, entries: u64) {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t = Instant::now();
        scan_entries(root);
        ours.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        run_find(root);
        theirs.push(t.elapsed().as_secs_f64());
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let md = format!(
        "### Scanning\n\n\
         The walk (`rechunk_rootfs::scan`: every entry's metadata and xattrs) of a generated \
         tree of {entries} entries (warm cache, {} threads) against \
         `find DIR -printf '%p %s %m %U %G %T@\\n'`, alternating, median of 7: \
         {ours:.3} s ({:.0} entries/s) against {theirs:.3} s ({:.0} entries/s): \
         **{:.2}× find's time** (target ≤ 1.5).\n",
        rayon::current_num_threads(),
        entries as f64 / ours,
        entries as f64 / theirs,
        ours / theirs,
    );
    print!("{md}");
    let path =
        rechunk_bench::write_result("scan", "cargo bench -p rechunk-bench --bench scan", &md)
            .expect("writing the result");
    println!("written to {}", path.display());
}

fn main() {
    let (root, _) = tree();
    let entries = scan_entries(&root) as u64;
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &root, entries);
    ratio_report(&root, entries);
    c.final_summary();
}
