//! ostree's objects as bytes, and their checksums.
//!
//! - a **file** object (regular file or symlink) is named by SHA-256 over its *file header*,
//!   the GVariant `(uuuusa(ayay))` (uid, gid, mode, 0, symlink target, xattrs) prefixed with
//!   its length as a big-endian u32 and 4 zero bytes, followed by the file's content;
//! - a **dirmeta** `(uuua(ayay))` (uid, gid, mode, xattrs), a **dirtree** `(a(say)a(sayay))`
//!   (files by name → object; directories by name → dirtree and dirmeta) and a **commit**
//!   `(a{sv}aya(say)sstayay)` are named by SHA-256 of their serialisation, which is also what a
//!   repository stores;
//! - xattr names are stored with their terminating NUL, values as they are; every `u`/`t` is
//!   big-endian (see [`crate::gvariant::be32`]).
//!
//! Checked byte for byte against real `ostree commit` in `tests/against_ostree.rs`.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;

use sha2::{Digest, Sha256};

use crate::gvariant::{be32, be64, Type, Value};

/// File type bits of a mode, as ostree stores them in file headers and dirmeta.
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

/// A SHA-256 object checksum.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checksum(pub [u8; 32]);

impl Checksum {
    /// SHA-256 of `bytes`: the checksum of a metadata object.
    pub fn of(bytes: &[u8]) -> Checksum {
        Checksum(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase or uppercase hex digits.
    pub fn from_hex(s: &str) -> Option<Checksum> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Checksum(out))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.to_hex())
    }
}

/// The object kinds a commit is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    File,
    DirTree,
    DirMeta,
    Commit,
}

impl ObjectType {
    /// The file name extension in a repository's `objects/` directory.
    pub fn extension(self) -> &'static str {
        match self {
            ObjectType::File => "file",
            ObjectType::DirTree => "dirtree",
            ObjectType::DirMeta => "dirmeta",
            ObjectType::Commit => "commit",
        }
    }
}

/// Where an object lives under a repository's `objects/` directory: `ab/cdef….dirtree`.
pub fn object_path(checksum: &Checksum, extension: &str) -> String {
    let hex = checksum.to_hex();
    format!("{}/{}.{extension}", &hex[..2], &hex[2..])
}

/// Extended attributes as ostree records them, sorted by name.
pub type Xattrs<'a> = [(&'a OsStr, &'a [u8])];

/// `a(ayay)`: each name with its NUL, each value as it is.
pub fn xattrs_value(xattrs: &Xattrs) -> Value {
    let pair = Type::Tuple(vec![
        Type::Array(Box::new(Type::Byte)),
        Type::Array(Box::new(Type::Byte)),
    ]);
    let items = xattrs
        .iter()
        .map(|(name, value)| {
            let mut n = name.as_bytes().to_vec();
            n.push(0);
            Value::Tuple(vec![Value::Bytes(n), Value::Bytes(value.to_vec())])
        })
        .collect();
    Value::Array(pair, items)
}

/// The serialised xattrs of a file object: what ostree-container layers store next to each
/// object (`.file-xattrs-link`) and a `bare-split-xattrs` repository reads back.
pub fn xattrs_bytes(xattrs: &Xattrs) -> Vec<u8> {
    xattrs_value(xattrs).to_bytes()
}

/// The length-prefixed file header that starts a file object's checksummed stream. `mode`
/// includes the file type bits; `symlink_target` is empty for regular files.
pub fn file_header(
    uid: u32,
    gid: u32,
    mode: u32,
    symlink_target: &str,
    xattrs: &Xattrs,
) -> Vec<u8> {
    let header = Value::Tuple(vec![
        Value::U32(be32(uid)),
        Value::U32(be32(gid)),
        Value::U32(be32(mode)),
        Value::U32(0),
        Value::Str(symlink_target.to_string()),
        xattrs_value(xattrs),
    ])
    .to_bytes();
    let len = u32::try_from(header.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(8 + header.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&header);
    out
}

/// Computes a file object's checksum: its header, then its content.
pub struct FileHasher(Sha256);

impl FileHasher {
    pub fn new(header: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(header);
        FileHasher(h)
    }

    pub fn update(&mut self, content: &[u8]) {
        self.0.update(content);
    }

    pub fn finish(self) -> Checksum {
        Checksum(self.0.finalize().into())
    }
}

/// A dirmeta object: `mode` includes [`S_IFDIR`].
pub fn dirmeta(uid: u32, gid: u32, mode: u32, xattrs: &Xattrs) -> Vec<u8> {
    Value::Tuple(vec![
        Value::U32(be32(uid)),
        Value::U32(be32(gid)),
        Value::U32(be32(mode)),
        xattrs_value(xattrs),
    ])
    .to_bytes()
}

/// A directory's listing: files (regular and symlinks) and subdirectories by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirTree {
    /// Name → file object.
    pub files: Vec<(String, Checksum)>,
    /// Name → (dirtree, dirmeta).
    pub dirs: Vec<(String, Checksum, Checksum)>,
}

