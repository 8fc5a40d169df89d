//! Byte ranges of files on this host, read without copying them: a blob of an OCI layout (a
//! whole file), a member of an `oci-archive` or `docker-archive` tar, a file's content inside
//! an uncompressed layer, a staged file. Reads are positional (`pread`), so one open file
//! serves every thread. Archives are indexed by one pass over their headers (seeking past the
//! contents), never loaded.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tar::{TarKind, TarReader};
use crate::{Error, Result};

/// Symlinks followed inside an archive before giving up (Linux's MAXSYMLINKS).
const MAX_HOPS: usize = 40;
/// Most members an image archive may have: `podman save` writes a few per layer, so real
/// archives have hundreds; the index of a hostile one stays small.
pub(crate) const MAX_MEMBERS: usize = 100_000;

/// `len` bytes of `file` from `offset`.
#[derive(Clone, Debug)]
pub(crate) struct Section {
    pub file: Arc<File>,
    /// For messages: the file, and the member inside it when it is an archive.
    pub name: Arc<PathBuf>,
    pub offset: u64,
    pub len: u64,
}

impl Section {
    /// The whole of an open file.
    pub fn whole(file: File, name: PathBuf) -> Result<Section> {
        let len = file
            .metadata()
            .map_err(|e| Error::io("reading metadata of", &name, e))?
            .len();
        Ok(Section {
            file: Arc::new(file),
            name: Arc::new(name),
            offset: 0,
            len,
        })
    }

    /// A range inside this section (checked).
    pub fn sub(&self, offset: u64, len: u64, name: PathBuf) -> Result<Section> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.len) {
            return Err(Error::invalid(
                self.name.as_path(),
                format!(
                    "{}: {len} bytes at {offset} lie outside the file",
                    name.display()
                ),
            ));
        }
        Ok(Section {
            file: self.file.clone(),
            name: Arc::new(name),
            offset: self.offset + offset,
            len,
        })
    }

    pub fn reader(&self) -> SectionReader {
        SectionReader {
            file: self.file.clone(),
            pos: self.offset,
            end: self.offset + self.len,
        }
    }

    /// The whole section in memory, refused when larger than `max` bytes.
    pub fn read_all(&self, max: u64) -> Result<Vec<u8>> {
        if self.len > max {
            return Err(Error::invalid(
                self.name.as_path(),
                format!("{} bytes is more than the {max} expected here", self.len),
            ));
        }
        let mut out = Vec::with_capacity(self.len as usize);
        self.reader()
            .read_to_end(&mut out)
            .map_err(|e| Error::io("reading", self.name.as_path(), e))?;
        if out.len() as u64 != self.len {
            return Err(Error::invalid(
                self.name.as_path(),
                "the file is shorter than indexed",
            ));
        }
        Ok(out)
    }
}

/// Reads a [`Section`] from the start; skips by moving its position.
pub(crate) struct SectionReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for SectionReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A stream the tar reader can skip forward in: a section seeks, anything else reads and
/// drops.
pub(crate) trait Skip: Read {
    /// Skips up to `n` bytes; returns how many were skipped (fewer only at the end).
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut self.take(n), &mut io::sink())
    }
}

impl Skip for SectionReader {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let k = n.min(self.end - self.pos);
        self.pos += k;
        Ok(k)
    }
}

impl Skip for &[u8] {}
impl Skip for Box<dyn Read + Send + '_> {}
impl<S: Skip + ?Sized> Skip for &mut S {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        (**self).skip(n)
    }
}

/// The members of a tar archive on disk (`oci-archive`, `docker-archive`), by name.
pub(crate) struct Archive {
    path: PathBuf,
    members: HashMap<String, ArchiveMember>,
}

enum ArchiveMember {
    File(Section),
    /// A symlink (relative to the member's directory) or a hardlink (from the archive root).
    Link {
        target: String,
    },
}

