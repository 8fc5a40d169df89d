//! Applying an image's layers in order to one tree of metadata, as an unpacker would, without
//! writing a single file: only headers are read here (contents are staged afterwards, for the
//! files that survive).
//!
//! The rules, after the OCI image spec (layer.md):
//! - A member replaces what a lower layer had at its path; a directory over a directory only
//!   updates its metadata (the children stay); anything else removes the old subtree.
//! - `.wh.NAME` hides NAME and everything under it, `.wh..wh..opq` hides every child of its
//!   directory, both from lower layers only: a member of the same layer survives whatever the
//!   order of the two in the tar (whiteouts are applied when the layer ends). A hidden directory
//!   that the same layer still puts members under stays as a plain directory (root-owned 0755).
//!   Other `.wh..wh.` names (aufs metadata) are ignored.
//! - A hardlink joins the inode its target has at that point (lower layers or earlier in the
//!   same layer); its own header's metadata is ignored, as extractors do. A hardlink to a
//!   symlink becomes a copy of the symlink.
//! - A member whose parent is missing gets plain directories (root-owned 0755) as parents.
//!
//! Refused with the layer and the path named: absolute paths, `..` anywhere, NUL bytes, a
//! parent that is a symlink or a file (never resolved through), a hardlink to a path the image
//! does not hold or to a directory, a whiteout of `..` or `.`, ids that do not fit 32 bits.
//! Sockets, FIFOs and device nodes are left out under /proc, /sys, /dev, /run, /tmp, /var/tmp
//! (whose contents never go into an image anyway); elsewhere they are an error, or left out
//! with a warning with `skip_special_files`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rechunk_fsio::shown::excerpt;
use rechunk_tree::belongs::{MAX_PATH, VOLATILE_DIRS};
use rechunk_tree::{Entry, EntryKind, InodeId, Tree};

use super::tar::{TarEntry, TarKind};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
const AUFS_META: &str = ".wh..wh.";

/// Metadata of an inode or directory as its header gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Meta {
    /// A parent directory nobody listed.
    fn plain_dir() -> Meta {
        Meta {
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Dir(Meta),
    Symlink(PathBuf, Meta),
    /// A regular file: an index into the inodes.
    File(usize),
}

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    /// The layer that last put this node here (whiteouts hide lower layers only).
    layer: usize,
}

/// Where a regular file's content is: `size` bytes at `offset` of layer `layer`'s tar stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub layer: usize,
    pub offset: u64,
    pub size: u64,
}

#[derive(Clone, Debug)]
struct Inode {
    meta: Meta,
    origin: Origin,
}

/// Why a member is refused: the message names the path; the caller adds the layer.
pub(crate) type MergeError = String;

/// The layers applied so far.
pub(crate) struct Merge {
    nodes: BTreeMap<PathBuf, Node>,
    inodes: Vec<Inode>,
    /// Whiteouts of the current layer: (directory, name or `None` for opaque).
    pending: Vec<(PathBuf, Option<OsString>)>,
    skip_special_files: bool,
    /// Paths left out with a warning (special files), with why.
    pub warnings: Vec<(PathBuf, String)>,
}

/// The merged tree and, per entry that is a regular file, where its content is.
pub(crate) struct Merged {
    pub tree: Tree,
    /// Per tree entry: the content's origin (regular files only).
    pub origins: Vec<Option<Origin>>,
    pub warnings: Vec<(PathBuf, String)>,
}

impl Merge {
    pub fn new(skip_special_files: bool) -> Self {
        Merge {
            nodes: BTreeMap::new(),
            inodes: Vec::new(),
            pending: Vec::new(),
            skip_special_files,
            warnings: Vec::new(),
        }
    }