impl DirTree {
    /// The serialised dirtree; both lists sorted by name as `strcmp` orders them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut files: Vec<&(String, Checksum)> = self.files.iter().collect();
        files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut dirs: Vec<&(String, Checksum, Checksum)> = self.dirs.iter().collect();
        dirs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let ay = || Type::Array(Box::new(Type::Byte));
        let files = Value::Array(
            Type::Tuple(vec![Type::Str, ay()]),
            files
                .into_iter()
                .map(|(n, c)| Value::Tuple(vec![Value::Str(n.clone()), Value::Bytes(c.0.to_vec())]))
                .collect(),
        );
        let dirs = Value::Array(
            Type::Tuple(vec![Type::Str, ay(), ay()]),
            dirs.into_iter()
                .map(|(n, t, m)| {
                    Value::Tuple(vec![
                        Value::Str(n.clone()),
                        Value::Bytes(t.0.to_vec()),
                        Value::Bytes(m.0.to_vec()),
                    ])
                })
                .collect(),
        );
        Value::Tuple(vec![files, dirs]).to_bytes()
    }
}

/// The fields of a commit object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitFields {
    /// `a{sv}`, written sorted by key.
    pub metadata: Vec<(String, Value)>,
    pub parent: Option<Checksum>,
    pub subject: String,
    pub body: String,
    /// Seconds since the epoch.
    pub timestamp: u64,
    pub root_tree: Checksum,
    pub root_meta: Checksum,
}

impl CommitFields {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut meta: Vec<&(String, Value)> = self.metadata.iter().collect();
        meta.sort_by(|a, b| a.0.cmp(&b.0));
        let entry = Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant));
        let metadata = Value::Array(
            entry,
            meta.into_iter()
                .map(|(k, v)| {
                    Value::DictEntry(
                        Box::new(Value::Str(k.clone())),
                        Box::new(Value::Variant(Box::new(v.clone()))),
                    )
                })
                .collect(),
        );
        let related = Value::Array(
            Type::Tuple(vec![Type::Str, Type::Array(Box::new(Type::Byte))]),
            Vec::new(),
        );
        Value::Tuple(vec![
            metadata,
            Value::Bytes(self.parent.map(|p| p.0.to_vec()).unwrap_or_default()),
            related,
            Value::Str(self.subject.clone()),
            Value::Str(self.body.clone()),
            Value::U64(be64(self.timestamp)),
            Value::Bytes(self.root_tree.0.to_vec()),
            Value::Bytes(self.root_meta.0.to_vec()),
        ])
        .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_hex() {
        let c = Checksum([0xab; 32]);
        assert_eq!(Checksum::from_hex(&c.to_hex()), Some(c));
        assert_eq!(Checksum::from_hex("zz"), None);
        let p = object_path(&c, "dirtree");
        assert!(p.starts_with("ab/abab"));
        assert!(p.ends_with(".dirtree"));
        assert_eq!(p.len(), 2 + 1 + 62 + 8);
    }

    #[test]
    fn empty_objects_have_their_known_checksums() {
        // Two empty arrays and the first one's end offset: one zero byte, the empty dirtree
        // every ostree repository with an empty directory holds (sha256 of "\0").
        let empty = DirTree::default().to_bytes();
        assert_eq!(empty, [0]);
        assert_eq!(
            Checksum::of(&empty).to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        // A root-owned 0755 directory without xattrs: 12 bytes of big-endian fields.
        let meta = dirmeta(0, 0, S_IFDIR | 0o755, &[]);
        assert_eq!(meta, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed]);
    }

    #[test]
    fn xattr_names_carry_their_nul() {
        let name = OsStr::new("user.a");
        let bytes = xattrs_bytes(&[(name, b"1".as_slice())]);
        // (ayay): "user.a\0", "1", the first member's end offset; then the array's offset.
        assert_eq!(bytes, b"user.a\x001\x07\x09");
        let header = file_header(0, 0, S_IFREG | 0o644, "", &[]);
        assert_eq!(&header[..4], &(header.len() as u32 - 8).to_be_bytes());
        assert_eq!(&header[4..8], &[0; 4]);
    }
}
