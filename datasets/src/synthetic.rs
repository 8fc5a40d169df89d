//! A deterministic synthetic root filesystem for benchmarks: given a seed, a file count and a
//! total size, writes a tree with the mix a distribution image has (many small files, a few
//! large ones, nested directories, symlinks, hardlinks, executables) and binary-like content
//! that compresses about 3:1. The same spec always writes the same tree (names, sizes,
//! content, modes, mtimes).

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::rng::Rng;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub seed: u64,
    /// Non-directory entries (regular files, symlinks, hardlinks).
    pub files: usize,
    /// Bytes of regular-file content, split with a heavy tail.
    pub total_bytes: u64,
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Regular files (hardlinks excluded).
    pub regular: usize,
    pub dirs: usize,
    pub symlinks: usize,
    /// Extra links to regular files.
    pub hardlinks: usize,
    pub bytes: u64,
}

impl Summary {
    /// Non-directory entries, as [`Spec::files`] counts them.
    pub fn files(&self) -> usize {
        self.regular + self.symlinks + self.hardlinks
    }
}

/// Top-level directories files are spread over, as in a bootable image.
const TOP: [&str; 8] = [
    "usr/bin",
    "usr/lib64",
    "usr/lib",
    "usr/share",
    "usr/libexec",
    "etc",
    "opt",
    "var/lib",
];
/// One in this many entries is a symlink, one in `HARDLINK_EVERY` a hardlink.
const SYMLINK_EVERY: usize = 25;
const HARDLINK_EVERY: usize = 100;
/// Files per directory on average.
const FILES_PER_DIR: usize = 16;
const MAX_DEPTH: usize = 8;
/// Fixed mtimes (2023-11-14), so the tree is the same whenever it is written.
const MTIME_BASE: u64 = 1_700_000_000;

/// Writes the tree into `root` (created; must not hold another tree).
pub fn generate(root: &Path, spec: &Spec) -> Result<Summary> {
    let mut rng = Rng::new(spec.seed);
    let dirs = make_dirs(root, spec, &mut rng)?;
    let kinds = entry_kinds(spec.files);
    let regular = kinds.iter().filter(|k| **k == Kind::Regular).count();
    let sizes = split_sizes(spec.total_bytes, regular, &mut rng);
    let mut summary = Summary {
        dirs: dirs.len(),
        ..Summary::default()
    };
    let mut written: Vec<PathBuf> = Vec::with_capacity(regular);
    let mut sizes = sizes.into_iter();
    for (i, kind) in kinds.iter().enumerate() {
        let dir = &dirs[rng.below(dirs.len())];
        let path = dir.join(format!("f{i:07}{}", suffix(*kind, i)));
        match kind {
            Kind::Regular => {
                let size = sizes.next().unwrap_or(0);
                write_file(&path, size, &mut rng, i)?;
                summary.regular += 1;
                summary.bytes += size;
                written.push(path);
            }
            Kind::Symlink if !written.is_empty() => {
                let target = &written[rng.below(written.len())];
                let rel = relative(target, dir);
                symlink(&rel, &path).with_context(|| format!("symlink {}", path.display()))?;
                summary.symlinks += 1;
            }
            Kind::Hardlink if !written.is_empty() => {
                let target = &written[rng.below(written.len())];
                fs::hard_link(target, &path)
                    .with_context(|| format!("hardlink {}", path.display()))?;
                summary.hardlinks += 1;
            }
            // A link before any regular file exists: nothing to point at, make a tiny file.
            _ => {
                write_file(&path, 0, &mut rng, i)?;
                summary.regular += 1;
                written.push(path);
            }
        }
    }
    Ok(summary)
}

/// Generates into `root` unless a complete tree of the same spec is already there (a marker
/// file outside the tree records it), so benches pay for writing once.
pub fn generate_cached(root: &Path, spec: &Spec) -> Result<Summary> {
    let marker = root.with_extension("complete");
    let want = format!("{spec:?}");
    if let Ok(text) = fs::read_to_string(&marker) {
        if let Some(summary) = parse_marker(&text, &want) {
            return Ok(summary);
        }
    }
    if root.exists() {
        fs::remove_dir_all(root).with_context(|| format!("removing stale {}", root.display()))?;
    }
    let summary = generate(root, spec)?;
    let record = format!(
        "{want}\n{} {} {} {} {}\n",
        summary.regular, summary.dirs, summary.symlinks, summary.hardlinks, summary.bytes
    );
    fs::write(&marker, record).with_context(|| format!("writing {}", marker.display()))?;
    Ok(summary)
}

