//! Root filesystem loading: walk a directory without ever leaving it ([`scan`]), or take a tree
//! another input produced ([`load_tree`]: an image's layers), read its rpm database, and assign
//! every path to a component ([`assign_components`]; the rules are in [`components`]) → a
//! [`LoadedRoot`], plus `rpm -V` style checks.
//!
//! File contents are always read through a [`ContentSource`], so a directory and an image's
//! staged layers are treated alike.

mod accounts;
mod caps;
pub mod components;
mod digest;
mod error;
pub mod labels;
mod resolve;
mod scan;
mod small_file;
mod verify;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub use accounts::Accounts;
pub use caps::FileCaps;
pub use components::{
    assign_components, content_wanted, finish_content_versions, package_components,
    rpmdb_component_name, unowned_claim, Claim, ComponentInput, ComponentSource, Drift, Ownership,
    Rule, BIG_FILE, COMPONENT_XATTR,
};
pub use error::{Error, Warning, WarningKind};
pub use rechunk_tree::belongs::SKIP_XATTR;
pub use rechunk_tree::{
    ContentSource, DirSource, Entry, EntryKind, InodeId, SelinuxMode, SkipReason, Skipped, Tree,
    WriteRules,
};
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
    /// What the image writer will write (the `SOURCE_DATE_EPOCH` clamp, `--selinux`):
    /// component versions hash what will be in the layer. Under [`SelinuxMode::Policy`] the
    /// tree's labels are replaced by its policy's ([`labels`]) before anything else.
    pub rules: WriteRules,
    /// Where the rpm database is copied to be read when the content is not a directory (an
    /// image); the system's temporary directory by default.
    pub tmpdir: Option<PathBuf>,
    /// Leave the components whose versions hash file contents unversioned, for an image
    /// writer that reads every file anyway to finish ([`finish_content_versions`]).
    pub late_content_versions: bool,
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
    /// The rpm database that was read (full path inside the tree's location).
    pub rpmdb: Option<PathBuf>,
    /// What `--selinux policy` labelled, under that mode.
    pub labels: Option<labels::PolicyLabels>,
}

/// Scans the directory `root`, reads its rpm database and assigns every entry to a component.
pub fn load(root: &Path, opts: &LoadOptions) -> Result<LoadedRoot, Error> {
    let scan_opts = ScanOptions {
        skip_special_files: opts.skip_special_files,
        keep_going: opts.keep_going,
        progress: opts.progress.clone(),
    };
    let scanned = scan(root, &scan_opts)?;
    let content = DirSource::open(&scanned.tree.root)?;
    load_tree(scanned, &content, opts)
}

/// Reads the rpm database of a finished tree (whose contents `content` opens) and assigns
/// every entry to a component.
pub fn load_tree(
    scanned: Scan,
    content: &dyn ContentSource,
    opts: &LoadOptions,
) -> Result<LoadedRoot, Error> {
    let Scan {
        mut tree,
        skipped,
        mut warnings,
    } = scanned;
    check_sizes(&tree)?;
    let labels = match opts.rules.selinux {
        SelinuxMode::Policy => Some(labels::apply_policy(&mut tree, content)?),
        SelinuxMode::Keep => {
            warnings.extend(labels::host_label_warning(&tree));
            None
        }
        SelinuxMode::Strip => None,
    };
    let index = TreeIndex::new(&tree);
    let located = locate_rpmdb(&tree, &index, opts.keep_going, &mut warnings)?;
    let mut packages = Vec::new();
    let mut rpmdb = None;
    if let Some(db) = located.database {
        let read = read_packages(&tree, db, content, opts).map_err(|e| match &located.via {
            Some(link) => Error::Io {
                path: tree.root.join(link),
                op: "reading the rpm database it links to",
                err: io::Error::other(e.to_string()),
            },
            None => e,
        })?;
        let path = tree.root.join(&tree.entries[db].path);
        warnings.extend(read.skipped.iter().map(|s| Warning {
            kind: WarningKind::CorruptPackage,
            path: path.clone(),
            message: format!("Packages row hnum={} skipped: {}", s.hnum, s.reason),
        }));
        packages = read.packages;
        rpmdb = Some(path);
    }
    let input = ComponentInput {
        packages: &packages,
        rpmdb_dirs: &located.dirs,
        group_by_source: opts.group_by_source,
        rules: opts.rules,
        late_content_versions: opts.late_content_versions,
    };
    let ownership = components::assign_indexed(&tree, &index, content, &input)?;
    warnings.extend(verify::verify(
        &tree,
        content,
        &index,
        &packages,
        &ownership.package_of,
        opts.verify_digests,
    ));
    drop(index);
    Ok(LoadedRoot {
        tree,
        packages,
        components: ownership.components,
        owner: ownership.owner,
        rule: ownership.rule,
        package_of: ownership.package_of,
        drift: ownership.drift,
        skipped,
        warnings,
        rpmdb,
        labels,
    })
}

/// Every size computed from the tree (components, layers) is a sum of its files' sizes: bound
/// their total ([`rechunk_model::MAX_TOTAL_BYTES`]), so none can wrap.
fn check_sizes(tree: &Tree) -> Result<(), Error> {
    let mut total = rechunk_model::SizeTotal::default();
    for e in tree.entries.iter().filter(|e| e.kind == EntryKind::Regular) {
        total.add(e.size).map_err(|err| Error::TooLarge {
            path: tree.root.join(&e.path),
            err,
        })?;
    }
    Ok(())
}

