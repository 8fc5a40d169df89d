//! The paths a layer holds: the entries its components own plus every parent directory of
//! those entries, with the parent's real metadata, so that each layer unpacks on its own. Both
//! the writer (what it emits) and the component versions (what the bytes depend on) use this.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::{EntryKind, Tree};

/// One path of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    /// An entry of the tree, by index.
    Entry(usize),
    /// A parent directory the tree does not list (see [`crate::Written::synthetic_dir`]).
    SyntheticDir(PathBuf),
}

/// Directory path → entry index, to find parents.
pub struct DirIndex<'t> {
    dirs: HashMap<&'t Path, usize>,
}

impl<'t> DirIndex<'t> {
    pub fn new(tree: &'t Tree) -> Self {
        let dirs = tree
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EntryKind::Directory)
            .map(|(i, e)| (e.path.as_path(), i))
            .collect();
        DirIndex { dirs }
    }

    pub fn get(&self, path: &Path) -> Option<usize> {
        self.dirs.get(path).copied()
    }
}

/// The `owned` entries (indices into `tree.entries`) plus all their ancestors, sorted by path.
pub fn layer_members(tree: &Tree, dirs: &DirIndex, owned: &[usize]) -> Vec<Member> {
    let mut included: HashSet<usize> = owned.iter().copied().collect();
    // Directories whose ancestors are already in: the climb stops there.
    let mut climbed: HashSet<usize> = HashSet::new();
    let mut synthetic: HashSet<&Path> = HashSet::new();
    for &i in owned {
        let mut path = tree.entries[i].path.as_path();
        while let Some(parent) = path.parent() {
            if parent.as_os_str().is_empty() {
                break;
            }
            match dirs.get(parent) {
                Some(d) => {
                    if !climbed.insert(d) {
                        break;
                    }
                    included.insert(d);
                }
                None => {
                    if !synthetic.insert(parent) {
                        break;
                    }
                }
            }
            path = parent;
        }
    }
    // Entries are sorted by path, so their indices are in path order: no path comparisons.
    let mut entries: Vec<usize> = included.into_iter().collect();
    entries.sort_unstable();
    if synthetic.is_empty() {
        return entries.into_iter().map(Member::Entry).collect();
    }
    let mut members: Vec<(&Path, Member)> = entries
        .into_iter()
        .map(|i| (tree.entries[i].path.as_path(), Member::Entry(i)))
        .collect();
    members.extend(
        synthetic
            .into_iter()
            .map(|p| (p, Member::SyntheticDir(p.to_path_buf()))),
    );
    members.sort_by(|a, b| a.0.cmp(b.0));
    members.into_iter().map(|(_, m)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;

    fn entry(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            xattrs: Vec::new(),
            hardlink: None,
        }
    }

    #[test]
    fn parents_listed_or_synthetic_sorted_by_path() {
        let tree = Tree {
            root: "/r".into(),
            entries: vec![
                entry("usr", EntryKind::Directory),
                entry("usr/bin", EntryKind::Directory),
                entry("usr/bin/a", EntryKind::Regular),
                entry("usr/bin/b", EntryKind::Regular),
                entry("x/y", EntryKind::Regular),
            ],
        };
        let dirs = DirIndex::new(&tree);
        let got = layer_members(&tree, &dirs, &[4, 3]);
        assert_eq!(
            got,
            [
                Member::Entry(0),
                Member::Entry(1),
                Member::Entry(3),
                Member::SyntheticDir("x".into()),
                Member::Entry(4)
            ]
        );
    }
}