fn parse_marker(text: &str, want: &str) -> Option<Summary> {
    let (spec, counts) = text.split_once('\n')?;
    if spec != want {
        return None;
    }
    let n: Vec<u64> = counts
        .split_whitespace()
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match n.as_slice() {
        [r, d, s, h, b] => Some(Summary {
            regular: *r as usize,
            dirs: *d as usize,
            symlinks: *s as usize,
            hardlinks: *h as usize,
            bytes: *b,
        }),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regular,
    Symlink,
    Hardlink,
}

fn entry_kinds(files: usize) -> Vec<Kind> {
    (0..files)
        .map(|i| match i {
            _ if i % SYMLINK_EVERY == SYMLINK_EVERY - 1 => Kind::Symlink,
            _ if i % HARDLINK_EVERY == HARDLINK_EVERY / 2 => Kind::Hardlink,
            _ => Kind::Regular,
        })
        .collect()
}

fn suffix(kind: Kind, i: usize) -> &'static str {
    match kind {
        Kind::Symlink => ".link",
        _ if i.is_multiple_of(3) => ".so",
        _ if i % 3 == 1 => ".py",
        _ => "",
    }
}

/// The top-level directories plus nested ones, each under a random earlier directory.
fn make_dirs(root: &Path, spec: &Spec, rng: &mut Rng) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<(PathBuf, usize)> = TOP.iter().map(|t| (root.join(t), 1)).collect();
    let extra = (spec.files / FILES_PER_DIR).saturating_sub(TOP.len());
    for i in 0..extra {
        let (parent, depth) = dirs[rng.below(dirs.len())].clone();
        let (parent, depth) = if depth >= MAX_DEPTH {
            (root.join(TOP[rng.below(TOP.len())]), 1)
        } else {
            (parent, depth)
        };
        dirs.push((parent.join(format!("d{i:05}")), depth + 1));
    }
    for (d, _) in &dirs {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    Ok(dirs.into_iter().map(|(d, _)| d).collect())
}

/// Splits `total` bytes over `n` files with a Pareto(α = 1.2) tail: most files are small, a
/// few carry much of the bytes. The sizes add up to `total` exactly.
fn split_sizes(total: u64, n: usize, rng: &mut Rng) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let weights: Vec<f64> = (0..n).map(|_| rng.unit().powf(-1.0 / 1.2)).collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<u64> = weights
        .iter()
        .map(|w| (w / sum * total as f64) as u64)
        .collect();
    let assigned: u64 = sizes.iter().sum();
    let biggest = (0..n).max_by_key(|&i| sizes[i]).unwrap_or(0);
    sizes[biggest] += total.saturating_sub(assigned);
    sizes
}

