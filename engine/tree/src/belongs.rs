//! Which paths never go into an image, whatever the input: the contents of /proc, /sys, /dev,
//! /run, /tmp and /var/tmp (the directories stay), the contents of a directory tagged with a
//! valid CACHEDIR.TAG (bford.info/cachedir), anything carrying the xattr `user.rechunk.skip`
//! (with everything under it); and /boot must be empty (bootc lint). The directory walk applies
//! these while it walks (it never descends into what it leaves out); inputs that arrive as a
//! finished tree (an image's layers) go through [`prune`].

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{ContentSource, Entry, EntryKind, Error, Tree};

/// Longest path an entry may have, relative to the root: `/` and it must fit Linux's PATH_MAX
/// (4096 bytes with the terminating NUL), or no tool could open it inside a container. Both
/// inputs refuse a longer one naming it, which also bounds a tree's depth (2,047 levels).
pub const MAX_PATH: usize = 4094;

/// Top-level directories whose contents never belong in an image (the directories stay).
pub const VOLATILE_DIRS: [&str; 6] = ["proc", "sys", "dev", "run", "tmp", "var/tmp"];

/// The xattr that marks an entry (and its subtree) as not part of the image.
pub const SKIP_XATTR: &str = "user.rechunk.skip";

/// The name of a cache directory tag.
pub const CACHEDIR_TAG: &str = "CACHEDIR.TAG";

/// The start of a valid CACHEDIR.TAG.
pub const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

/// Why a path was left out of the tree by design (not an error, not a warning).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Contents of /proc, /sys, /dev, /run, /tmp, /var/tmp (the directories are kept).
    VolatileDir,
    /// Contents of a directory holding a valid CACHEDIR.TAG (the directory is kept).
    CacheDir,
    /// The entry (and, for a directory, everything under it) carries `user.rechunk.skip`.
    SkipXattr,
    /// Contents of another mount point (the directory is kept).
    MountPoint,
    /// A socket, FIFO or device node, with `--skip-special-files`.
    SpecialFile,
    /// Unreadable, with `--keep-going`.
    Unreadable,
}

/// A path left out of the tree, with why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// Relative to the root, like [`Entry::path`].
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// True for the directories whose contents are left out.
pub fn is_volatile_dir(path: &Path) -> bool {
    VOLATILE_DIRS.iter().any(|d| path == Path::new(d))
}

/// True when the entry carries [`SKIP_XATTR`].
pub fn has_skip_xattr(e: &Entry) -> bool {
    e.xattrs.iter().any(|(n, _)| n == SKIP_XATTR)
}

/// True when `head` (the first bytes of a CACHEDIR.TAG) is a valid tag.
pub fn is_cachedir_signature(head: &[u8]) -> bool {
    head.starts_with(CACHEDIR_SIGNATURE)
}

/// The error for a /boot (full path `path`) that holds `names`: the first five, sorted.
pub fn boot_not_empty(path: PathBuf, mut names: Vec<String>) -> Error {
    names.sort();
    let mut contents: Vec<String> = names
        .iter()
        .take(5)
        .map(|n| path.join(n).display().to_string())
        .collect();
    if names.len() > 5 {
        contents.push(format!("and {} more", names.len() - 5));
    }
    Error::BootNotEmpty { path, contents }
}

/// Applies the rules to a finished tree: returns it without what never belongs in an image,
/// and what was left out. Refuses a non-empty /boot.
pub fn prune(tree: Tree, content: &dyn ContentSource) -> Result<(Tree, Vec<Skipped>), Error> {
    check_boot(&tree)?;
    let caches = cache_dirs(&tree, content)?;
    let Tree { root, entries } = tree;
    let mut kept = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    // Entries are sorted by path, so a subtree follows its directory without a gap.
    let mut dropped: Option<PathBuf> = None;
    if caches.contains(Path::new("")) {
        skipped.push(Skipped {
            path: PathBuf::new(),
            reason: SkipReason::CacheDir,
        });
        return Ok((
            Tree {
                root,
                entries: kept,
            },
            skipped,
        ));
    }
    for e in entries {
        if dropped.as_ref().is_some_and(|d| e.path.starts_with(d)) {
            continue;
        }
        dropped = None;
        if has_skip_xattr(&e) {
            skipped.push(Skipped {
                path: e.path.clone(),
                reason: SkipReason::SkipXattr,
            });
            dropped = Some(e.path);
            continue;
        }
        if e.is_dir() {
            let reason = if is_volatile_dir(&e.path) {
                Some(SkipReason::VolatileDir)
            } else if caches.contains(e.path.as_path()) {
                Some(SkipReason::CacheDir)
            } else {
                None
            };
            if let Some(reason) = reason {
                skipped.push(Skipped {
                    path: e.path.clone(),
                    reason,
                });
                dropped = Some(e.path.clone());
            }
        }
        kept.push(e);
    }
    Ok((
        Tree {
            root,
            entries: kept,
        },
        skipped,
    ))
}

