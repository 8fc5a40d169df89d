//! Writing one version of a chain: a root filesystem with its packages installed by real rpm.
//!
//! In order: check that no two packages claim one path; build the packages the cache lacks
//! (in parallel); lay down the skeleton; `rpm -i` every package in one transaction with
//! `SOURCE_DATE_EPOCH` = the version's date (rpm then records that install time, so the rpm
//! database is the same bytes on every run); remove what sqlite leaves next to the database
//! (`rpmdb.sqlite-shm`, random salts included, and the WAL, which must be empty: everything
//! is in the database file); write the unowned content; set every directory's mtime to the
//! version's date. All of it happens in a staging directory next to the destination, renamed
//! into place at the end; a failure removes the staging directory.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use rechunk_model::{Component, Timestamp};

use super::chain::{Chain, PackageSpec, VersionPlan};
use super::install::{self, rpm_install, SYNTH_FLAGS};
use super::layout::{self, EntrySpec};
use super::rpmfile::RpmCache;
use super::unowned::{self, set_mtime};

/// The stages of writing a version, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Building .rpm files; progress in bytes of package content.
    Build,
    /// `rpm -i`; progress in packages.
    Install,
    /// Unowned content and the final touches.
    Finish,
}

/// Receives progress; every method has a no-op default.
pub trait Progress: Sync {
    /// A stage starts with this many units to go.
    fn stage(&self, _version: &str, _stage: Stage, _total: u64) {}
    /// Units done in the current stage.
    fn advance(&self, _units: u64) {}
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What writing a version did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TreeSummary {
    pub id: String,
    pub packages: usize,
    /// Packages built for this version (the others came from the cache).
    pub built: usize,
    /// Non-directory entries rpm installed (ghosts excluded), and their regular-file bytes.
    pub package_files: u64,
    pub package_bytes: u64,
    /// Bytes of unowned content written (the rpm database not included).
    pub unowned_bytes: u64,
    /// Bytes of the rpm database rpm wrote.
    pub rpmdb_bytes: u64,
    /// The non-package components the tree holds, as the scan names them (see
    /// [`Chain::record_written`]).
    pub unowned: Vec<Component>,
    pub build_seconds: f64,
    pub install_seconds: f64,
    pub total_seconds: f64,
}

/// Fails unless running as root: rpm sets file owners and capabilities, which needs it.
pub fn check_root() -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!("synthesizing trees needs root: rpm -i sets file owners and file capabilities");
    }
    Ok(())
}

/// Fails when the filesystems of the tree and of the package cache lack the room the version
/// needs (its bytes, plus the packages still to build, plus 5% for metadata).
fn check_space(plan: &VersionPlan, cache: &RpmCache, parent: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let tree: u64 = plan.packages.iter().map(|p| p.size).sum::<u64>()
        + plan.unowned.iter().map(|u| u.component.size).sum::<u64>();
    let rpms: u64 = plan
        .packages
        .iter()
        .filter(|p| !cache.contains(p))
        .map(|p| p.size)
        .sum();
    let device = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
    let mut needs = vec![(parent, tree)];
    match device(parent) == device(cache.dir()) {
        true => needs[0].1 += rpms,
        false => needs.push((cache.dir(), rpms)),
    }
    for (dir, bytes) in needs {
        let want = bytes + bytes / 20;
        let st = rustix::fs::statvfs(dir)
            .with_context(|| format!("checking the free space of {}", dir.display()))?;
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        if free < want {
            bail!(
                "{}: version {:?} needs about {:.2} GB there, {:.2} GB are free",
                dir.display(),
                plan.id,
                want as f64 / 1e9,
                free as f64 / 1e9
            );
        }
    }
    Ok(())
}

