//! Reading file contents straight out of a repository's `objects/` directory.
//!
//! Regular files of a commit are read here rather than through libostree's streams: those are
//! GObjects bound to one thread, while the image writer reads contents from several threads at
//! once. The object layout is fixed and small: in every `bare*` mode a regular file's object
//! `objects/ab/cdef….file` holds exactly its content; in `archive` mode `….filez` holds a
//! length-prefixed header (big-endian u32 length, 4 bytes of padding, the GVariant
//! `(tuuuusa(ayay))` whose first field is the content size) and then the content as a raw
//! deflate stream. Object files are opened without following symlinks, and what is read is
//! checked against the size the commit's metadata gave.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rechunk_tree::{ContentSource, Entry, Error as TreeError};

use crate::object::{object_path, Checksum};

/// How a repository stores file objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// `bare`, `bare-user`, `bare-user-only`, `bare-split-xattrs`: the content as it is.
    Bare,
    /// `archive` (`archive-z2`): header and raw deflate stream.
    Archive,
}

/// The regular files of one commit, by path.
#[derive(Debug)]
pub struct RepoContent {
    /// `objects/` of the repository, then of its parent repositories.
    objects: Vec<(PathBuf, Storage)>,
    /// What every regular file of the tree is: its object.
    by_path: HashMap<PathBuf, Checksum>,
    /// For messages: `ostree:REPO:REF`.
    name: PathBuf,
}

impl RepoContent {
    /// `objects` is every `objects/` directory to look in, in order.
    pub fn new(
        name: PathBuf,
        objects: Vec<(PathBuf, Storage)>,
        by_path: HashMap<PathBuf, Checksum>,
    ) -> Self {
        RepoContent {
            objects,
            by_path,
            name,
        }
    }

    /// The object holding the regular file at `path`.
    pub fn object_of(&self, path: &Path) -> Option<&Checksum> {
        self.by_path.get(path)
    }

    /// Opens a file object's content, which must be `size` bytes.
    pub fn open_object(
        &self,
        checksum: &Checksum,
        size: u64,
    ) -> io::Result<Box<dyn Read + Send + 'static>> {
        for (dir, storage) in &self.objects {
            let ext = match storage {
                Storage::Bare => "file",
                Storage::Archive => "filez",
            };
            let path = dir.join(object_path(checksum, ext));
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            return match storage {
                Storage::Bare => {
                    let len = file.metadata()?.len();
                    if len != size {
                        return Err(io::Error::other(format!(
                            "object {} holds {len} bytes, the commit says {size}",
                            path.display()
                        )));
                    }
                    Ok(Box::new(file))
                }
                Storage::Archive => open_archive_object(file, &path, size),
            };
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "file object {checksum} is not in the repository (a commit pulled with \
                 --commit-metadata-only, or a pruned repository?)"
            ),
        ))
    }
}

/// Skips an archive object's header and checks its size field; returns the inflating reader.
fn open_archive_object(
    mut file: File,
    path: &Path,
    size: u64,
) -> io::Result<Box<dyn Read + Send + 'static>> {
    let bad = |what: &str| io::Error::other(format!("{}: {what}", path.display()));
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)
        .map_err(|_| bad("shorter than an archive object header"))?;
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    // A header is a few fields and the xattrs: ostree itself refuses more than 10 MiB.
    if !(8..=10 << 20).contains(&len) {
        return Err(bad("implausible archive object header length"));
    }
    let mut header = vec![0u8; len];
    file.read_exact(&mut header)
        .map_err(|_| bad("archive object header cut short"))?;
    // (tuuuusa(ayay)): the leading `t` is the big-endian content size.
    let mut t = [0u8; 8];
    t.copy_from_slice(&header[..8]);
    let recorded = u64::from_be_bytes(t);
    if recorded != size {
        return Err(bad(&format!(
            "archive object records {recorded} bytes, the commit says {size}"
        )));
    }
    let inflate = flate2::read::DeflateDecoder::new(io::BufReader::with_capacity(1 << 16, file));
    Ok(Box::new(inflate.take(size)))
}

impl ContentSource for RepoContent {
    fn open(&self, entry: &Entry) -> Result<Box<dyn Read + Send + '_>, TreeError> {
        let full = self.name.join(&entry.path);
        let object = self
            .object_of(&entry.path)
            .ok_or_else(|| TreeError::invalid(&full, "no file object in the commit"))?;
        self.open_object(object, entry.size)
            .map_err(|e| TreeError::io("reading", &full, e))
    }
}
