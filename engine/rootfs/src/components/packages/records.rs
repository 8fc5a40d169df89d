//! Which rpmdb file record owns each entry, and which entry each record names. Paths are
//! resolved inside the tree, so `/bin/bash` finds `usr/bin/bash` behind `bin -> usr/bin`, and
//! `/etc/x` falls back to `usr/etc/x` on ostree-style trees. When several packages list a
//! path, the owner is the first by: a real (non-ghost) claim, then a claim whose file type
//! matches the tree, then package name, then NEVRA.

use std::path::Path;

use rechunk_rpmdb::Package;
use rechunk_tree::{Entry, EntryKind, Tree};

use crate::resolve::TreeIndex;

/// A file record: `packages[package].files[file]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub package: usize,
    pub file: usize,
}

/// Which record owns each entry, and where each record's path is.
pub(crate) struct Records {
    /// Per entry: the winning record.
    pub owner: Vec<Option<Record>>,
    /// Per package, per file record: the entry its path names (installed or ghost records).
    pub located: Vec<Vec<Option<usize>>>,
}

impl Records {
    pub fn new(tree: &Tree, index: &TreeIndex, packages: &[Package]) -> Records {
        // (ghost, type differs, name, nevra) ranks claims; smallest wins.
        type Rank<'p> = (bool, bool, &'p str, String);
        let mut best: Vec<Option<(Rank, Record)>> = vec![None; tree.entries.len()];
        let mut located: Vec<Vec<Option<usize>>> = Vec::with_capacity(packages.len());
        for (pi, pkg) in packages.iter().enumerate() {
            let mut found = vec![None; pkg.files.len()];
            for (fi, f) in pkg.files.iter().enumerate() {
                if !(f.installed || f.flags.is_ghost()) {
                    continue;
                }
                let Some(i) = find_package_path(index, &f.path) else {
                    continue;
                };
                found[fi] = Some(i);
                let rank = (
                    f.flags.is_ghost(),
                    !type_matches(&tree.entries[i], f.mode),
                    pkg.name.as_str(),
                    pkg.nevra(),
                );
                if best[i].as_ref().is_none_or(|(r, _)| rank < *r) {
                    let record = Record {
                        package: pi,
                        file: fi,
                    };
                    best[i] = Some((rank, record));
                }
            }
            located.push(found);
        }
        Records {
            owner: best.into_iter().map(|b| b.map(|(_, c)| c)).collect(),
            located,
        }
    }
}

/// The tree entry an rpm path names, through symlinked directories, with the `/usr/etc`
/// fallback for ostree-style trees.
pub(crate) fn find_package_path(index: &TreeIndex, path: &str) -> Option<usize> {
    let lookup = |p: &Path| {
        index
            .resolve(p, false)
            .ok()
            .and_then(|real| index.get(&real))
    };
    lookup(Path::new(path)).or_else(|| {
        let rest = path.strip_prefix("/etc")?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        lookup(Path::new(&format!("/usr/etc{rest}")))
    })
}

/// Whether the entry has the file type of an rpm mode.
pub(crate) fn type_matches(e: &Entry, rpm_mode: u32) -> bool {
    use rechunk_rpmdb::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
    let want = match e.kind {
        EntryKind::Regular => S_IFREG,
        EntryKind::Directory => S_IFDIR,
        EntryKind::Symlink(_) => S_IFLNK,
    };
    rpm_mode & S_IFMT == want
}
