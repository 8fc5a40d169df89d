//! An ostree commit of a [`Tree`], computed in memory: the file object of every regular file
//! and symlink (content read once through a [`ContentSource`], hashed on the way, never
//! stored), then every directory's dirtree and dirmeta, bottom up, and the commit object.
//!
//! What each entry contributes is what [`WriteRules`] writes for it (mode, owner, xattrs), so
//! the commit holds exactly what a layer of the same tree would. ostree has no mtimes and no
//! hardlinks: identical files are one object. Symlinks are always mode 0777 (what
//! `ostree_repo_write_symlink` records, whatever the tree says). The root directory, which a
//! tree does not list, is root-owned 0755 without xattrs, as are parents a hand-made tree
//! leaves out (as [`rechunk_tree::Written::synthetic_dir`]).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rechunk_tree::{ContentSource, Entry, EntryKind, Tree, WriteRules, SYNTHETIC_DIR_MODE};

use crate::gvariant::Value;
use crate::object::{
    dirmeta, file_header, Checksum, CommitFields, DirTree, FileHasher, S_IFDIR, S_IFLNK, S_IFREG,
};
use crate::Error;

/// A commit computed from a tree.
#[derive(Clone, Debug)]
pub struct Commit {
    pub checksum: Checksum,
    /// The commit object as a repository stores it.
    pub bytes: Vec<u8>,
    /// Every dirtree object, by checksum.
    pub dirtrees: BTreeMap<Checksum, Vec<u8>>,
    /// Every dirmeta object, by checksum.
    pub dirmetas: BTreeMap<Checksum, Vec<u8>>,
    /// Per tree entry: its file object (regular files and symlinks), else `None`.
    pub files: Vec<Option<Checksum>>,
}

/// What the commit object says besides the tree.
#[derive(Clone, Debug, Default)]
pub struct CommitMeta {
    /// `a{sv}` metadata (`version`, `ostree.bootable`, ...).
    pub metadata: Vec<(String, Value)>,
    pub subject: String,
    pub body: String,
    pub timestamp: u64,
}

/// The header of `e`'s file object, as `rules` writes the entry; `None` for a directory.
pub fn entry_header(tree: &Tree, e: &Entry, rules: &WriteRules) -> Result<Option<Vec<u8>>, Error> {
    let xattrs: Vec<_> = rules.xattrs(e).collect();
    Ok(Some(match &e.kind {
        EntryKind::Directory => return Ok(None),
        EntryKind::Regular => file_header(e.uid, e.gid, S_IFREG | rules.mode(e), "", &xattrs),
        EntryKind::Symlink(target) => {
            let target = utf8(tree, &e.path, target.as_os_str(), "symlink target")?;
            file_header(e.uid, e.gid, S_IFLNK | 0o777, target, &xattrs)
        }
    }))
}

/// Polled while file objects are hashed.
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    /// When it says so, the work ends with [`Error::Stopped`].
    pub stop: &'a (dyn Fn() -> bool + Sync),
    /// Told the number of content bytes just hashed.
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl Hooks<'_> {
    /// Never stops, reports nothing.
    pub const NONE: Hooks<'static> = Hooks {
        stop: &|| false,
        on_bytes: &|_| {},
    };
}

/// The file object of every regular file and symlink of `tree` (content read through
/// `content`, entries hashed in parallel on the current rayon pool).
pub fn file_objects(
    tree: &Tree,
    content: &dyn ContentSource,
    rules: &WriteRules,
    hooks: Hooks,
) -> Result<Vec<Option<Checksum>>, Error> {
    tree.entries
        .par_iter()
        .map(|e| file_object(tree, e, content, rules, hooks))
        .collect()
}

