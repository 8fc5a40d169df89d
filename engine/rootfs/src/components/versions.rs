//! Versions of the components no source versions itself: a digest of everything their layer
//! holds for them, as the writer writes it ([`rechunk_tree::Written`]): each entry, with file
//! contents and hardlinks, and each parent directory the layer needs. It changes iff those
//! bytes do. Contents are read in parallel, through the tree's content source, unless the
//! caller supplies their digests: a build without a previous image plans before these versions
//! exist, and its writer hashes the contents while streaming them ([`finish_content_versions`]),
//! so each file is read once.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use rechunk_model::Component;
use rechunk_tree::{
    content_digest, layer_members, ContentSource, DirIndex, InodeId, Member, Tree, WriteRules,
    Written,
};
use sha2::{Digest, Sha256};

use super::{entries_by_component, Placed};
use crate::Error;

/// Bytes of the digest kept in a version (32 hex digits).
const VERSION_DIGEST_BYTES: usize = 16;

/// Sets the version of every component that still has none, reading the contents it hashes.
pub(crate) fn set_layer_versions(
    placed: &Placed,
    components: &mut [Component],
) -> Result<(), Error> {
    finish_content_versions(
        placed.tree,
        placed.content,
        placed.rules,
        placed.owner,
        components,
        HashMap::new(),
    )
}

/// Per tree entry: whether its content's digest goes into a version, i.e. it is a regular
/// file of a component without a version yet, and the first path of its hardlinked set (only
/// that one carries content in a layer). What an image writer computing the digests while it
/// streams the files must cover ([`finish_content_versions`] reads whatever it did not).
pub fn content_wanted(tree: &Tree, owner: &[usize], components: &[Component]) -> Vec<bool> {
    let unversioned: Vec<bool> = components.iter().map(|c| c.version.is_empty()).collect();
    let first = tree.first_links();
    tree.entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            unversioned[owner[i]]
                && e.is_regular()
                && e.hardlink.is_none_or(|id| first.get(&id) == Some(&i))
        })
        .collect()
}

/// Sets the version of every component that still has none, from `known` content digests
/// (BLAKE3, by entry index, as [`rechunk_tree::content_digest`] makes them) and, for the
/// wanted entries `known` lacks, by reading them through `content`. A build without a
/// previous image plans before the versions exist and lets the writer supply `known`, so
/// every file is read once.
pub fn finish_content_versions(
    tree: &Tree,
    content: &dyn ContentSource,
    rules: WriteRules,
    owner: &[usize],
    components: &mut [Component],
    mut known: HashMap<usize, [u8; 32]>,
) -> Result<(), Error> {
    let unversioned: Vec<bool> = components.iter().map(|c| c.version.is_empty()).collect();
    if !unversioned.contains(&true) {
        return Ok(());
    }
    let missing: Vec<usize> = content_wanted(tree, owner, components)
        .into_iter()
        .enumerate()
        .filter(|&(i, wanted)| wanted && !known.contains_key(&i))
        .map(|(i, _)| i)
        .collect();
    let digests: Vec<[u8; 32]> = missing
        .par_iter()
        .map(|&i| content_digest(content, &tree.entries[i]).map_err(Error::from))
        .collect::<Result<_, _>>()?;
    known.extend(missing.into_iter().zip(digests));
    let dirs = DirIndex::new(tree);
    let owned = entries_by_component(owner, components.len());
    // After the last layer, with the cores otherwise idle: components in parallel.
    components
        .par_iter_mut()
        .enumerate()
        .filter(|(ci, _)| unversioned[*ci])
        .for_each(|(ci, c)| {
            let mut h = Sha256::new();
            let members = layer_members(tree, &dirs, &owned[ci]);
            for_each_written(tree, rules, &members, |i, w| {
                w.hash(&mut h, i.and_then(|i| known.get(&i)));
            });
            c.version = hex::encode(&h.finalize()[..VERSION_DIGEST_BYTES]);
        });
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
