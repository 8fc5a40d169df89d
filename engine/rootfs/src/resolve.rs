//! Path resolution inside a scanned tree, never on the host: the rpmdb names `/bin/bash` while
//! the tree holds `usr/bin/bash` behind the symlink `bin -> usr/bin`.
//!
//! Symlinks are followed through the recorded targets: an absolute target starts again at the
//! image's root (it was written for the image, not for this host); a `..` that would climb
//! above the root is an escape and is refused.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::{EntryKind, Tree};

/// Linux's limit on symlinks followed in one lookup (`MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

/// Why a path could not be resolved inside the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// Following the symlink at `link` (relative path) would leave the root.
    Escapes { link: PathBuf, target: PathBuf },
    /// More than [`MAX_HOPS`] symlinks.
    Loop { link: PathBuf },
}

/// Path → entry index over one tree.
pub struct TreeIndex<'a> {
    tree: &'a Tree,
    by_path: HashMap<&'a Path, usize>,
}

impl<'a> TreeIndex<'a> {
    pub fn new(tree: &'a Tree) -> Self {
        let by_path = tree
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.as_path(), i))
            .collect();
        TreeIndex { tree, by_path }
    }

    /// The entry at exactly this relative path (no symlinks involved).
    pub fn get(&self, rel: &Path) -> Option<usize> {
        self.by_path.get(rel).copied()
    }

    /// Resolves `path` (absolute as rpm writes it, or relative to the root) to the real
    /// relative path it names in this tree. Symlinks in the leading components are followed;
    /// the last component is followed only with `follow_last`. The result may not exist.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> Result<PathBuf, ResolveError> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        // Fast path: a recorded entry is reached through real directories only.
        if let Some(&i) = self.by_path.get(rel) {
            let is_link = matches!(self.tree.entries[i].kind, EntryKind::Symlink(_));
            if !(follow_last && is_link) {
                return Ok(rel.to_owned());
            }
        }
        self.resolve_slow(rel, follow_last)
    }

    fn resolve_slow(&self, rel: &Path, follow_last: bool) -> Result<PathBuf, ResolveError> {
        let mut pending: VecDeque<&OsStr> = normal_parts(rel).collect();
        let mut done = PathBuf::new();
        let mut hops = 0;
        // Targets are owned by the tree, so their parts borrow from it for the whole walk.
        while let Some(part) = pending.pop_front() {
            if part == ".." {
                if !done.pop() {
                    return Err(ResolveError::Escapes {
                        link: done,
                        target: PathBuf::from(".."),
                    });
                }
                continue;
            }
            done.push(part);
            let Some(&i) = self.by_path.get(done.as_path()) else {
                continue; // does not exist: the rest is taken literally
            };
            let EntryKind::Symlink(target) = &self.tree.entries[i].kind else {
                continue;
            };
            if pending.is_empty() && !follow_last {
                break;
            }
            hops += 1;
            if hops > MAX_HOPS {
                return Err(ResolveError::Loop { link: done });
            }
            let link = done.clone();
            done.pop();
            if target.is_absolute() {
                done = PathBuf::new();
            }
            let depth_before = done.components().count();
            if climbs_above(target, depth_before) {
                return Err(ResolveError::Escapes {
                    link,
                    target: target.clone(),
                });
            }
            for (k, p) in normal_parts(target).enumerate() {
                pending.insert(k, p);
            }
        }
        Ok(done)
    }
}

/// The parts of a path that matter for lookup: names and `..` (`.` and `/` dropped).
fn normal_parts(path: &Path) -> impl Iterator<Item = &OsStr> {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n),
        Component::ParentDir => Some(OsStr::new("..")),
        _ => None,
    })
}

/// True when a relative target climbs above the root from a directory `depth` levels down.
fn climbs_above(target: &Path, depth: usize) -> bool {
    let mut level = depth as i64;
    for part in normal_parts(target) {
        level += if part == ".." { -1 } else { 1 };
        if level < 0 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;

    fn entry(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: PathBuf::from(path),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            xattrs: Vec::new(),
            hardlink: None,
        }
    }

    fn tree() -> Tree {
        let link = |t: &str| EntryKind::Symlink(PathBuf::from(t));
        let mut entries = vec![
            entry("bin", link("usr/bin")),
            entry("lib", link("/usr/lib")),
            entry("usr", EntryKind::Directory),
            entry("usr/bin", EntryKind::Directory),
            entry("usr/bin/bash", EntryKind::Regular),
            entry("usr/bin/sh", link("bash")),
            entry("usr/lib", EntryKind::Directory),
            entry("usr/lib/evil", link("../../../../etc")),
            entry("usr/lib/loop", link("loop")),
            entry("var", EntryKind::Directory),
            entry("var/lib", EntryKind::Directory),
            entry("var/lib/rpm", link("../../usr/lib/sysimage/rpm")),
        ];
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Tree {
            root: PathBuf::from("/r"),
            entries,
        }
    }

    #[test]
    fn follows_relative_and_absolute_directory_links() {
        let t = tree();
        let ix = TreeIndex::new(&t);
        let r = |p: &str, f| ix.resolve(Path::new(p), f).unwrap();
        assert_eq!(r("/bin/bash", false), Path::new("usr/bin/bash"));
        assert_eq!(r("/lib/x.so", false), Path::new("usr/lib/x.so"));
        assert_eq!(r("/bin/sh", false), Path::new("usr/bin/sh"));
        assert_eq!(r("/bin/sh", true), Path::new("usr/bin/bash"));
        assert_eq!(
            r("/var/lib/rpm/rpmdb.sqlite", false),
            Path::new("usr/lib/sysimage/rpm/rpmdb.sqlite")
        );
        assert_eq!(r("/usr/bin/../lib/a", false), Path::new("usr/lib/a"));
    }

    #[test]
    fn refuses_escapes_and_loops() {
        let t = tree();
        let ix = TreeIndex::new(&t);
        match ix.resolve(Path::new("/usr/lib/evil/passwd"), false) {
            Err(ResolveError::Escapes { link, .. }) => assert_eq!(link, Path::new("usr/lib/evil")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ix.resolve(Path::new("/usr/lib/loop/x"), false),
            Err(ResolveError::Loop { .. })
        ));
        assert!(ix.resolve(Path::new("/../etc"), false).is_err());
    }
}