/// `target` as seen from directory `from` (both under the same root).
fn relative(target: &Path, from: &Path) -> PathBuf {
    let t: Vec<_> = target.components().collect();
    let f: Vec<_> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// Binary-like content: a quarter random blocks, the rest repeated "symbol table" text.
fn write_file(path: &Path, size: u64, rng: &mut Rng, i: usize) -> Result<()> {
    const TEXT: &[u8] = b"_ZN4core3fmt9Formatter9write_str17h\0GLIBC_2.34\0__libc_start_main\0\
        .text\0.rodata\0.eh_frame\0/usr/lib64/ld-linux-x86-64.so.2\0";
    let ctx = || format!("writing {}", path.display());
    let file = fs::File::create(path).with_context(ctx)?;
    let mut out = BufWriter::with_capacity(1 << 16, &file);
    let mut block = [0u8; 4096];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        if rng.next_u64().is_multiple_of(4) {
            for chunk in block[..n].chunks_mut(8) {
                let r = rng.next_u64().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
        } else {
            let off = rng.below(TEXT.len());
            for (j, b) in block[..n].iter_mut().enumerate() {
                *b = TEXT[(off + j) % TEXT.len()];
            }
        }
        out.write_all(&block[..n]).with_context(ctx)?;
        left -= n as u64;
    }
    out.flush().with_context(ctx)?;
    drop(out);
    let executable = path.components().any(|c| c.as_os_str() == "bin") || i.is_multiple_of(7);
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(ctx)?;
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME_BASE + (i as u64 % 86_400));
    file.set_modified(mtime).with_context(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;

    /// path → (kind, size, mode, mtime, content or link target) of every entry under root.
    fn listing(root: &Path) -> BTreeMap<PathBuf, (char, u64, u32, i64, Vec<u8>)> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let m = fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().to_owned();
                let (kind, data) = if m.is_dir() {
                    stack.push(p.clone());
                    ('d', Vec::new())
                } else if m.file_type().is_symlink() {
                    (
                        'l',
                        fs::read_link(&p)
                            .unwrap()
                            .into_os_string()
                            .into_encoded_bytes(),
                    )
                } else {
                    ('f', fs::read(&p).unwrap())
                };
                let mtime = if m.is_file() { m.mtime() } else { 0 };
                out.insert(rel, (kind, m.len(), m.mode() & 0o7777, mtime, data));
            }
        }
        out
    }

    #[test]
    fn same_spec_same_tree_and_totals_hold() {
        let spec = Spec {
            seed: 42,
            files: 600,
            total_bytes: 3 << 20,
        };
        let dir = tempfile::tempdir().unwrap();
        let a = generate(&dir.path().join("a"), &spec).unwrap();
        let b = generate(&dir.path().join("b"), &spec).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            listing(&dir.path().join("a")),
            listing(&dir.path().join("b"))
        );
        assert_eq!(a.files(), 600);
        assert_eq!(a.bytes, 3 << 20);
        assert_eq!(a.symlinks, 600 / SYMLINK_EVERY);
        assert_eq!(a.hardlinks, 600 / HARDLINK_EVERY);
        assert!(a.dirs > TOP.len());
        // Every symlink resolves to a regular file inside the tree.
        for (rel, (kind, ..)) in listing(&dir.path().join("a")) {
            if kind == 'l' {
                let p = dir.path().join("a").join(rel);
                assert!(fs::metadata(&p).unwrap().is_file(), "{}", p.display());
            }
        }
        let c = generate(
            &dir.path().join("c"),
            &Spec {
                seed: 43,
                ..spec.clone()
            },
        )
        .unwrap();
        assert_eq!(c.bytes, a.bytes);
        assert_ne!(
            listing(&dir.path().join("a")),
            listing(&dir.path().join("c"))
        );
    }

    #[test]
    fn sizes_are_heavy_tailed() {
        let mut rng = Rng::new(7);
        let mut sizes = split_sizes(100 << 20, 10_000, &mut rng);
        assert_eq!(sizes.iter().sum::<u64>(), 100 << 20);
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        let top_1pct: u64 = sizes[sizes.len() * 99 / 100..].iter().sum();
        assert!(median < 10 << 10, "median {median}");
        assert!(
            top_1pct > (100 << 20) / 10,
            "the top 1% hold > 10% of bytes"
        );
    }

    #[test]
    fn cached_generation_reuses_a_complete_tree() {
        let spec = Spec {
            seed: 1,
            files: 50,
            total_bytes: 10_000,
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        let first = generate_cached(&root, &spec).unwrap();
        fs::write(root.join("usr/bin/sentinel"), b"x").unwrap();
        let again = generate_cached(&root, &spec).unwrap();
        assert_eq!(first, again);
        assert!(
            root.join("usr/bin/sentinel").exists(),
            "reused, not rewritten"
        );
        let other = generate_cached(&root, &Spec { seed: 2, ..spec }).unwrap();
        assert_eq!(other.files(), 50);
        assert!(
            !root.join("usr/bin/sentinel").exists(),
            "a new spec rewrites"
        );
    }
}
