//! Measures real Fedora-family package file lists and prints the statistics the synthesized
//! package layout draws from (`datasets/data/synth-calibration.json`):
//!
//! ```sh
//! cargo run -p rechunk-datasets --example synth_calibrate -- /work/shared/datasets \
//!     > datasets/data/synth-calibration.json
//! ```
//!
//! Inputs (under the given datasets folder; origins in `datasets/data/SOURCE.md`): the Amazon
//! Linux 2023 rpmdb of go-rpmdb (read with our rpmdb reader) and chunkah's Fedora 43 `rpm -q`
//! dump (`fedora.qf`, no hardlink or capability columns). A summary goes to stderr.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use rechunk_datasets::synth::calibration::{
    ArchetypeStats, Calibration, ClassStats, TopShare, TOP_SHARE_BUCKETS,
};
use rechunk_datasets::synth::layout::{self, Archetype, EntrySpec, FileClass, PackageRef};

const AL2023: &str = "go-rpmdb/amazonlinux2023-plain";
const FEDORA_QF: &str = "chunkah-fixtures/fedora.qf";

/// One file as both sources describe it.
struct RealFile {
    path: String,
    size: u64,
    mode: u32,
    ghost: bool,
    config: bool,
    caps: bool,
    /// Hardlink identity within the package, when the source records one.
    inode: Option<(u32, u32)>,
}

struct RealPackage {
    name: String,
    files: Vec<RealFile>,
}

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const GHOST: u32 = 1 << 6;
const CONFIG: u32 = 1;

fn main() -> Result<()> {
    let Some(root) = std::env::args().nth(1) else {
        bail!("usage: synth_calibrate DATASETS_DIR (e.g. /work/shared/datasets)");
    };
    let root = Path::new(&root);
    let mut packages = read_rpmdb(&root.join(AL2023))?;
    packages.extend(read_qf(&root.join(FEDORA_QF))?);
    let mut calibration = measure(&packages);
    calibration.origin = vec![
        format!("{AL2023}/rpmdb.sqlite: github.com/knqyf263/go-rpmdb pkg/testdata at 21f7fb58fcaf886f5c7a4f82cad1c3ba48ee404e (Amazon Linux 2023, MIT)"),
        format!("{FEDORA_QF}: github.com/coreos/chunkah tests/fixtures at 4c8abc389c27fe6d57c082f6817f70b723d995a5 (Fedora 43, MIT OR Apache-2.0)"),
    ];
    summarize(&calibration);
    compare_with_layout(&packages);
    println!("{}", serde_json::to_string_pretty(&calibration)?);
    Ok(())
}

fn read_rpmdb(dir: &Path) -> Result<Vec<RealPackage>> {
    let db = rechunk_rpmdb::read_dir(dir, &rechunk_rpmdb::ReadOptions::default())
        .with_context(|| format!("reading the rpmdb in {}", dir.display()))?;
    Ok(db
        .packages
        .into_iter()
        .map(|p| RealPackage {
            name: p.name,
            files: p
                .files
                .into_iter()
                .map(|f| RealFile {
                    ghost: f.flags.is_ghost(),
                    config: f.flags.is_config(),
                    caps: f.caps.is_some_and(|c| !c.is_empty()),
                    inode: Some(f.inode),
                    path: f.path,
                    size: f.size,
                    mode: f.mode,
                })
                .collect(),
        })
        .collect())
}

/// `@@PKG@@ NAME ...` then `@@FILE@@ PATH SIZE MODE MTIME DIGEST FLAGS USER GROUP LINKTO` lines.
fn read_qf(path: &Path) -> Result<Vec<RealPackage>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out: Vec<RealPackage> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("{}: line {}: unexpected record", path.display(), i + 1);
        match f.first().copied() {
            Some("@@PKG@@") => out.push(RealPackage {
                name: f.get(1).with_context(bad)?.to_string(),
                files: Vec::new(),
            }),
            Some("@@FILE@@") => {
                let num = |j: usize| -> Result<u64> {
                    f.get(j).with_context(bad)?.parse().with_context(bad)
                };
                let flags = num(6)? as u32;
                let file = RealFile {
                    path: f.get(1).with_context(bad)?.to_string(),
                    size: num(2)?,
                    mode: num(3)? as u32,
                    ghost: flags & GHOST != 0,
                    config: flags & CONFIG != 0,
                    caps: false,
                    inode: None,
                };
                out.last_mut().with_context(bad)?.files.push(file);
            }
            _ => {}
        }
    }
    Ok(out)
}