/// The rpm database directories present in a tree (real paths) and the database entry to read.
struct Located {
    dirs: Vec<PathBuf>,
    database: Option<usize>,
    /// The name rpm looks for, when it is a symlink to the database entry: errors name it too.
    via: Option<PathBuf>,
}

/// Looks for the rpmdb at rpm's locations, following symlinks only inside the tree. A database
/// name that is there but is not (or does not lead to) a regular file is an error naming it
/// (with `keep_going`, a warning, and no database is read): ignoring it would make every file
/// unpackaged without a word.
fn locate_rpmdb(
    tree: &Tree,
    index: &TreeIndex,
    keep_going: bool,
    warnings: &mut Vec<Warning>,
) -> Result<Located, Error> {
    let mut located = Located {
        dirs: Vec::new(),
        database: None,
        via: None,
    };
    for dir in DB_DIRS {
        let real = index
            .resolve(Path::new(dir), true)
            .map_err(|e| resolve_error(tree, e))?;
        let is_dir = index.get(&real).is_some_and(|i| tree.entries[i].is_dir());
        // A directory without any of rpm's database names is not a database, whatever its
        // path: a package may ship its own files under `/usr/share/rpm`, and the rpmdb
        // component claims whatever lies in a database directory.
        let holds_database = DB_FILES
            .iter()
            .any(|(name, _)| index.get(&real.join(name)).is_some());
        if !is_dir || !holds_database || located.dirs.contains(&real) {
            continue;
        }
        if located.database.is_none() {
            match database_file(tree, index, &real) {
                Ok(Some((file, via))) => {
                    located.database = Some(file);
                    located.via = via;
                }
                Ok(None) => {}
                Err(e) if keep_going => warnings.push(Warning {
                    kind: WarningKind::Other,
                    path: tree.root.join(&real),
                    message: format!("no rpm database read: {e}"),
                }),
                Err(e) => return Err(e),
            }
        }
        located.dirs.push(real);
    }
    Ok(located)
}

/// The database file of rpm database directory `dir` (a real path of the tree), by the first
/// of rpm's names present: a regular file, or a symlink leading to one inside the tree (then
/// also the symlink's path).
fn database_file(
    tree: &Tree,
    index: &TreeIndex,
    dir: &Path,
) -> Result<Option<(usize, Option<PathBuf>)>, Error> {
    for (name, _) in DB_FILES {
        let path = dir.join(name);
        let Some(i) = index.get(&path) else {
            continue;
        };
        let shown = tree.root.join(&path);
        let bad = |why: String| Error::Io {
            path: shown.clone(),
            op: "reading the rpm database",
            err: io::Error::other(why),
        };
        return match &tree.entries[i].kind {
            EntryKind::Regular => Ok(Some((i, None))),
            EntryKind::Directory => Err(bad("a directory, not a database file".into())),
            EntryKind::Symlink(target) => {
                let real = index
                    .resolve(&path, true)
                    .map_err(|e| resolve_error(tree, e))?;
                match index.get(&real).map(|j| (j, &tree.entries[j].kind)) {
                    Some((j, EntryKind::Regular)) => Ok(Some((j, Some(path.clone())))),
                    Some((_, EntryKind::Directory)) => Err(bad(format!(
                        "a symlink to {}, a directory, not a database file",
                        target.display()
                    ))),
                    _ => Err(bad(format!(
                        "a symlink to {} that leads to nothing in the tree",
                        target.display()
                    ))),
                }
            }
        };
    }
    Ok(None)
}

/// Reads the database at entry `db`: in place when the content is a directory, else copied
/// (with its `-wal` file, if the tree has one) into a temporary directory under
/// `opts.tmpdir`, removed afterwards.
fn read_packages(
    tree: &Tree,
    db: usize,
    content: &dyn ContentSource,
    opts: &LoadOptions,
) -> Result<rechunk_rpmdb::Rpmdb, Error> {
    let read_opts = ReadOptions {
        keep_going: opts.keep_going,
    };
    let entry = &tree.entries[db];
    if let Some(path) = content.local_path(entry) {
        return Ok(rechunk_rpmdb::read(&path, &read_opts)?);
    }
    let shown = tree.root.join(&entry.path);
    let tmp_parent = opts.tmpdir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix(".rechunk-rpmdb-")
        .tempdir_in(&tmp_parent)
        .map_err(|e| {
            Error::io(
                &tmp_parent,
                "creating a directory to read the rpm database in",
                e,
            )
        })?;
    let name = entry.path.file_name().unwrap_or_default();
    let copy = tmp.path().join(name);
    copy_out(content, entry, &copy)?;
    let mut wal = entry.path.clone().into_os_string();
    wal.push("-wal");
    let index = TreeIndex::new(tree);
    if let Some(w) = index.get(Path::new(&wal)).map(|i| &tree.entries[i]) {
        if w.kind == EntryKind::Regular {
            let mut copy_wal = copy.clone().into_os_string();
            copy_wal.push("-wal");
            copy_out(content, w, Path::new(&copy_wal))?;
        }
    }
    rechunk_rpmdb::read(&copy, &read_opts).map_err(|e| Error::Io {
        path: shown,
        op: "reading the rpm database",
        err: io::Error::other(e.to_string()),
    })
}

fn copy_out(content: &dyn ContentSource, e: &Entry, to: &Path) -> Result<(), Error> {
    let mut reader = content.open(e)?;
    let mut out = std::fs::File::create(to).map_err(|err| Error::io(to, "creating", err))?;
    io::copy(&mut reader, &mut out).map_err(|err| Error::io(to, "writing", err))?;
    out.flush().map_err(|err| Error::io(to, "writing", err))
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
