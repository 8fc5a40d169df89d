//! Where a regular entry's bytes come from. A tree only describes paths; the writer, the
//! component versions and the rpm checks read content through a [`ContentSource`], so a
//! directory, an image's staged layers and an in-memory tree are read the same way.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Entry, Error};

/// Opens the content of a tree's regular entries.
pub trait ContentSource: Send + Sync {
    /// A reader of exactly `entry.size` bytes of the entry's content. A source whose content no
    /// longer matches the tree (a file changed size under us) says so with the path.
    fn open(&self, entry: &Entry) -> Result<Box<dyn Read + Send + '_>, Error>;

    /// A file on this host that holds exactly the entry's bytes, when the source has one: lets
    /// the rpmdb be opened in place rather than copied out.
    fn local_path(&self, _entry: &Entry) -> Option<PathBuf> {
        None
    }
}

/// SHA-256 of an entry's content, read through `source`.
pub fn sha256_of(source: &dyn ContentSource, entry: &Entry) -> Result<[u8; 32], Error> {
    let mut reader = source.open(entry)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut left = entry.size;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n =
            match reader.read(&mut buf[..want]) {
                Ok(0) => return Err(Error::invalid(
                    &entry.path,
                    "content ended before its recorded size (the input changed while it was read)",
                )),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading", &entry.path, e)),
            };
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(h.finalize().into())
}

/// Content held in memory, by path: for tests and small generated trees.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    files: HashMap<PathBuf, Vec<u8>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the content of the entry at `path` (every path of a hardlinked set needs it).
    pub fn insert(&mut self, path: impl Into<PathBuf>, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), bytes.into());
    }

    pub fn get(&self, path: &Path) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }
}

impl ContentSource for MemorySource {
    fn open(&self, entry: &Entry) -> Result<Box<dyn Read + Send + '_>, Error> {
        let bytes = self
            .files
            .get(&entry.path)
            .ok_or_else(|| Error::invalid(&entry.path, "no content in memory"))?;
        if bytes.len() as u64 != entry.size {
            return Err(Error::invalid(
                &entry.path,
                format!(
                    "changed size: recorded {} bytes, content has {}",
                    entry.size,
                    bytes.len()
                ),
            ));
        }
        Ok(Box::new(bytes.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EntryKind;

    #[test]
    fn sha256_reads_through_the_source_and_checks_the_size() {
        let mut e = Entry {
            path: "f".into(),
            kind: EntryKind::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 3,
            mtime: 0,
            xattrs: Vec::new(),
            hardlink: None,
        };
        let mut m = MemorySource::new();
        m.insert("f", b"abc".to_vec());
        // sha256("abc") from FIPS 180-2.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let got: String = sha256_of(&m, &e)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, abc);
        e.size = 4;
        assert!(sha256_of(&m, &e).unwrap_err().to_string().contains("size"));
    }
}