/// One entry's file object (`None` for a directory).
pub fn file_object(
    tree: &Tree,
    e: &Entry,
    content: &dyn ContentSource,
    rules: &WriteRules,
    hooks: Hooks,
) -> Result<Option<Checksum>, Error> {
    let Some(header) = entry_header(tree, e, rules)? else {
        return Ok(None);
    };
    let mut h = FileHasher::new(&header);
    if e.is_regular() {
        let full = tree.root.join(&e.path);
        let mut reader = content.open(e)?;
        let mut buf = vec![0u8; 1 << 16];
        let mut left = e.size;
        while left > 0 {
            if (hooks.stop)() {
                return Err(Error::Stopped);
            }
            let want = left.min(buf.len() as u64) as usize;
            let n = match reader.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::invalid(
                        &full,
                        "content ended before its recorded size (the input changed while it \
                         was read)",
                    ))
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Error::io("reading", &full, err)),
            };
            h.update(&buf[..n]);
            left -= n as u64;
            (hooks.on_bytes)(n as u64);
        }
    }
    Ok(Some(h.finish()))
}

/// A directory being listed, before its own checksums are known.
#[derive(Default)]
struct Dir {
    /// The directory's dirmeta object (root and synthetic parents: root-owned 0755).
    meta: Option<Vec<u8>>,
    listing: DirTree,
}

/// Builds the commit of `tree` from its file objects (see [`file_objects`]).
pub fn build_commit(
    tree: &Tree,
    files: Vec<Option<Checksum>>,
    rules: &WriteRules,
    meta: CommitMeta,
) -> Result<Commit, Error> {
    if files.len() != tree.entries.len() {
        return Err(Error::invalid(
            &tree.root,
            format!(
                "{} file objects for {} entries",
                files.len(),
                tree.entries.len()
            ),
        ));
    }
    let mut dirs: HashMap<PathBuf, Dir> = HashMap::new();
    dirs.insert(PathBuf::new(), Dir::default());
    for (e, object) in tree.entries.iter().zip(&files) {
        let parent = e.path.parent().unwrap_or(Path::new("")).to_path_buf();
        add_parents(&mut dirs, &parent);
        let name = utf8(
            tree,
            &e.path,
            e.path.file_name().unwrap_or_default(),
            "name",
        )?;
        check_name(tree, &e.path, name)?;
        match (&e.kind, object) {
            (EntryKind::Directory, _) => {
                let xattrs: Vec<_> = rules.xattrs(e).collect();
                let bytes = dirmeta(e.uid, e.gid, S_IFDIR | rules.mode(e), &xattrs);
                dirs.entry(e.path.clone()).or_default().meta = Some(bytes);
            }
            (_, Some(object)) => {
                let listing = &mut dirs.entry(parent).or_default().listing;
                listing.files.push((name.to_string(), *object));
            }
            (_, None) => {
                return Err(Error::invalid(
                    tree.root.join(&e.path),
                    "no file object computed for this entry",
                ))
            }
        }
    }
    // Deepest first: every directory is complete before its parent lists it.
    let mut order: Vec<PathBuf> = dirs.keys().cloned().collect();
    order.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    let mut dirtrees = BTreeMap::new();
    let mut dirmetas = BTreeMap::new();
    let mut root = None;
    for path in order {
        let dir = dirs.remove(&path).unwrap_or_default();
        let meta = dir
            .meta
            .unwrap_or_else(|| dirmeta(0, 0, S_IFDIR | SYNTHETIC_DIR_MODE, &[]));
        let listing = dir.listing.to_bytes();
        let (tree_sum, meta_sum) = (Checksum::of(&listing), Checksum::of(&meta));
        dirtrees.insert(tree_sum, listing);
        dirmetas.insert(meta_sum, meta);
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                // Names were checked as UTF-8 above.
                let name = name.to_string_lossy().into_owned();
                let listing = &mut dirs.entry(parent.to_path_buf()).or_default().listing;
                listing.dirs.push((name, tree_sum, meta_sum));
            }
            _ => root = Some((tree_sum, meta_sum)),
        }
    }
    let (root_tree, root_meta) =
        root.ok_or_else(|| Error::invalid(&tree.root, "no root directory"))?;
    let bytes = CommitFields {
        metadata: meta.metadata,
        parent: None,
        subject: meta.subject,
        body: meta.body,
        timestamp: meta.timestamp,
        root_tree,
        root_meta,
    }
    .to_bytes();
    Ok(Commit {
        checksum: Checksum::of(&bytes),
        bytes,
        dirtrees,
        dirmetas,
        files,
    })
}

