//! What the image writer writes for an entry, decided once.
//!
//! [`WriteRules::written`] turns an [`Entry`] into the [`Written`] record the layer tar holds
//! for it: permission bits, numeric owner, the written mtime (directories always
//! [`DIR_MTIME`]; files and symlinks clamped to `SOURCE_DATE_EPOCH`), the xattrs that are
//! written, and for a later path of a hardlinked file a hardlink to the set's first path
//! (which alone carries content and xattrs). The tar writer emits exactly this record, and
//! [`Written::hash`] hashes exactly this record: component versions are built from that hash,
//! so a version moves iff the bytes of its layer do.
//!
//! Directory mtimes are never kept: a directory's mtime changes whenever any package adds a name
//! to it, and `/usr/lib` sits in nearly every layer, so keeping it would give every layer a new
//! digest on every build. ostree does the same (it stores no directory mtimes).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Entry, EntryKind};

/// The mtime every directory is written with.
pub const DIR_MTIME: i64 = 0;

/// Mode of a parent directory a layer needs but the tree does not list (only hand-made trees:
/// every input lists its directories); root-owned, mtime [`DIR_MTIME`].
pub const SYNTHETIC_DIR_MODE: u32 = 0o755;

/// The settings that change what is written. One value is shared by the writer and the
/// component versions of a build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteRules {
    /// `SOURCE_DATE_EPOCH`: later file and symlink mtimes are written as this value.
    pub clamp_mtime: Option<i64>,
    /// What becomes of the xattrs a build host adds on its own ([`HOST_XATTRS`]).
    pub selinux: SelinuxMode,
}

/// The xattrs a build host sets by itself rather than the image's content: the SELinux
/// label (a build container's `container_file_t:s0:c123,c456`, new categories every run) and
/// the IMA/EVM measurements and HMACs the host kernel writes.
pub const HOST_XATTRS: [&str; 3] = [SELINUX_XATTR, "security.ima", "security.evm"];

/// The xattr that carries an SELinux label.
pub const SELINUX_XATTR: &str = "security.selinux";

/// `--selinux`: which [`HOST_XATTRS`] a layer carries (and component versions hash).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SelinuxMode {
    /// None of them (the default): what buildah and podman write, and what chunkah does.
    /// bootc and ostree label the files from the image's own policy when they import it.
    #[default]
    Strip,
    /// All of them, as the input has them: for trees labelled on purpose.
    Keep,
    /// `security.selinux` as the tree's own policy labels each path (the loader sets it, see
    /// `rechunk_rootfs`), no IMA/EVM xattr: what rpm-ostree writes.
    Policy,
}

impl SelinuxMode {
    /// Whether the xattr `name` is written under this mode.
    pub fn writes(self, name: &OsStr) -> bool {
        match self {
            SelinuxMode::Keep => true,
            SelinuxMode::Strip => !HOST_XATTRS.iter().any(|h| name == *h),
            SelinuxMode::Policy => name == SELINUX_XATTR || !HOST_XATTRS.iter().any(|h| name == *h),
        }
    }
}

/// The kind of tar member written for an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrittenKind<'e> {
    Regular {
        size: u64,
    },
    Directory,
    Symlink(&'e Path),
    /// A later path of a hardlinked file: a tar hardlink to the first path of its set.
    Hardlink(&'e Path),
}

/// One member of a layer tar as the writer emits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written<'e> {
    pub path: &'e Path,
    pub kind: WrittenKind<'e>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// Sorted by name.
    pub xattrs: Vec<(&'e OsStr, &'e [u8])>,
}

impl WriteRules {
    /// A file or symlink mtime as written.
    pub fn clamp(&self, mtime: i64) -> i64 {
        self.clamp_mtime.map_or(mtime, |c| mtime.min(c))
    }

    /// The mtime written for `e`.
    pub fn mtime(&self, e: &Entry) -> i64 {
        if e.is_dir() {
            DIR_MTIME
        } else {
            self.clamp(e.mtime)
        }
    }

    /// The permission bits written for `e` (setuid, setgid and sticky included).
    pub fn mode(&self, e: &Entry) -> u32 {
        e.mode & 0o7777
    }