/// Writes version `index` of `chain` to `dest` (which must not exist; its parent must).
pub fn write_version(
    chain: &Chain,
    index: usize,
    cache: &RpmCache,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<TreeSummary> {
    let plan = chain
        .versions
        .get(index)
        .with_context(|| format!("the chain has no version number {index}"))?;
    let dest = crate::absolute(dest);
    if fs::symlink_metadata(&dest).is_ok() {
        bail!("{}: already exists; remove it first", dest.display());
    }
    let (parent, name) = match (dest.parent(), dest.file_name()) {
        (Some(p), Some(n)) => (p, n.to_string_lossy()),
        _ => bail!("{}: not a usable destination", dest.display()),
    };
    check_root()?;
    check_space(plan, cache, parent)?;
    let stage = parent.join(format!(".{name}.synth-staging"));
    if fs::symlink_metadata(&stage).is_ok() {
        // Left by an interrupted run for this destination.
        fs::remove_dir_all(&stage)
            .with_context(|| format!("removing the stale staging directory {}", stage.display()))?;
    }
    fs::create_dir(&stage).with_context(|| format!("creating {}", stage.display()))?;
    let result = fill(plan, cache, &stage, progress);
    match result {
        Ok(summary) => {
            fs::rename(&stage, &dest)
                .with_context(|| format!("renaming {} to {}", stage.display(), dest.display()))?;
            Ok(summary)
        }
        Err(err) => {
            let _ = fs::remove_dir_all(&stage);
            Err(err.context(format!(
                "synthesizing version {:?} into {}",
                plan.id,
                dest.display()
            )))
        }
    }
}

fn fill(
    plan: &VersionPlan,
    cache: &RpmCache,
    root: &Path,
    progress: &dyn Progress,
) -> Result<TreeSummary> {
    let start = Instant::now();
    let mut summary = TreeSummary {
        id: plan.id.clone(),
        packages: plan.packages.len(),
        ..TreeSummary::default()
    };
    let (files, bytes) = check_paths(plan)?;
    summary.package_files = files;
    summary.package_bytes = bytes;

    let missing: Vec<&PackageSpec> = plan
        .packages
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| !cache.contains(p))
        .collect();
    summary.built = missing.len();
    progress.stage(&plan.id, Stage::Build, missing.iter().map(|p| p.size).sum());
    build_packages(cache, missing, progress)?;
    summary.build_seconds = start.elapsed().as_secs_f64();

    let install_start = Instant::now();
    unowned::skeleton(root)?;
    let rpms: Vec<PathBuf> = plan.packages.iter().map(|p| cache.path(p)).collect();
    let rpm_refs: Vec<&Path> = rpms.iter().map(PathBuf::as_path).collect();
    progress.stage(&plan.id, Stage::Install, rpms.len() as u64);
    let date = plan.date.to_string();
    let env = [
        ("SOURCE_DATE_EPOCH", date.as_str()),
        ("HOME", "/nonexistent"),
        ("LC_ALL", "C"),
    ];
    rpm_install(root, &rpm_refs, &SYNTH_FLAGS, &env, || progress.advance(1))?;
    tidy_rpmdb(root, plan.date)?;
    summary.install_seconds = install_start.elapsed().as_secs_f64();

    progress.stage(&plan.id, Stage::Finish, 1);
    summary.rpmdb_bytes = rpmdb_bytes(root)?;
    let layout = plan.unowned_layout(summary.rpmdb_bytes);
    unowned::write_layout(root, &layout)?;
    summary.unowned_bytes = layout.files.iter().map(|f| f.size).sum();
    summary.unowned = plan.realised_unowned(&plan.dirs(), summary.rpmdb_bytes);
    set_dir_mtimes(root, plan.date)?;
    progress.advance(1);
    summary.total_seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Fails when two packages claim one path (other than a directory both own); returns the
/// non-directory entries and regular-file bytes of all packages.
fn check_paths(plan: &VersionPlan) -> Result<(u64, u64)> {
    let lists: Vec<_> = plan.packages.par_iter().map(|p| p.files()).collect();
    let mut owner: HashMap<&str, (usize, bool)> = HashMap::new();
    let entries = lists.iter().map(|files| layout::count(files)).sum();
    for (pi, files) in lists.iter().enumerate() {
        for f in files {
            let dir = f.entry == EntrySpec::Dir;
            if let Some((other, other_dir)) = owner.insert(&f.path, (pi, dir)) {
                if other != pi && !(dir && other_dir) {
                    bail!(
                        "version {:?}: packages {:?} and {:?} both lay out {} (rename one in the history)",
                        plan.id,
                        plan.packages[other].component,
                        plan.packages[pi].component,
                        f.path
                    );
                }
            }
        }
    }
    Ok((entries, plan.packages.iter().map(|p| p.size).sum()))
}

/// Builds packages in parallel, biggest first (so the longest builds do not come last).
fn build_packages(
    cache: &RpmCache,
    mut missing: Vec<&PackageSpec>,
    progress: &dyn Progress,
) -> Result<()> {
    missing.sort_by(|a, b| b.size.cmp(&a.size).then(a.component.cmp(&b.component)));
    let done = AtomicU64::new(0);
    missing.par_iter().try_for_each(|spec| -> Result<()> {
        cache.ensure(spec)?;
        done.fetch_add(spec.size, Ordering::Relaxed);
        progress.advance(spec.size);
        Ok(())
    })
}

/// Removes sqlite's shared-memory index (it holds random salts) and the write-ahead log,
/// which must be empty after rpm closed the database; gives the files rpm wrote there the
/// version's date as mtime (they were written now).
fn tidy_rpmdb(root: &Path, date: Timestamp) -> Result<()> {
    let dir = root.join(install::DBPATH.trim_start_matches('/'));
    let db = dir.join("rpmdb.sqlite");
    if !db.is_file() {
        bail!("{}: rpm wrote no database", db.display());
    }
    let wal = dir.join("rpmdb.sqlite-wal");
    if let Ok(meta) = fs::metadata(&wal) {
        if meta.len() != 0 {
            bail!(
                "{}: rpm left {} bytes in the write-ahead log; the database would not be self-contained",
                wal.display(),
                meta.len()
            );
        }
        fs::remove_file(&wal).with_context(|| format!("removing {}", wal.display()))?;
    }
    let shm = dir.join("rpmdb.sqlite-shm");
    if shm.exists() {
        fs::remove_file(&shm).with_context(|| format!("removing {}", shm.display()))?;
    }
    let entries = fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in entries {
        let path = e
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        set_mtime(&path, date)?;
    }
    Ok(())
}

/// Regular-file bytes in the rpm database directory.
fn rpmdb_bytes(root: &Path) -> Result<u64> {
    let dir = root.join(install::DBPATH.trim_start_matches('/'));
    let mut total = 0;
    for e in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let meta = e
            .metadata()
            .with_context(|| format!("reading {}", e.path().display()))?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Every directory's mtime (the root's too) becomes `date`, whatever order things were
/// created in.
fn set_dir_mtimes(root: &Path, date: Timestamp) -> Result<()> {
    let mut stack = vec![root.to_path_buf()];
    let mut dirs = Vec::new();
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("reading {}", dir.display()))?;
            if e.file_type()
                .with_context(|| format!("reading {}", e.path().display()))?
                .is_dir()
            {
                stack.push(e.path());
            }
        }
        dirs.push(dir);
    }
    dirs.iter().try_for_each(|d| set_mtime(d, date))
}
