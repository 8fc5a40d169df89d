//! Versions of the components no source versions itself: a digest of everything their layer
//! holds for them, as the writer writes it ([`rechunk_tree::Written`]): each entry, with file
//! contents and hardlinks, and each parent directory the layer needs. It changes iff those
//! bytes do. Contents are read in parallel, through the tree's content source.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use rechunk_model::Component;
use rechunk_tree::{
    content_digest, layer_members, DirIndex, InodeId, Member, Tree, WriteRules, Written,
};
use sha2::{Digest, Sha256};

use super::{entries_by_component, Placed};
use crate::Error;

/// Bytes of the digest kept in a version (32 hex digits).
const VERSION_DIGEST_BYTES: usize = 16;

/// Sets the version of every component that still has none.
pub(crate) fn set_layer_versions(
    placed: &Placed,
    components: &mut [Component],
) -> Result<(), Error> {
    let tree = placed.tree;
    let unversioned: Vec<bool> = components.iter().map(|c| c.version.is_empty()).collect();
    if !unversioned.contains(&true) {
        return Ok(());
    }
    let first = tree.first_links();
    // Only the first path of a hardlinked set carries content in a layer.
    let wanted: Vec<usize> = (0..tree.entries.len())
        .filter(|&i| unversioned[placed.owner[i]])
        .filter(|&i| {
            let e = &tree.entries[i];
            e.is_regular() && e.hardlink.is_none_or(|id| first.get(&id) == Some(&i))
        })
        .collect();
    let digests: Vec<[u8; 32]> = wanted
        .par_iter()
        .map(|&i| content_digest(placed.content, &tree.entries[i]).map_err(Error::from))
        .collect::<Result<_, _>>()?;
    let content: HashMap<usize, [u8; 32]> = wanted.into_iter().zip(digests).collect();
    let dirs = DirIndex::new(tree);
    let owned = entries_by_component(placed.owner, components.len());
    for (ci, c) in components.iter_mut().enumerate() {
        if !unversioned[ci] {
            continue;
        }
        let mut h = Sha256::new();
        let members = layer_members(tree, &dirs, &owned[ci]);
        for_each_written(tree, placed.rules, &members, |i, w| {
            w.hash(&mut h, i.and_then(|i| content.get(&i)));
        });
        c.version = hex::encode(&h.finalize()[..VERSION_DIGEST_BYTES]);
    }
    Ok(())
}

/// Calls `f` with each member of a layer as the writer writes it (and the entry index, `None`
/// for a synthetic directory), tracking hardlinks the way the writer does: the first path of a
/// set in the layer is written in full, the others link to it.
pub(crate) fn for_each_written(
    tree: &Tree,
    rules: WriteRules,
    members: &[Member],
    mut f: impl FnMut(Option<usize>, &Written),
) {
    let mut first: HashMap<InodeId, &Path> = HashMap::new();
    for m in members {
        match m {
            Member::Entry(i) => {
                let e = &tree.entries[*i];
                let link = match e.hardlink {
                    Some(id) if e.is_regular() => match first.get(&id) {
                        Some(p) => Some(*p),
                        None => {
                            first.insert(id, &e.path);
                            None
                        }
                    },
                    _ => None,
                };
                f(Some(*i), &rules.written(e, link));
            }
            Member::SyntheticDir(p) => f(None, &Written::synthetic_dir(p)),
        }
    }
}
