//! What the package check of `load` costs on a tree where every file belongs to a package:
//!
//! ```sh
//! cargo bench -p rechunk-bench --bench load_packages
//! ```
//!
//! Generates (once, then reuses) the scan bench's synthetic tree (120,000 files, 256 MiB)
//! under `target/bench-data/`, packs every file into rpm packages (one per directory two
//! levels below the top-level ones, hardlinks kept together) with the `rpm` crate, and
//! registers them with real `rpm -i --justdb` in the tree's `/usr/lib/sysimage/rpm`: the tree
//! is then exactly what the records say, as after a real install. Measured with criterion: the
//! walk alone (`scan`), `load` (walk, rpmdb, assignment, package check: reads no package file
//! when the metadata matches) and `load` with `verify_digests` (reads every package file: what
//! the check would cost if it hashed content). Finally alternated runs print the ratios
//! load/scan and verify/scan.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rechunk_bench::{median, scan_entries};
use rechunk_datasets::synthetic::{generate_cached, Spec};
use rechunk_rootfs::{load, scan, LoadOptions, ScanOptions};
use rpm::{BuildConfig, CompressionType, FileOptions, PackageBuilder};

const SPEC: Spec = Spec {
    seed: 2024,
    files: 120_000,
    total_bytes: 256 << 20,
};

/// Package name → its paths (relative to the tree, sorted, parents first).
type Packages = BTreeMap<String, Vec<PathBuf>>;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data")
}

/// The tree with its rpmdb, built on first use (a marker next to it says it is complete).
fn tree() -> PathBuf {
    let root = data_dir().join("load-packages");
    let marker = root.with_extension("packaged");
    let t = Instant::now();
    let summary = generate_cached(&root, &SPEC).expect("synthetic tree");
    if !marker.exists() {
        let rpms = data_dir().join("load-packages-rpms");
        let _ = std::fs::remove_dir_all(&rpms);
        std::fs::create_dir_all(&rpms).expect("rpm folder");
        let packages = group(&root);
        let files: Vec<PathBuf> = packages
            .iter()
            .map(|(name, paths)| write_rpm(&root, &rpms, name, paths))
            .collect();
        register(&root, &files);
        std::fs::write(&marker, format!("{} packages\n", files.len())).expect("marker");
    }
    eprintln!(
        "tree {}: {} files, {} MiB, packaged ({:.1} s to prepare)",
        root.display(),
        summary.files(),
        summary.bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    root
}

/// Every non-directory entry and directory at depth ≥ 3 goes to the package named after its
/// first three path components; a hardlink goes where the first path of its inode went.
fn group(root: &Path) -> Packages {
    let tree = scan(root, &ScanOptions::default()).expect("scan").tree;
    let mut packages = Packages::new();
    let mut inode_home: HashMap<(u64, u64), String> = HashMap::new();
    for e in &tree.entries {
        let parts: Vec<_> = e.path.iter().collect();
        if parts.len() < 3 {
            continue;
        }
        let mut name = parts[..3]
            .iter()
            .map(|p| p.to_string_lossy())
            .collect::<Vec<_>>()
            .join("-");
        if let Some(id) = e.hardlink {
            name = inode_home.entry((id.dev, id.ino)).or_insert(name).clone();
        }
        packages.entry(name).or_default().push(e.path.clone());
    }
    packages
}

fn write_rpm(root: &Path, rpms: &Path, name: &str, paths: &[PathBuf]) -> PathBuf {
    let config = BuildConfig::default().compression(CompressionType::None);
    let mut b = PackageBuilder::new(name, "1.0", "MIT", "x86_64", "bench package");
    b.release("1").using_config(config);
    // rpm wants every hardlink identity to name two files of the package or more.
    let mut links: HashMap<u64, usize> = HashMap::new();
    for rel in paths {
        let meta = std::fs::symlink_metadata(root.join(rel)).expect("stat");
        if meta.is_file() && meta.nlink() > 1 {
            *links.entry(meta.ino()).or_default() += 1;
        }
    }
    for rel in paths {
        let full = root.join(rel);
        let meta = std::fs::symlink_metadata(&full).expect("stat");
        let dest = format!("/{}", rel.display());
        let mtime = u32::try_from(meta.mtime()).expect("mtime fits rpm's 32 bits");
        let mode = (meta.mode() & 0o7777) as u16;
        let opts = |o: rpm::FileOptionsBuilder| o.permissions(mode).modified_at(mtime.into());
        if meta.is_dir() {
            b.with_dir_entry(opts(FileOptions::dir(dest))).expect("dir");
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full).expect("readlink");
            let target = target.to_string_lossy().into_owned();
            b.with_symlink(opts(FileOptions::symlink(dest, target)))
                .expect("symlink");
        } else {
            let mut o = opts(FileOptions::new(dest));
            if links.get(&meta.ino()).is_some_and(|&n| n > 1) {
                o = o.hardlink(meta.ino().to_string());
            }
            b.with_file(&full, o).expect("file");
        }
    }
    let pkg = b.build().expect("rpm builds");
    let path = rpms.join(format!("{name}.rpm"));
    pkg.write_file(&path).expect("rpm written");
    path
}