/// A non-empty `boot` directory is an error naming what is in it.
pub fn check_boot(tree: &Tree) -> Result<(), Error> {
    let boot = Path::new("boot");
    let is_dir = tree
        .entries
        .iter()
        .any(|e| e.path == boot && e.kind == EntryKind::Directory);
    if !is_dir {
        return Ok(()); // absent, or a symlink we do not follow: nothing is in it
    }
    let names: Vec<String> = tree
        .entries
        .iter()
        .filter(|e| e.path.parent() == Some(boot))
        .filter_map(|e| e.path.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    Err(boot_not_empty(tree.root.join(boot), names))
}

/// Directories holding a valid CACHEDIR.TAG (a regular file); only those tags are read.
fn cache_dirs(tree: &Tree, content: &dyn ContentSource) -> Result<HashSet<PathBuf>, Error> {
    let mut out = HashSet::new();
    for e in &tree.entries {
        if e.kind != EntryKind::Regular || e.path.file_name() != Some(CACHEDIR_TAG.as_ref()) {
            continue;
        }
        let mut head = vec![0u8; CACHEDIR_SIGNATURE.len()];
        let mut reader = content.open(e)?;
        let mut got = 0;
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(Error::io("reading", tree.root.join(&e.path), err)),
            }
        }
        if is_cachedir_signature(&head[..got]) {
            out.insert(e.path.parent().unwrap_or(Path::new("")).to_path_buf());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySource;

    fn entry(path: &str, kind: EntryKind, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size,
            mtime: 0,
            xattrs: Vec::new(),
            hardlink: None,
        }
    }

    fn paths(t: &Tree) -> Vec<String> {
        t.entries
            .iter()
            .map(|e| e.path.display().to_string())
            .collect()
    }

    #[test]
    fn prunes_like_the_walk() {
        use EntryKind::*;
        let sig = b"Signature: 8a477f597d28d172789f06886806bc55\n";
        let mut entries = vec![
            entry("boot", Directory, 0),
            entry("tmp", Directory, 0),
            entry("tmp/junk", Regular, 0),
            entry("var", Directory, 0),
            entry("var/cache", Directory, 0),
            entry("var/cache/CACHEDIR.TAG", Regular, sig.len() as u64),
            entry("var/cache/blob", Regular, 0),
            entry("var/fake", Directory, 0),
            entry("var/fake/CACHEDIR.TAG", Regular, 3),
            entry("var/skip", Directory, 0),
            entry("var/skip/inner", Regular, 0),
            entry("var/skipped-not", Regular, 0),
            entry("var/tmp", Directory, 0),
            entry("var/tmp/x", Regular, 0),
        ];
        entries[9].xattrs.push((SKIP_XATTR.into(), b"1".to_vec()));
        let mut m = MemorySource::new();
        m.insert("var/cache/CACHEDIR.TAG", sig.to_vec());
        m.insert("var/fake/CACHEDIR.TAG", b"bad".to_vec());
        let tree = Tree {
            root: "/img".into(),
            entries,
        };
        let (kept, skipped) = prune(tree.clone(), &m).unwrap();
        assert_eq!(
            paths(&kept),
            [
                "boot",
                "tmp",
                "var",
                "var/cache",
                "var/fake",
                "var/fake/CACHEDIR.TAG",
                "var/skipped-not",
                "var/tmp"
            ]
        );
        let reasons: Vec<(String, SkipReason)> = skipped
            .iter()
            .map(|s| (s.path.display().to_string(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("tmp".into(), SkipReason::VolatileDir),
                ("var/cache".into(), SkipReason::CacheDir),
                ("var/skip".into(), SkipReason::SkipXattr),
                ("var/tmp".into(), SkipReason::VolatileDir),
            ]
        );
        let mut booted = tree;
        booted.entries.insert(1, entry("boot/vmlinuz", Regular, 0));
        let err = prune(booted, &m).unwrap_err().to_string();
        assert!(err.contains("/img/boot/vmlinuz"), "{err}");
    }
}