/// Makes sure `dir` and its ancestors are listed (a hand-made tree may leave parents out).
fn add_parents(dirs: &mut HashMap<PathBuf, Dir>, dir: &Path) {
    let mut p = Some(dir);
    while let Some(d) = p {
        if dirs.contains_key(d) {
            break;
        }
        dirs.insert(d.to_path_buf(), Dir::default());
        p = d.parent();
    }
}

/// GVariant strings are UTF-8: a name or target that is not cannot be in a commit.
fn utf8<'a>(
    tree: &Tree,
    path: &Path,
    s: &'a std::ffi::OsStr,
    what: &str,
) -> Result<&'a str, Error> {
    s.to_str().ok_or_else(|| {
        Error::invalid(
            tree.root.join(path),
            format!("the {what} is not valid UTF-8, which an ostree commit cannot hold"),
        )
    })
}

fn check_name(tree: &Tree, path: &Path, name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(Error::invalid(
            tree.root.join(path),
            "not a valid file name for an ostree commit",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_tree::MemorySource;

    fn entry(path: &str, kind: EntryKind, mode: u32, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            size,
            mtime: 5,
            xattrs: Vec::new(),
            hardlink: None,
        }
    }

    fn tree() -> (Tree, MemorySource) {
        let tree = Tree {
            root: "/r".into(),
            entries: vec![
                entry("a", EntryKind::Directory, 0o755, 0),
                entry("a/f", EntryKind::Regular, 0o644, 2),
                entry("a/l", EntryKind::Symlink("f".into()), 0o777, 0),
                entry("b/g", EntryKind::Regular, 0o644, 2),
            ],
        };
        let mut m = MemorySource::new();
        m.insert("a/f", b"hi".to_vec());
        m.insert("b/g", b"hi".to_vec());
        (tree, m)
    }

    #[test]
    fn identical_files_are_one_object_and_parents_are_synthesized() {
        let (tree, content) = tree();
        let rules = WriteRules::default();
        let files = file_objects(&tree, &content, &rules, Hooks::NONE).unwrap();
        assert_eq!(files[0], None);
        assert_eq!(files[1], files[3], "same content and metadata: one object");
        assert_ne!(files[1], files[2]);
        let commit = build_commit(&tree, files, &rules, CommitMeta::default()).unwrap();
        // root, a, b (synthetic): a and b have the same meta; root's listing differs.
        assert_eq!(commit.dirmetas.len(), 1);
        assert_eq!(commit.dirtrees.len(), 3);
        assert_eq!(commit.checksum, Checksum::of(&commit.bytes));
        // mtimes are not part of a commit.
        let mut later = tree.clone();
        later.entries[1].mtime = 99;
        let files = file_objects(&later, &content, &rules, Hooks::NONE).unwrap();
        let again = build_commit(&later, files, &rules, CommitMeta::default()).unwrap();
        assert_eq!(again.checksum, commit.checksum);
    }

    #[test]
    fn bad_names_and_short_content_are_errors() {
        let (mut tree, content) = tree();
        tree.entries[1].size = 3;
        let err = file_objects(&tree, &content, &WriteRules::default(), Hooks::NONE).unwrap_err();
        assert!(err.to_string().contains("a/f"), "{err}");
        let (tree, content) = tree_with_bad_target();
        let err = file_objects(&tree, &content, &WriteRules::default(), Hooks::NONE).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
        let (tree, content) = self::tree();
        assert!(matches!(
            file_objects(
                &tree,
                &content,
                &WriteRules::default(),
                Hooks {
                    stop: &|| true,
                    on_bytes: &|_| {}
                }
            ),
            Err(Error::Stopped)
        ));
    }

    fn tree_with_bad_target() -> (Tree, MemorySource) {
        use std::os::unix::ffi::OsStrExt;
        let target = std::ffi::OsStr::from_bytes(b"\xff");
        let tree = Tree {
            root: "/r".into(),
            entries: vec![entry("l", EntryKind::Symlink(target.into()), 0o777, 0)],
        };
        (tree, MemorySource::new())
    }
}