    /// Applies one member of layer `layer`.
    pub fn apply(&mut self, layer: usize, e: TarEntry) -> Result<(), MergeError> {
        let shown = excerpt(&String::from_utf8_lossy(&e.path)).into_owned();
        let Some(path) = normalize(&e.path).map_err(|r| format!("{shown}: {r}"))? else {
            return Ok(()); // the root directory itself: not an entry
        };
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if name == OPAQUE {
            self.pending.push((parent, None));
            return Ok(());
        }
        if name.starts_with(AUFS_META) {
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            if matches!(hidden, "" | "." | "..") {
                return Err(format!("{shown}: a whiteout of {hidden:?} is not a name"));
            }
            let hidden =
                path.file_name().expect("a name").as_encoded_bytes()[WHITEOUT.len()..].to_vec();
            self.pending
                .push((parent, Some(OsString::from_vec(hidden))));
            return Ok(());
        }
        let err = |r: String| format!("{shown}: {r}");
        let id = |v: u64, what: &str| {
            u32::try_from(v).map_err(|_| err(format!("{what} {v} does not fit in 32 bits")))
        };
        let meta = Meta {
            mode: e.mode,
            uid: id(e.uid, "uid")?,
            gid: id(e.gid, "gid")?,
            mtime: e.mtime,
            xattrs: e.xattrs,
        };
        let kind = match e.kind {
            TarKind::Directory => Kind::Dir(meta),
            TarKind::Symlink(t) => {
                if t.contains(&0) {
                    return Err(err("symlink target holds a NUL byte".into()));
                }
                Kind::Symlink(PathBuf::from(OsString::from_vec(t)), meta)
            }
            TarKind::Regular => {
                self.inodes.push(Inode {
                    meta,
                    origin: Origin {
                        layer,
                        offset: e.data_offset,
                        size: e.size,
                    },
                });
                Kind::File(self.inodes.len() - 1)
            }
            TarKind::Hardlink(target) => self.link_target(&target).map_err(err)?,
            TarKind::Special(what) => return self.special(&path, what).map_err(err),
        };
        self.ensure_parents(&path, layer).map_err(err)?;
        self.put(path, Node { kind, layer });
        Ok(())
    }

    /// Applies the whiteouts of layer `layer` (call after its last member).
    pub fn end_layer(&mut self, layer: usize) {
        for (dir, name) in std::mem::take(&mut self.pending) {
            match name {
                Some(name) => self.hide_lower(&dir.join(name), true, layer),
                None => self.hide_lower(&dir, false, layer),
            }
        }
    }

    /// The tree (sorted by path) and each regular entry's content origin.
    pub fn finish(self, root: PathBuf) -> Merged {
        let mut links = vec![0usize; self.inodes.len()];
        for n in self.nodes.values() {
            if let Kind::File(i) = n.kind {
                links[i] += 1;
            }
        }
        let mut entries = Vec::with_capacity(self.nodes.len());
        let mut origins = Vec::with_capacity(self.nodes.len());
        for (path, node) in self.nodes {
            let (kind, meta, size, origin, hardlink) = match node.kind {
                Kind::Dir(m) => (EntryKind::Directory, m, 0, None, None),
                Kind::Symlink(t, m) => (EntryKind::Symlink(t), m, 0, None, None),
                Kind::File(i) => {
                    let inode = &self.inodes[i];
                    let id = (links[i] > 1).then_some(InodeId {
                        dev: 0,
                        ino: i as u64,
                    });
                    let o = inode.origin;
                    (EntryKind::Regular, inode.meta.clone(), o.size, Some(o), id)
                }
            };
            entries.push(Entry {
                path,
                kind,
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                size,
                mtime: meta.mtime,
                xattrs: meta.xattrs,
                hardlink,
            });
            origins.push(origin);
        }
        Merged {
            tree: Tree { root, entries },
            origins,
            warnings: self.warnings,
        }
    }

    fn link_target(&self, target: &[u8]) -> Result<Kind, String> {
        let shown = excerpt(&String::from_utf8_lossy(target)).into_owned();
        let Some(path) = normalize(target).map_err(|r| format!("hardlink to {shown}: {r}"))? else {
            return Err("hardlink to the root directory".into());
        };
        match self.nodes.get(&path).map(|n| &n.kind) {
            Some(Kind::File(i)) => Ok(Kind::File(*i)),
            Some(Kind::Symlink(t, m)) => Ok(Kind::Symlink(t.clone(), m.clone())),
            Some(Kind::Dir(_)) => Err(format!("hardlink to {shown}, a directory")),
            None => Err(format!(
                "hardlink to {shown}, which the image does not hold at this point"
            )),
        }
    }

