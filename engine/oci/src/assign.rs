//! Which tree entries go into which layer.
//!
//! A layer holds the entries its components own plus every parent directory of those entries
//! ([`rechunk_tree::layer_members`]). One rule overrides ownership: a hardlinked set is never
//! split, it goes whole into the layer of its first path (in path order), since a tar hardlink
//! can only point at a file of the same layer.

use std::collections::{HashMap, HashSet};

use rechunk_model::{Component, Plan};
use rechunk_tree::{layer_members, DirIndex, EntryKind, InodeId, Member, Tree};

use crate::{Error, Result};

/// Per plan layer: its members in path order and its uncompressed content bytes.
#[derive(Clone, Debug, Default)]
pub(crate) struct LayerContents {
    pub layers: Vec<Vec<Member>>,
    /// Σ regular-file bytes per layer, each hardlinked inode once.
    pub content_bytes: Vec<u64>,
    /// Per plan layer: number of entries its components own (0 = nothing to emit).
    pub owned: Vec<usize>,
}

/// Assigns every entry of `tree` (owned per `owner`, an index into `components`) to the plan
/// layer of its component.
pub(crate) fn assign(
    tree: &Tree,
    components: &[Component],
    owner: &[usize],
    plan: &Plan,
) -> Result<LayerContents> {
    if owner.len() != tree.entries.len() {
        return Err(Error::invalid(
            &tree.root,
            format!(
                "component ownership lists {} entries but the tree has {}",
                owner.len(),
                tree.entries.len()
            ),
        ));
    }
    let entry_layer = entry_layers(tree, components, owner, plan)?;
    let dirs = DirIndex::new(tree);

    let n = plan.layers.len();
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, &l) in entry_layer.iter().enumerate() {
        owned[l].push(i);
    }
    let mut out = LayerContents::default();
    for entries in &owned {
        out.owned.push(entries.len());
        out.content_bytes.push(content_bytes(tree, entries));
        out.layers.push(layer_members(tree, &dirs, entries));
    }
    Ok(out)
}

/// Layer index of every entry: its component's layer, overridden for hardlink sets.
fn entry_layers(
    tree: &Tree,
    components: &[Component],
    owner: &[usize],
    plan: &Plan,
) -> Result<Vec<usize>> {
    let layer_of = plan.layer_of();
    let mut comp_layer = Vec::with_capacity(components.len());
    for c in components {
        match layer_of.get(c.name.as_str()) {
            Some(&l) => comp_layer.push(l),
            None => {
                return Err(Error::Plan(rechunk_model::PlanError::Missing(
                    c.name.clone(),
                )))
            }
        }
    }
    let mut first_layer: HashMap<InodeId, usize> = HashMap::new();
    let mut layers = Vec::with_capacity(owner.len());
    for (e, &o) in tree.entries.iter().zip(owner) {
        let Some(&l) = comp_layer.get(o) else {
            return Err(Error::invalid(
                tree.root.join(&e.path),
                format!(
                    "owned by component #{o}, but there are only {}",
                    components.len()
                ),
            ));
        };
        let l = match e.hardlink {
            Some(id) => *first_layer.entry(id).or_insert(l),
            None => l,
        };
        layers.push(l);
    }
    Ok(layers)
}

fn content_bytes(tree: &Tree, entries: &[usize]) -> u64 {
    let mut seen = HashSet::new();
    entries
        .iter()
        .map(|&i| &tree.entries[i])
        .filter(|e| e.kind == EntryKind::Regular)
        .filter(|e| e.hardlink.is_none_or(|id| seen.insert(id)))
        .map(|e| e.size)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ComponentKind, Layer};
    use rechunk_tree::Entry;

    fn entry(path: &str, kind: EntryKind, size: u64, link: Option<u64>) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
            mtime: 0,
            xattrs: Vec::new(),
            hardlink: link.map(|ino| InodeId { dev: 1, ino }),
        }
    }

    fn paths(tree: &Tree, members: &[Member]) -> Vec<String> {
        members
            .iter()
            .map(|m| match m {
                Member::Entry(i) => tree.entries[*i].path.display().to_string(),
                Member::SyntheticDir(p) => format!("synthetic:{}", p.display()),
            })
            .collect()
    }

    #[test]
    fn parents_included_and_hardlink_sets_kept_whole() {
        let tree = Tree {
            root: "/r".into(),
            entries: vec![
                entry("usr", EntryKind::Directory, 0, None),
                entry("usr/bin", EntryKind::Directory, 0, None),
                entry("usr/bin/a", EntryKind::Regular, 10, Some(7)),
                entry("usr/bin/b", EntryKind::Regular, 20, None),
                entry("usr/bin/z", EntryKind::Regular, 10, Some(7)),
                entry("x/y", EntryKind::Regular, 1, None),
            ],
        };
        let comps = vec![
            Component::new("a", ComponentKind::Package, "1", 10),
            Component::new("b", ComponentKind::Package, "1", 31),
        ];
        // usr/bin/z belongs to b, but is a hardlink of usr/bin/a (component a, first path).
        let owner = vec![1, 1, 0, 1, 1, 1];
        let plan = Plan::new(vec![Layer::new(["a"]), Layer::default(), Layer::new(["b"])]);
        let a = assign(&tree, &comps, &owner, &plan).unwrap();
        assert_eq!(
            paths(&tree, &a.layers[0]),
            ["usr", "usr/bin", "usr/bin/a", "usr/bin/z"]
        );
        assert!(a.layers[1].is_empty());
        assert_eq!(
            paths(&tree, &a.layers[2]),
            ["usr", "usr/bin", "usr/bin/b", "synthetic:x", "x/y"]
        );
        assert_eq!(a.content_bytes, [10, 0, 21]);
        assert_eq!(a.owned, [2, 0, 4]);
    }

    #[test]
    fn bad_ownership_is_an_error() {
        let tree = Tree {
            root: "/r".into(),
            entries: vec![entry("f", EntryKind::Regular, 1, None)],
        };
        let comps = vec![Component::new("a", ComponentKind::Package, "1", 1)];
        let plan = Plan::new(vec![Layer::new(["a"])]);
        assert!(assign(&tree, &comps, &[3], &plan).is_err());
        assert!(assign(&tree, &comps, &[], &plan).is_err());
        let empty = Plan::new(vec![Layer::default()]);
        assert!(assign(&tree, &comps, &[0], &empty).is_err());
    }
}
