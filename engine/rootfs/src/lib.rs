//! Root filesystem loading: walk a tree without ever leaving it, record every entry's
//! metadata, read its rpm database, and assign every path to a component.
//!
//! [`load`] is the entry point: [`scan`] (the walk) → rpmdb lookup inside the tree →
//! [`assign`] (path → component, see its module doc for the rules; a package's version moves
//! with its [`Drift`] from the rpmdb records) → `rpm -V` style checks.

mod accounts;
mod assign;
mod caps;
mod digest;
mod drift;
mod error;
mod resolve;
mod scan;
mod verify;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub use accounts::Accounts;
pub use assign::{Rule, BIG_FILE, COMPONENT_XATTR};
pub use caps::FileCaps;
pub use drift::Drift;
pub use error::{Error, Warning, WarningKind};
pub use rechunk_tree::belongs::SKIP_XATTR;
pub use rechunk_tree::{Entry, EntryKind, InodeId, SkipReason, Skipped, Tree};
pub use resolve::{ResolveError, TreeIndex};
pub use scan::{scan, Scan, ScanOptions};

use rechunk_model::Component;
use rechunk_rpmdb::{DbFormat, Package, ReadOptions, DB_DIRS, DB_FILES};

/// How to load a root filesystem.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Leave out sockets, FIFOs and device nodes (with a warning) instead of failing.
    pub skip_special_files: bool,
    /// Leave out unreadable paths and corrupt rpmdb rows (with a warning) instead of failing.
    pub keep_going: bool,
    /// One component per source rpm instead of per binary package.
    pub group_by_source: bool,
    /// Read every package-owned file and compare its digest with the rpmdb (slow).
    pub verify_digests: bool,
    /// Incremented once per entry scanned, for a progress display.
    pub progress: Option<Arc<AtomicU64>>,
    /// `SOURCE_DATE_EPOCH`: the image writer clamps file mtimes to it, so component versions
    /// compare and hash the clamped mtime (what will be in the layer).
    pub clamp_mtime: Option<i64>,
}

/// A loaded root filesystem: its entries, packages and components.
#[derive(Debug)]
pub struct LoadedRoot {
    pub tree: Tree,
    /// As read from the rpmdb, in row order; empty when the tree has no rpm database.
    pub packages: Vec<Package>,
    /// Sorted by name; `requires` resolved to component names through provides.
    pub components: Vec<Component>,
    /// Per `tree.entries` index: index into `components`.
    pub owner: Vec<usize>,
    /// Per `tree.entries` index: the rule that placed it.
    pub rule: Vec<Rule>,
    /// Per `tree.entries` index: the package (index into `packages`) whose rpmdb record owns
    /// the path, even when an xattr placed it elsewhere.
    pub package_of: Vec<Option<usize>>,
    /// Where package components differ from their rpmdb records, sorted by component and
    /// path: each moved its component's version from the EVR to EVR + `+digest`.
    pub drift: Vec<Drift>,
    /// Paths left out by design, with why.
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
    /// The rpm database that was read (full path).
    pub rpmdb: Option<PathBuf>,
}

/// Scans `root`, reads its rpm database and assigns every entry to a component.
pub fn load(root: &Path, opts: &LoadOptions) -> Result<LoadedRoot, Error> {
    let scan_opts = ScanOptions {
        skip_special_files: opts.skip_special_files,
        keep_going: opts.keep_going,
        progress: opts.progress.clone(),
    };
    let Scan {
        tree,
        skipped,
        mut warnings,
    } = scan(root, &scan_opts)?;
    let index = TreeIndex::new(&tree);
    let located = locate_rpmdb(&tree, &index)?;
    let mut packages = Vec::new();
    let mut rpmdb = None;
    if let Some(db) = &located.database {
        let path = root.join(db);
        let read = rechunk_rpmdb::read(
            &path,
            &ReadOptions {
                keep_going: opts.keep_going,
            },
        )?;
        warnings.extend(read.skipped.iter().map(|s| Warning {
            kind: WarningKind::CorruptPackage,
            path: path.clone(),
            message: format!("Packages row hnum={} skipped: {}", s.hnum, s.reason),
        }));
        packages = read.packages;
        rpmdb = Some(path);
    }
    let accounts = if packages.is_empty() {
        Accounts::default()
    } else {
        Accounts::read(&tree, &index)?
    };
    let input = assign::AssignInput {
        packages: &packages,
        rpmdb_dirs: &located.dirs,
        group_by_source: opts.group_by_source,
        clamp_mtime: opts.clamp_mtime,
        accounts: &accounts,
    };
    let assignment = assign::assign(&tree, &index, &input);
    warnings.extend(verify::verify(
        &tree,
        &index,
        &packages,
        &assignment.package_of,
        opts.verify_digests,
    ));
    drop(index);
    Ok(LoadedRoot {
        tree,
        packages,
        components: assignment.components,
        owner: assignment.owner,
        rule: assignment.rule,
        package_of: assignment.package_of,
        drift: assignment.drift,
        skipped,
        warnings,
        rpmdb,
    })
}

/// The rpm database directories present in a tree (real paths) and the database file to read.
struct Located {
    dirs: Vec<PathBuf>,
    database: Option<PathBuf>,
}

/// Looks for the rpmdb at rpm's locations, following symlinks only inside the tree.
fn locate_rpmdb(tree: &Tree, index: &TreeIndex) -> Result<Located, Error> {
    let mut located = Located {
        dirs: Vec::new(),
        database: None,
    };
    for dir in DB_DIRS {
        let real = index
            .resolve(Path::new(dir), true)
            .map_err(|e| resolve_error(tree, e))?;
        let is_dir = index.get(&real).is_some_and(|i| tree.entries[i].is_dir());
        if !is_dir || located.dirs.contains(&real) {
            continue;
        }
        let file = DB_FILES.iter().map(|(name, _)| real.join(name)).find(|p| {
            index
                .get(p)
                .is_some_and(|i| tree.entries[i].kind == EntryKind::Regular)
        });
        if located.database.is_none() {
            located.database = file;
        }
        located.dirs.push(real);
    }
    Ok(located)
}

fn resolve_error(tree: &Tree, e: ResolveError) -> Error {
    match e {
        ResolveError::Escapes { link, target } => Error::SymlinkEscapes {
            path: tree.root.join(link),
            target,
        },
        ResolveError::Loop { link } => Error::Io {
            path: tree.root.join(link),
            op: "resolving the rpm database location",
            err: io::Error::other("too many levels of symbolic links"),
        },
    }
}

/// The formats rpm databases come in, for callers that want to say which one they met.
pub fn database_format(name: &str) -> Option<DbFormat> {
    DB_FILES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