    /// The extended attributes written for `e`, sorted by name: every one the input recorded
    /// (`security.capability`, `user.*`, ...) but the [`HOST_XATTRS`] that [`SelinuxMode`]
    /// leaves out. The one place that decides which xattrs an image carries.
    pub fn xattrs<'e>(&self, e: &'e Entry) -> impl Iterator<Item = (&'e OsStr, &'e [u8])> + 'e {
        let mode = self.selinux;
        e.xattrs
            .iter()
            .filter(move |(n, _)| mode.writes(n))
            .map(|(n, v)| (n.as_os_str(), v.as_slice()))
    }

    /// The record written for `e`; `first_link` is the first path of its hardlinked set when
    /// `e` is a later path of one.
    pub fn written<'e>(&self, e: &'e Entry, first_link: Option<&'e Path>) -> Written<'e> {
        let kind = match (&e.kind, first_link) {
            (EntryKind::Directory, _) => WrittenKind::Directory,
            (EntryKind::Symlink(t), _) => WrittenKind::Symlink(t),
            (EntryKind::Regular, Some(first)) => WrittenKind::Hardlink(first),
            (EntryKind::Regular, None) => WrittenKind::Regular { size: e.size },
        };
        let xattrs = match kind {
            // The inode's xattrs travel with its first path only.
            WrittenKind::Hardlink(_) => Vec::new(),
            _ => self.xattrs(e).collect(),
        };
        Written {
            path: &e.path,
            kind,
            mode: self.mode(e),
            uid: e.uid,
            gid: e.gid,
            mtime: self.mtime(e),
            xattrs,
        }
    }
}

