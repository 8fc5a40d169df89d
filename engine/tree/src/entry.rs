//! What an input records about each path: the data types every other crate consumes.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Whether an extended attribute name can travel in a layer: tar carries xattrs as PAX records
/// `SCHILY.xattr.NAME=VALUE`, which every reader splits at the first `=`, so a name holding one
/// would come back as another name with another value. The inputs refuse such a name (naming
/// the path); the layer writer checks again.
pub fn xattr_name_fits_tar(name: &OsStr) -> bool {
    !name.is_empty() && !name.as_bytes().contains(&b'=')
}

/// Identity of an inode within one tree: entries sharing it are hardlinks of one file. A
/// directory scan uses (device, inode number); other inputs number their inodes themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InodeId {
    pub dev: u64,
    pub ino: u64,
}

/// The kinds of entry an image can hold. Sockets, FIFOs and device nodes never get here:
/// inputs refuse or skip them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Regular,
    Directory,
    /// A symlink and its target, verbatim (it may be absolute or dangling; it is never followed).
    Symlink(PathBuf),
}

/// One path of a tree with everything needed to reproduce it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the root, no leading `/` (`usr/bin/bash`). The root itself is not an entry.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bytes of content for regular files, 0 otherwise.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes, sorted by name (`security.capability`, `user.*`, ...).
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    /// Set for regular files with more than one link: all entries with the same id are one file.
    pub hardlink: Option<InodeId>,
}

/// A tree: where it came from and its entries sorted by path (parents before children, as
/// `PathBuf`'s component-wise order gives).
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// The directory (or image reference) the tree was read from; entry paths are joined to it
    /// in messages.
    pub root: PathBuf,
    pub entries: Vec<Entry>,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Directory
    }

    pub fn is_regular(&self) -> bool {
        self.kind == EntryKind::Regular
    }
}

impl Tree {
    /// Per hardlinked inode, the index of its first entry in path order: the one a layer
    /// writes in full, the others being tar hardlinks to it.
    pub fn first_links(&self) -> HashMap<InodeId, usize> {
        let mut first = HashMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(id) = e.hardlink {
                first.entry(id).or_insert(i);
            }
        }
        first
    }
}
