//! Reading a small configuration file out of the tree (account files, the SELinux config and
//! file contexts): found through symlinks inside the tree only, regular files only, size-capped,
//! read through the tree's [`ContentSource`] so a directory and an image are alike.

use std::io::Read;
use std::path::{Path, PathBuf};

use rechunk_tree::ContentSource;

use crate::error::Error;
use crate::resolve::TreeIndex;
use crate::{EntryKind, Tree};

/// The bytes of `rel` and its real path inside the tree, or `None` when the tree has no
/// regular file there (a path that escapes the root or loops counts as absent: nothing the
/// booted system reads either). `what` says why it is read, for errors.
pub(crate) fn read_small(
    tree: &Tree,
    index: &TreeIndex,
    content: &dyn ContentSource,
    rel: &Path,
    cap: u64,
    what: &'static str,
) -> Result<Option<(PathBuf, Vec<u8>)>, Error> {
    let Ok(real) = index.resolve(rel, true) else {
        return Ok(None);
    };
    let Some(e) = index
        .get(&real)
        .map(|i| &tree.entries[i])
        .filter(|e| e.kind == EntryKind::Regular)
    else {
        return Ok(None);
    };
    let path = tree.root.join(&real);
    if e.size > cap {
        return Err(Error::io(
            &path,
            what,
            std::io::Error::other(format!("{} bytes is over the {cap}-byte limit", e.size)),
        ));
    }
    let mut bytes = Vec::new();
    content
        .open(e)?
        .read_to_end(&mut bytes)
        .map_err(|err| Error::io(&path, what, err))?;
    Ok(Some((real, bytes)))
}