impl<'e> Written<'e> {
    /// A parent directory the tree does not list.
    pub fn synthetic_dir(path: &'e Path) -> Written<'e> {
        Written {
            path,
            kind: WrittenKind::Directory,
            mode: SYNTHETIC_DIR_MODE,
            uid: 0,
            gid: 0,
            mtime: DIR_MTIME,
            xattrs: Vec::new(),
        }
    }

    /// A directory that says nothing beyond its name: what a synthetic parent is (root-owned,
    /// 0755, no xattrs).
    pub fn is_plain_dir(&self) -> bool {
        self.kind == WrittenKind::Directory
            && (self.mode, self.uid, self.gid) == (SYNTHETIC_DIR_MODE, 0, 0)
            && self.xattrs.is_empty()
    }

    /// Feeds this record into `h`, with `content` ([`crate::content_digest`] of a regular file's bytes) standing
    /// for the bytes that follow the header. Fields are length-prefixed: no two records hash
    /// alike.
    pub fn hash(&self, h: &mut Sha256, content: Option<&[u8; 32]>) {
        let bytes = |h: &mut Sha256, b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        bytes(h, self.path.as_os_str().as_bytes());
        let (tag, size, target): (u8, u64, &[u8]) = match self.kind {
            WrittenKind::Regular { size } => (b'f', size, b""),
            WrittenKind::Directory => (b'd', 0, b""),
            WrittenKind::Symlink(t) => (b'l', 0, t.as_os_str().as_bytes()),
            WrittenKind::Hardlink(t) => (b'h', 0, t.as_os_str().as_bytes()),
        };
        h.update([tag]);
        h.update(self.mode.to_le_bytes());
        h.update(self.uid.to_le_bytes());
        h.update(self.gid.to_le_bytes());
        h.update(self.mtime.to_le_bytes());
        h.update(size.to_le_bytes());
        bytes(h, target);
        match content {
            Some(d) => {
                h.update([1]);
                h.update(d);
            }
            None => h.update([0]),
        }
        h.update((self.xattrs.len() as u64).to_le_bytes());
        for (name, value) in &self.xattrs {
            bytes(h, name.as_bytes());
            bytes(h, value);
        }
    }

    /// SHA-256 of [`Written::hash`] alone.
    pub fn digest(&self, content: Option<&[u8; 32]>) -> [u8; 32] {
        let mut h = Sha256::new();
        self.hash(&mut h, content);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InodeId;

    fn file() -> Entry {
        Entry {
            path: "usr/bin/x".into(),
            kind: EntryKind::Regular,
            mode: 0o104755,
            uid: 1,
            gid: 2,
            size: 5,
            mtime: 2_000,
            xattrs: vec![("user.a".into(), b"1".to_vec())],
            hardlink: Some(InodeId { dev: 1, ino: 1 }),
        }
    }

    #[test]
    fn rules_decide_mode_mtime_xattrs_and_links() {
        let rules = WriteRules {
            clamp_mtime: Some(1_000),
            ..WriteRules::default()
        };
        let e = file();
        let w = rules.written(&e, None);
        assert_eq!(w.mode, 0o4755);
        assert_eq!(w.mtime, 1_000);
        assert_eq!(w.kind, WrittenKind::Regular { size: 5 });
        assert_eq!(w.xattrs.len(), 1);
        let later = rules.written(&e, Some(Path::new("usr/bin/a")));
        assert_eq!(later.kind, WrittenKind::Hardlink(Path::new("usr/bin/a")));
        assert!(later.xattrs.is_empty());
        let mut d = e.clone();
        d.kind = EntryKind::Directory;
        assert_eq!(rules.written(&d, None).mtime, DIR_MTIME);
        assert_eq!(WriteRules::default().mtime(&e), 2_000);
        assert!(Written::synthetic_dir(Path::new("x")).is_plain_dir());
    }

    #[test]
    fn every_field_moves_the_hash() {
        let rules = WriteRules::default();
        let base = file();
        let digest = |e: &Entry, c: Option<&[u8; 32]>| rules.written(e, None).digest(c);
        let d0 = digest(&base, Some(&[0; 32]));
        let changes: [fn(&mut Entry); 9] = [
            |e| e.path = "usr/bin/y".into(),
            |e| e.mode = 0o755,
            |e| e.uid = 9,
            |e| e.gid = 9,
            |e| e.size = 6,
            |e| e.mtime = 3_000,
            |e| e.xattrs.clear(),
            |e| e.xattrs[0].1 = b"2".to_vec(),
            |e| e.kind = EntryKind::Symlink("t".into()),
        ];
        for change in &changes {
            let mut e = base.clone();
            change(&mut e);
            assert_ne!(digest(&e, Some(&[0; 32])), d0, "{e:?}");
        }
        assert_ne!(digest(&base, Some(&[1; 32])), d0, "content");
        assert_ne!(digest(&base, None), d0, "content");
        // Fields the writer does not write do not count: which inode it is, the file type bits.
        let mut e = base.clone();
        e.hardlink = None;
        e.mode = 0o4755;
        assert_eq!(digest(&e, Some(&[0; 32])), d0);
    }

    #[test]
    fn selinux_mode_decides_which_host_xattrs_are_written() {
        let mut e = file();
        e.xattrs = vec![
            ("security.capability".into(), b"c".to_vec()),
            ("security.evm".into(), b"e".to_vec()),
            ("security.ima".into(), b"i".to_vec()),
            ("security.selinux".into(), b"s".to_vec()),
            ("user.a".into(), b"1".to_vec()),
        ];
        let names = |selinux| {
            let rules = WriteRules {
                selinux,
                ..WriteRules::default()
            };
            let w = rules.written(&e, None);
            w.xattrs
                .iter()
                .map(|(n, _)| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(SelinuxMode::Strip), ["security.capability", "user.a"]);
        assert_eq!(
            names(SelinuxMode::Policy),
            ["security.capability", "security.selinux", "user.a"]
        );
        assert_eq!(names(SelinuxMode::Keep).len(), 5);
        // What is not written does not move the hash either.
        let strip = WriteRules::default();
        let mut relabelled = e.clone();
        relabelled.xattrs[3].1 = b"other".to_vec();
        assert_eq!(
            strip.written(&e, None).digest(None),
            strip.written(&relabelled, None).digest(None)
        );
        let keep = WriteRules {
            selinux: SelinuxMode::Keep,
            ..WriteRules::default()
        };
        assert_ne!(
            keep.written(&e, None).digest(None),
            keep.written(&relabelled, None).digest(None)
        );
    }
}