#[derive(Default)]
struct ClassTally {
    sizes: Vec<u64>,
    symlinks: usize,
    extra_links: usize,
}

fn measure(packages: &[RealPackage]) -> Calibration {
    let mut c = Calibration {
        packages: packages.len(),
        ..Calibration::default()
    };
    let mut classes: BTreeMap<FileClass, ClassTally> = BTreeMap::new();
    let mut archetypes: BTreeMap<Archetype, (usize, BTreeMap<FileClass, usize>)> = BTreeMap::new();
    let (mut etc_files, mut etc_config) = (0usize, 0usize);
    // (package bytes, largest file's share).
    let mut top_shares: Vec<(u64, f64)> = Vec::new();
    for p in packages {
        let (mut top, mut total) = (0u64, 0u64);
        let arch = archetypes.entry(Archetype::of_name(&p.name)).or_default();
        arch.0 += 1;
        let mut seen: HashSet<(u32, u32)> = HashSet::new();
        for f in &p.files {
            let class = FileClass::of_path(&f.path);
            let tally = classes.entry(class).or_default();
            match f.mode & S_IFMT {
                S_IFDIR if f.ghost => {}
                _ if f.ghost => c.ghost_files += 1,
                S_IFDIR => c.owned_dirs += 1,
                S_IFLNK => {
                    c.symlinks += 1;
                    tally.symlinks += 1;
                }
                S_IFREG => {
                    let linked = f
                        .inode
                        .filter(|i| i.1 != 0)
                        .is_some_and(|i| !seen.insert(i));
                    if linked {
                        tally.extra_links += 1;
                        continue;
                    }
                    c.regular_files += 1;
                    tally.sizes.push(f.size);
                    top = top.max(f.size);
                    total += f.size;
                    *arch.1.entry(class).or_default() += 1;
                    if class == FileClass::Bin {
                        c.executables += 1;
                    }
                    if f.mode & 0o6000 != 0 {
                        c.setuid_files += 1;
                    }
                    if f.caps {
                        c.caps_files += 1;
                    }
                    if f.path.starts_with("/etc/") {
                        etc_files += 1;
                        etc_config += usize::from(f.config);
                    }
                }
                _ => {}
            }
        }
        if total > 0 {
            top_shares.push((total, top as f64 / total as f64));
        }
    }
    c.config_flagged_share = etc_config as f64 / etc_files.max(1) as f64;
    for (i, &min_bytes) in TOP_SHARE_BUCKETS.iter().enumerate() {
        let max = TOP_SHARE_BUCKETS.get(i + 1).copied().unwrap_or(u64::MAX);
        let mut shares: Vec<f64> = top_shares
            .iter()
            .filter(|(bytes, _)| (min_bytes..max).contains(bytes))
            .map(|(_, share)| *share)
            .collect();
        shares.sort_by(f64::total_cmp);
        c.top_file_share.push(TopShare { min_bytes, shares });
    }
    for (class, mut t) in classes {
        if t.sizes.is_empty() {
            continue;
        }
        t.sizes.sort_unstable();
        let n = t.sizes.len();
        c.classes.insert(
            class,
            ClassStats {
                sizes: t.sizes,
                symlinks_per_file: t.symlinks as f64 / n as f64,
                extra_links_per_file: t.extra_links as f64 / n as f64,
            },
        );
    }
    for (a, (count, tally)) in archetypes {
        let files: usize = tally.values().sum();
        if files == 0 {
            continue;
        }
        let class_share = tally
            .into_iter()
            .map(|(cl, n)| (cl, n as f64 / files as f64))
            .collect();
        c.archetypes.insert(
            a,
            ArchetypeStats {
                packages: count,
                files,
                class_share,
            },
        );
    }
    c
}