    fn special(&mut self, path: &Path, what: &str) -> Result<(), String> {
        let volatile = VOLATILE_DIRS
            .iter()
            .any(|d| path.starts_with(d) && path != Path::new(d));
        if !volatile && !self.skip_special_files {
            return Err(format!(
                "is a {what}; sockets, FIFOs and device nodes cannot go into an image \
                 (--skip-special-files leaves them out)"
            ));
        }
        if !volatile {
            self.warnings
                .push((path.to_path_buf(), format!("{what} left out")));
        }
        // It replaced whatever a lower layer had there; leaving it out leaves nothing.
        self.remove_subtree(path, true);
        Ok(())
    }

    /// Every missing ancestor of `path` becomes a plain directory; an ancestor that is not a
    /// directory is an error (never resolved through). Every node's ancestors are directory
    /// nodes (each change keeps it so), so the walk up stops at the first one present: one
    /// lookup per member, not one per level (a tree 2,000 deep would cost billions of path
    /// comparisons otherwise).
    fn ensure_parents(&mut self, path: &Path, layer: usize) -> Result<(), String> {
        let mut missing = Vec::new();
        for a in path.ancestors().skip(1) {
            if a.as_os_str().is_empty() {
                break;
            }
            match self.nodes.get(a).map(|n| &n.kind) {
                Some(Kind::Dir(_)) => break,
                Some(Kind::Symlink(t, _)) => {
                    return Err(format!(
                        "its parent {} is a symlink (to {}) in the image; refusing to resolve \
                         through it",
                        a.display(),
                        t.display()
                    ))
                }
                Some(Kind::File(_)) => {
                    return Err(format!("its parent {} is a file in the image", a.display()))
                }
                None => missing.push(a.to_path_buf()),
            }
        }
        for a in missing {
            let node = Node {
                kind: Kind::Dir(Meta::plain_dir()),
                layer,
            };
            self.nodes.insert(a, node);
        }
        Ok(())
    }

    /// Puts `node` at `path`: a directory over a directory keeps the children.
    fn put(&mut self, path: PathBuf, node: Node) {
        let both_dirs = matches!(node.kind, Kind::Dir(_))
            && matches!(self.nodes.get(&path).map(|n| &n.kind), Some(Kind::Dir(_)));
        if !both_dirs {
            self.remove_subtree(&path, true);
        }
        self.nodes.insert(path, node);
    }

    /// Removes `path` (when `itself`) and everything under it.
    fn remove_subtree(&mut self, path: &Path, itself: bool) {
        let doomed: Vec<PathBuf> = self
            .subtree(path)
            .filter(|p| itself || p.as_path() != path)
            .cloned()
            .collect();
        for p in doomed {
            self.nodes.remove(&p);
        }
    }

    /// `path` and its descendants, in order.
    fn subtree<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        self.nodes
            .range::<Path, _>((std::ops::Bound::Included(path), std::ops::Bound::Unbounded))
            .map(|(p, _)| p)
            .take_while(move |p| p.starts_with(path))
    }

    /// Hides what lower layers put at `path` (with `itself`) or under it. A lower directory
    /// that members of this layer are still under becomes a plain directory of this layer.
    fn hide_lower(&mut self, path: &Path, itself: bool, layer: usize) {
        let mut lower = Vec::new();
        let mut needed: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        for p in self.subtree(path) {
            if !itself && p.as_path() == path {
                continue;
            }
            if self.nodes[p].layer < layer {
                lower.push(p.clone());
            } else {
                for a in p.ancestors().skip(1) {
                    if !a.starts_with(path) || (!itself && a == path) {
                        break;
                    }
                    // Its own ancestors are in already: once per directory, not per level.
                    if !needed.insert(a.to_path_buf()) {
                        break;
                    }
                }
            }
        }
        for p in lower {
            if needed.contains(&p) {
                let node = Node {
                    kind: Kind::Dir(Meta::plain_dir()),
                    layer,
                };
                self.nodes.insert(p, node);
            } else {
                self.nodes.remove(&p);
            }
        }
    }
}