impl Archive {
    /// Indexes the archive at `path`: one pass over its headers, contents skipped.
    pub fn open(path: &Path) -> Result<Archive> {
        Self::open_with_limit(path, MAX_MEMBERS)
    }

    fn open_with_limit(path: &Path, max_members: usize) -> Result<Archive> {
        let file = rechunk_fsio::open_regular(path, rechunk_fsio::Links::Follow)
            .map_err(|e| Error::io("opening", path, e))?;
        let whole = Section::whole(file, path.to_path_buf())?;
        let mut reader = TarReader::new(whole.reader());
        let mut members = HashMap::new();
        let bad = |e: super::tar::TarError| {
            Error::invalid(path, format!("not a readable tar archive: {e}"))
        };
        let mut count = 0usize;
        while let Some(entry) = reader.next_entry().map_err(bad)? {
            count += 1;
            if count > max_members {
                return Err(Error::invalid(
                    path,
                    format!(
                        "more than {max_members} members; an image archive has a few per layer"
                    ),
                ));
            }
            let name = normal_name(&String::from_utf8_lossy(&entry.path));
            let member = match entry.kind {
                TarKind::Regular => {
                    let section = whole.sub(entry.data_offset, entry.size, path.join(&name))?;
                    ArchiveMember::File(section)
                }
                TarKind::Symlink(t) => {
                    let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
                    let target = String::from_utf8_lossy(&t).into_owned();
                    let joined = if target.starts_with('/') {
                        target
                    } else {
                        dir.join(target).to_string_lossy().into_owned()
                    };
                    ArchiveMember::Link { target: joined }
                }
                TarKind::Hardlink(t) => ArchiveMember::Link {
                    target: String::from_utf8_lossy(&t).into_owned(),
                },
                _ => continue,
            };
            members.insert(name, member);
        }
        Ok(Archive {
            path: path.to_path_buf(),
            members,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The regular file `name` (links inside the archive followed), if the archive has it.
    pub fn get(&self, name: &str) -> Result<Option<Section>> {
        let mut name = normal_name(name);
        for _ in 0..MAX_HOPS {
            match self.members.get(&name) {
                None => return Ok(None),
                Some(ArchiveMember::File(s)) => return Ok(Some(s.clone())),
                Some(ArchiveMember::Link { target }) => name = normal_name(target),
            }
        }
        Err(Error::invalid(
            &self.path,
            format!("{name}: too many levels of links inside the archive"),
        ))
    }

    /// Like [`Archive::get`], but a missing member is an error naming it.
    pub fn require(&self, name: &str) -> Result<Section> {
        self.get(name)?
            .ok_or_else(|| Error::invalid(&self.path, format!("the archive has no {name}")))
    }
}

/// A member name without `./`, `/` and `..` games: `..` climbs at most to the archive root.
fn normal_name(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn indexes_members_and_follows_links_inside() {
        let bytes = super::super::tar::tests::build(|b| {
            let mut h = tar::Header::new_ustar();
            h.set_size(5);
            h.set_mode(0o644);
            b.append_data(&mut h, "./dir/a.json", &b"{\"a\"}"[..])
                .unwrap();
            let mut l = tar::Header::new_ustar();
            l.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut l, "other/b.json", "../dir/a.json")
                .unwrap();
            let mut l = tar::Header::new_ustar();
            l.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut l, "loop", "loop").unwrap();
        });
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        let a = Archive::open(f.path()).unwrap();
        assert_eq!(
            a.require("dir/a.json").unwrap().read_all(100).unwrap(),
            b"{\"a\"}"
        );
        let via_link = a.require("other/b.json").unwrap();
        assert_eq!(via_link.read_all(100).unwrap(), b"{\"a\"}");
        assert!(via_link.read_all(4).is_err(), "more than allowed");
        assert!(a.get("missing").unwrap().is_none());
        assert!(a.get("loop").is_err());
        assert_eq!(normal_name("/../x/./y/../z"), "x/z");
        let e = Archive::open_with_limit(f.path(), 2)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("more than 2 members"), "{e}");
    }
}