/// `rpm -i --justdb`: records the packages without touching the files.
fn register(root: &Path, rpms: &[PathBuf]) {
    for chunk in rpms.chunks(200) {
        let out = Command::new("rpm")
            .arg("--root")
            .arg(root)
            .args([
                "--dbpath",
                "/usr/lib/sysimage/rpm",
                "-i",
                "--justdb",
                "--nodeps",
                "--noscripts",
                "--notriggers",
                "--ignorearch",
                "--nosignature",
                "--nodigest",
            ])
            .args(chunk)
            .output()
            .expect("rpm runs (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "rpm -i --justdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn run_load(root: &Path, verify_digests: bool) -> usize {
    let opts = LoadOptions {
        verify_digests,
        ..LoadOptions::default()
    };
    load(root, &opts).expect("load").drift.len()
}

fn benches(c: &mut Criterion, root: &Path, entries: u64) {
    let mut g = c.benchmark_group("load_packages");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(entries));
    g.bench_function("scan", |b| b.iter(|| scan_entries(root)));
    g.bench_function("load", |b| b.iter(|| run_load(root, false)));
    g.bench_function("load_verify_digests", |b| b.iter(|| run_load(root, true)));
    g.finish();
}

/// Alternating runs so all three see the same cache and machine load.
fn ratio_report(root: &Path, entries: u64) {
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut walk, mut loads, mut verify) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        walk.push(time(&|| {
            scan_entries(root);
        }));
        loads.push(time(&|| {
            run_load(root, false);
        }));
        verify.push(time(&|| {
            run_load(root, true);
        }));
    }
    let (walk, loads, verify) = (median(walk), median(loads), median(verify));
    let md = format!(
        "### Loading packages\n\n\
         The synthetic tree packed into rpms and registered with `rpm --justdb` ({entries} \
         entries), median of 5 alternating runs: the walk alone {walk:.3} s; `load` (walk, \
         rpmdb, components, versions from the records: content read only when size or mtime \
         differ) {loads:.3} s, **{:.2}× the walk**; verifying every digest instead \
         {verify:.3} s, {:.2}× the walk.\n",
        loads / walk,
        verify / walk
    );
    print!("{md}");
    let command = "cargo bench -p rechunk-bench --bench load_packages";
    let path = rechunk_bench::write_result("load_packages", command, &md).expect("writing");
    println!("written to {}", path.display());
}

fn main() {
    let root = tree();
    let l = load(&root, &LoadOptions::default()).expect("load");
    let owned = l.package_of.iter().filter(|p| p.is_some()).count();
    eprintln!(
        "{} packages own {owned} of {} entries; {} entries differ from their records",
        l.packages.len(),
        l.tree.entries.len(),
        l.drift.len()
    );
    let entries = l.tree.entries.len() as u64;
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &root, entries);
    ratio_report(&root, entries);
    c.final_summary();
}