fn summarize(c: &Calibration) {
    eprintln!(
        "{} packages, {} regular files, {} symlinks, {} owned dirs, {} ghost files, {} executables ({} setuid, {} with caps), /etc files flagged %config: {:.0}%",
        c.packages,
        c.regular_files,
        c.symlinks,
        c.owned_dirs,
        c.ghost_files,
        c.executables,
        c.setuid_files,
        c.caps_files,
        100.0 * c.config_flagged_share
    );
    for (class, s) in &c.classes {
        eprintln!(
            "  {class:?}: {} files, {} bytes, median {} B, p90 {} B, {:.2} symlinks and {:.2} extra links per file",
            s.sizes.len(),
            s.sizes.iter().sum::<u64>(),
            s.sizes[s.sizes.len() / 2],
            s.sizes[s.sizes.len() * 9 / 10],
            s.symlinks_per_file,
            s.extra_links_per_file
        );
    }
    for (a, s) in &c.archetypes {
        eprintln!("  {a:?}: {} packages, {} files", s.packages, s.files);
    }
}

/// Entry counts of one package: regular files (one per inode), extra hardlinks, symlinks,
/// owned directories.
#[derive(Default, Clone, Copy)]
struct Counts {
    regular: usize,
    links: usize,
    symlinks: usize,
    dirs: usize,
}

/// The generator (with the embedded calibration) given each real package's name and
/// regular-file bytes, against the real package: a check of the layout, printed to stderr.
fn compare_with_layout(packages: &[RealPackage]) {
    let (mut real, mut synth) = (Vec::new(), Vec::new());
    let upstreams = [("1".to_string(), 0)];
    for p in packages {
        let mut r = Counts::default();
        let mut bytes = 0;
        let mut seen = HashSet::new();
        for f in p.files.iter().filter(|f| !f.ghost) {
            match f.mode & S_IFMT {
                S_IFDIR => r.dirs += 1,
                S_IFLNK => r.symlinks += 1,
                S_IFREG
                    if f.inode
                        .filter(|i| i.1 != 0)
                        .is_some_and(|i| !seen.insert(i)) =>
                {
                    r.links += 1
                }
                S_IFREG => {
                    r.regular += 1;
                    bytes += f.size;
                }
                _ => {}
            }
        }
        let files = layout::package_files(&PackageRef {
            key: &p.name,
            name: &p.name,
            evr: "1-1",
            upstreams: &upstreams,
            kernel_release: "0-0.x86_64",
            size: bytes,
            build_time: 0,
            first_seen: 0,
        });
        let mut s = Counts::default();
        let mut groups = HashSet::new();
        for f in &files {
            match &f.entry {
                EntrySpec::Dir => s.dirs += 1,
                EntrySpec::Symlink { .. } => s.symlinks += 1,
                EntrySpec::Regular {
                    link_group: Some(g),
                    ..
                } if !groups.insert(*g) => s.links += 1,
                EntrySpec::Regular { .. } => s.regular += 1,
                EntrySpec::Ghost { .. } => {}
            }
        }
        real.push(r);
        synth.push(s);
    }
    let line = |what: &str, v: &[Counts]| {
        let mut per: Vec<usize> = v.iter().map(|c| c.regular + c.links + c.symlinks).collect();
        per.sort_unstable();
        let sum = |f: fn(&Counts) -> usize| v.iter().map(f).sum::<usize>();
        eprintln!(
            "  {what}: {} regular files, {} extra hardlinks, {} symlinks, {} owned dirs; non-directory entries per package: median {}, p90 {}, max {}",
            sum(|c| c.regular),
            sum(|c| c.links),
            sum(|c| c.symlinks),
            sum(|c| c.dirs),
            per.get(per.len() / 2).copied().unwrap_or(0),
            per.get(per.len() * 9 / 10).copied().unwrap_or(0),
            per.last().copied().unwrap_or(0),
        );
    };
    eprintln!(
        "the same {} packages (names, regular-file bytes):",
        packages.len()
    );
    line("real       ", &real);
    line("synthesized", &synth);
}
