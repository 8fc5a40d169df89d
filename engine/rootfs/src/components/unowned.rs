//! Components of content no package owns: the rpm database itself (whoever lists it), the
//! initramfs, big files on their own, and one component per top-level directory for the rest.
//! Their versions are the digest of what their layer holds (see `versions`).

use std::path::{Path, PathBuf};

use rechunk_model::ComponentKind;
use rechunk_tree::{EntryKind, Tree};

use super::{Claim, ComponentSource, Rule};

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
            name: format!("rpmdb:/{}", dir.display()),
            kind: ComponentKind::Rpmdb,
        })
    }
}

/// `usr/lib/modules/*/initramfs.img`: rebuilt on every build, so kept apart.
pub(crate) struct Initramfs;

impl ComponentSource for Initramfs {
    fn rule(&self) -> Rule {
        Rule::Initramfs
    }

    fn claim(&self, tree: &Tree, i: usize) -> Option<Claim> {
        let e = &tree.entries[i];
        (e.kind == EntryKind::Regular && is_initramfs(&e.path)).then(|| Claim {
            name: "initramfs:/usr/lib/modules".to_owned(),
            kind: ComponentKind::Initramfs,
        })
    }
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
        (e.kind == EntryKind::Regular && e.size >= BIG_FILE).then(|| Claim {
            name: format!("file:/{}", e.path.display()),
            kind: ComponentKind::BigFile,
        })
    }
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
        let top = match e.path.components().count() {
            1 if e.kind != EntryKind::Directory => String::new(),
            _ => e
                .path
                .iter()
                .next()
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        Some(Claim {
            name: format!("unpackaged:/{top}"),
            kind: ComponentKind::Unpackaged,
        })
    }
}
