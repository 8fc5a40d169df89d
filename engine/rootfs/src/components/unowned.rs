//! Components of content no package owns: the rpm database itself (whoever lists it), the
//! initramfs, big files on their own, and one component per top-level directory for the rest.
//! Their versions are the digest of what their layer holds (see `versions`).

use std::path::{Path, PathBuf};

use rechunk_model::ComponentKind;
use rechunk_tree::{EntryKind, Tree};

use super::generated::class_claim;
use super::{Claim, ComponentSource, Rule};

/// The component of an entry that no package owns or lists (not even as `%ghost`), outside
/// the rpm database and any `user.component` tree: a class of generated content, the
/// initramfs, a big file, else its top-level directory. The rules the sources below apply in
/// this order, in one function, for tools that lay out unowned content and must know where
/// the scan will put it (`rechunk synth`).
pub fn unowned_claim(path: &Path, kind: &EntryKind, size: u64) -> Claim {
    class_claim(path)
        .or_else(|| initramfs_claim(path, kind))
        .or_else(|| big_file_claim(path, kind, size))
        .unwrap_or_else(|| top_level_claim(path, kind))
}

/// Unowned regular files at least this big become their own component.
pub const BIG_FILE: u64 = 1 << 20;

/// Content under an rpm database directory, the directory included, whatever package lists
/// it: `rpmdb:/usr/lib/sysimage/rpm`.
pub(crate) struct RpmdbDirs<'a> {
    dirs: &'a [PathBuf],
}

impl<'a> RpmdbDirs<'a> {
    pub fn new(dirs: &'a [PathBuf]) -> Self {
        RpmdbDirs { dirs }
    }
}

impl ComponentSource for RpmdbDirs<'_> {
    fn rule(&self) -> Rule {
        Rule::Rpmdb
    }

    fn claim(&self, tree: &Tree, i: usize) -> Option<Claim> {
        let path = &tree.entries[i].path;
        let dir = self.dirs.iter().find(|d| path.starts_with(d))?;
        Some(Claim {
            name: rpmdb_component_name(dir),
            kind: ComponentKind::Rpmdb,
        })
    }
}

/// The component of the rpm database in `dir` (relative to the root).
pub fn rpmdb_component_name(dir: &Path) -> String {
    format!("rpmdb:/{}", dir.display())
}

/// `usr/lib/modules/*/initramfs.img`: rebuilt on every build, so kept apart.
pub(crate) struct Initramfs;

impl ComponentSource for Initramfs {
    fn rule(&self) -> Rule {
        Rule::Initramfs
    }

    fn claim(&self, tree: &Tree, i: usize) -> Option<Claim> {
        let e = &tree.entries[i];
        initramfs_claim(&e.path, &e.kind)
    }
}

fn initramfs_claim(path: &Path, kind: &EntryKind) -> Option<Claim> {
    (*kind == EntryKind::Regular && is_initramfs(path)).then(|| Claim {
        name: "initramfs:/usr/lib/modules".to_owned(),
        kind: ComponentKind::Initramfs,
    })
}

fn is_initramfs(path: &Path) -> bool {
    let parts: Vec<_> = path.iter().collect();
    matches!(parts.as_slice(), [u, l, m, _kver, f]
        if *u == "usr" && *l == "lib" && *m == "modules" && *f == "initramfs.img")
}

/// Every regular file of at least [`BIG_FILE`] bytes, on its own: `file:/opt/big.bin`.
pub(crate) struct BigFiles;

impl ComponentSource for BigFiles {
    fn rule(&self) -> Rule {
        Rule::BigFile
    }

    fn claim(&self, tree: &Tree, i: usize) -> Option<Claim> {
        let e = &tree.entries[i];
        big_file_claim(&e.path, &e.kind, e.size)
    }
}

fn big_file_claim(path: &Path, kind: &EntryKind, size: u64) -> Option<Claim> {
    (*kind == EntryKind::Regular && size >= BIG_FILE).then(|| Claim {
        name: format!("file:/{}", path.display()),
        kind: ComponentKind::BigFile,
    })
}

/// Everything else, by top-level directory: `unpackaged:/etc`, `unpackaged:/` for files in
/// the root itself. Claims every entry.
pub(crate) struct TopLevelDirs;

impl ComponentSource for TopLevelDirs {
    fn rule(&self) -> Rule {
        Rule::TopLevelDir
    }

    fn claim(&self, tree: &Tree, i: usize) -> Option<Claim> {
        let e = &tree.entries[i];
        Some(top_level_claim(&e.path, &e.kind))
    }
}

fn top_level_claim(path: &Path, kind: &EntryKind) -> Claim {
    let top = match path.components().count() {
        1 if *kind != EntryKind::Directory => String::new(),
        _ => path
            .iter()
            .next()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    Claim {
        name: format!("unpackaged:/{top}"),
        kind: ComponentKind::Unpackaged,
    }
}