/// A member path relative to the root: `./` and repeated `/` dropped; `None` for the root
/// itself. Absolute paths, `..` and NUL bytes are refused.
fn normalize(raw: &[u8]) -> Result<Option<PathBuf>, String> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path in a layer; refusing it".into());
    }
    if raw.contains(&0) {
        return Err("a NUL byte in the path".into());
    }
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("`..` in a layer path; refusing it".into()),
            p => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(p);
            }
        }
    }
    if out.len() > MAX_PATH {
        return Err(format!(
            "a path of {} bytes is longer than {MAX_PATH} (PATH_MAX): it could not be opened in \
             a container; refusing it",
            out.len()
        ));
    }
    Ok((!out.is_empty()).then(|| PathBuf::from(OsString::from_vec(out))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(path: &str, kind: TarKind, size: u64, offset: u64) -> TarEntry {
        TarEntry {
            path: path.as_bytes().to_vec(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1,
            size,
            xattrs: Vec::new(),
            data_offset: offset,
        }
    }

    fn dir(path: &str) -> TarEntry {
        let mut m = member(path, TarKind::Directory, 0, 0);
        m.mode = 0o700;
        m
    }

    fn file(path: &str, offset: u64) -> TarEntry {
        member(path, TarKind::Regular, 3, offset)
    }

    fn apply(layers: Vec<Vec<TarEntry>>) -> Result<Merged, String> {
        let mut m = Merge::new(false);
        for (l, members) in layers.into_iter().enumerate() {
            for e in members {
                m.apply(l, e)?;
            }
            m.end_layer(l);
        }
        Ok(m.finish("img".into()))
    }

    fn listing(m: &Merged) -> Vec<String> {
        m.tree
            .entries
            .iter()
            .zip(&m.origins)
            .map(|(e, o)| match (&e.kind, o) {
                (EntryKind::Directory, _) => format!("{}/ {:o}", e.path.display(), e.mode),
                (EntryKind::Symlink(t), _) => format!("{} -> {}", e.path.display(), t.display()),
                (_, Some(o)) => format!("{} @{}:{}", e.path.display(), o.layer, o.offset),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn whiteouts_opaque_dirs_and_replacements() {
        let layers = vec![
            vec![
                dir("./a/"),
                file("./a/x", 100),
                file("./a/y", 200),
                dir("b"),
                file("b/keep", 300),
                file("b/gone", 400),
                dir("c"),
                dir("c/sub"),
                file("c/sub/f", 500),
                file("d", 600),
                dir("e"),
                file("e/old", 700),
            ],
            vec![
                // Opaque: a/'s lower children go, the new one stays (either order).
                file("a/new", 10),
                file("a/.wh..wh..opq", 0),
                file("b/.wh.gone", 0),
                // A file over a directory removes the subtree; a directory over a file too.
                file("c", 20),
                dir("d"),
                file("d/in", 30),
                // Hidden and re-created in the same layer: only the new content survives.
                file(".wh.e", 0),
                dir("e"),
                file("e/new", 40),
                // No parent listed: plain directories appear.
                file("p/q/r", 50),
            ],
        ];
        let m = apply(layers).unwrap();
        assert_eq!(
            listing(&m),
            [
                "a/ 700",
                "a/new @1:10",
                "b/ 700",
                "b/keep @0:300",
                "c @1:20",
                "d/ 700",
                "d/in @1:30",
                "e/ 700",
                "e/new @1:40",
                "p/ 755",
                "p/q/ 755",
                "p/q/r @1:50"
            ]
        );
    }

    #[test]
    fn a_hidden_directory_still_holding_new_members_stays_plain() {
        let m = apply(vec![
            vec![dir("x"), dir("x/y"), file("x/y/old", 1)],
            vec![file("x/y/new", 2), file(".wh.x", 0)],
        ])
        .unwrap();
        assert_eq!(listing(&m), ["x/ 755", "x/y/ 755", "x/y/new @1:2"]);
    }

    #[test]
    fn hardlinks_join_inodes_across_layers() {
        let m = apply(vec![
            vec![
                file("a", 1),
                member("l", TarKind::Symlink(b"a".to_vec()), 0, 0),
            ],
            vec![
                member("b", TarKind::Hardlink(b"a".to_vec()), 0, 0),
                member("s", TarKind::Hardlink(b"./l".to_vec()), 0, 0),
            ],
            // `a` replaced later: `b` keeps the old inode, alone now.
            vec![file("a", 9)],
        ])
        .unwrap();
        assert_eq!(listing(&m), ["a @2:9", "b @0:1", "l -> a", "s -> a"]);
        assert!(m.tree.entries.iter().all(|e| e.hardlink.is_none()));
        let m = apply(vec![vec![
            file("a", 1),
            member("b", TarKind::Hardlink(b"a".to_vec()), 0, 0),
        ]])
        .unwrap();
        assert!(m.tree.entries[0].hardlink.is_some());
        assert_eq!(m.tree.entries[0].hardlink, m.tree.entries[1].hardlink);
    }

    #[test]
    fn hostile_members_are_refused_with_their_path() {
        let cases: Vec<(TarEntry, &str)> = vec![
            (file("/etc/passwd", 0), "absolute"),
            (file("a/../../etc/passwd", 0), "`..`"),
            (file("a/.wh...", 0), "whiteout"),
            (file("a/\0b", 0), "NUL"),
            (
                member("h", TarKind::Hardlink(b"../../etc/shadow".to_vec()), 0, 0),
                "`..`",
            ),
            (
                member("h", TarKind::Hardlink(b"/etc/shadow".to_vec()), 0, 0),
                "absolute",
            ),
            (
                member("h", TarKind::Hardlink(b"missing".to_vec()), 0, 0),
                "does not hold",
            ),
            (
                member("h", TarKind::Hardlink(b"d".to_vec()), 0, 0),
                "a directory",
            ),
            (file("link/passwd", 0), "symlink"),
            (file("f/x", 0), "is a file"),
            (member("fifo", TarKind::Special("FIFO"), 0, 0), "FIFO"),
            // `./` and `/` runs do not count, the path does: 4,095 bytes is one too many.
            (
                file(&format!("./{}", "d/".repeat(2047) + "f"), 0),
                "a path of 4095 bytes is longer than 4094 (PATH_MAX)",
            ),
        ];
        for (bad, want) in cases {
            let shown = String::from_utf8_lossy(&bad.path).into_owned();
            let base = vec![
                dir("d"),
                file("f", 0),
                member("link", TarKind::Symlink(b"/etc".to_vec()), 0, 0),
            ];
            let err = apply(vec![base, vec![bad]]).err().unwrap_or_default();
            assert!(err.contains(want), "{shown}: {err}");
        }
        let mut uid = file("big-uid", 0);
        uid.uid = 1 << 40;
        assert!(apply(vec![vec![uid]])
            .err()
            .unwrap_or_default()
            .contains("32 bits"));
    }

    #[test]
    fn special_files_under_volatile_dirs_are_dropped_elsewhere_skipped_on_request() {
        let mut m = Merge::new(true);
        m.apply(0, dir("dev")).unwrap();
        m.apply(
            0,
            member("dev/null", TarKind::Special("character device"), 0, 0),
        )
        .unwrap();
        m.apply(0, member("srv/fifo", TarKind::Special("FIFO"), 0, 0))
            .unwrap();
        m.end_layer(0);
        let merged = m.finish("img".into());
        assert_eq!(listing(&merged), ["dev/ 700"]);
        assert_eq!(
            merged.warnings.len(),
            1,
            "only the one outside /dev is reported"
        );
        let mut strict = Merge::new(false);
        assert!(strict
            .apply(
                0,
                member("dev/null", TarKind::Special("character device"), 0, 0)
            )
            .is_ok());
    }
}
