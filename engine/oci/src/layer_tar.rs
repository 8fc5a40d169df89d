//! The reproducible layer tar format.
//!
//! One fixed format so that the same entries always give the same bytes: POSIX ustar headers,
//! PAX extended headers only where ustar cannot say it (long paths and link targets, xattrs as
//! `SCHILY.xattr.NAME`, mtimes before 1970 or after 2242), numeric uid/gid with empty user and group names, zero device numbers,
//! no atime/ctime, directories with a trailing `/`. What goes into each header (mode, owner,
//! mtime, xattrs, hardlinks) is decided by [`rechunk_tree::WriteRules`], the rules the
//! component versions hash too; this module only encodes it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rechunk_tree::{
    ContentHasher, ContentSource, Entry, InodeId, Member, Tree, WriteRules, Written, WrittenKind,
};
use tar::{EntryType, Header};

use crate::interrupt;
use crate::{Error, Result};

const BLOCK: usize = 512;
/// The largest mtime ustar's 12-byte octal field holds.
const USTAR_MAX_MTIME: i64 = 0o77777777777;

/// What a layer is written from and with.
#[derive(Clone, Copy)]
pub(crate) struct TarInput<'a> {
    pub tree: &'a Tree,
    pub content: &'a dyn ContentSource,
    pub rules: WriteRules,
    /// Called with the number of file content bytes each time a chunk (≤ 1 MiB) is written.
    pub on_content: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Per tree entry: whether to compute its content digest while writing it (for versions
    /// finished after the layers, see `LateVersions`).
    pub digest_wanted: Option<&'a [bool]>,
}

/// Content digests by tree entry index, as [`rechunk_tree::ContentHasher`] makes them.
pub(crate) type ContentDigests = Vec<(usize, [u8; 32])>;

/// Writes the tar stream of `members` (sorted by path, parents first) to `out`. Returns the
/// content digests of the entries `digest_wanted` names, by entry index.
///
/// Stops with [`Error::Interrupted`] on Ctrl-C, and with [`Error::Aborted`] once `abort` is set
/// (another layer failed: no point finishing this one).
pub(crate) fn write_layer_tar<W: Write>(
    out: &mut W,
    input: TarInput<'_>,
    members: &[Member],
    abort: &AtomicBool,
) -> Result<ContentDigests> {
    let mut tar = TarStream::new(out, input, abort);
    let mut digests = Vec::new();
    for member in members {
        tar.check_stop()?;
        match member {
            Member::Entry(i) => {
                let wanted = input
                    .digest_wanted
                    .is_some_and(|w| w.get(*i) == Some(&true));
                let mut hasher = wanted.then(ContentHasher::new);
                tar.entry(&input.tree.entries[*i], hasher.as_mut())?;
                if let Some(h) = hasher {
                    digests.push((*i, h.finish()));
                }
            }
            Member::SyntheticDir(path) => tar
                .header(&Written::synthetic_dir(path))
                .map_err(|e| write_err(input.tree, path, e))?,
        }
    }
    // End of archive: two zero blocks.
    tar.out
        .write_all(&[0; 2 * BLOCK])
        .map_err(|e| Error::io("writing layer for", &input.tree.root, e))?;
    Ok(digests)
}

pub(crate) struct TarStream<'w, W: ?Sized> {
    out: &'w mut W,
    input: TarInput<'w>,
    copy_buf: Vec<u8>,
    /// First path written for each hardlinked inode.
    first_link: HashMap<InodeId, &'w Path>,
    abort: &'w AtomicBool,
}

impl<'w, W: Write + ?Sized> TarStream<'w, W> {
    /// A stream writing to `out` (for callers that emit their own members, such as the
    /// ostree-container layers; [`write_layer_tar`] is the plain case).
    pub(crate) fn new(out: &'w mut W, input: TarInput<'w>, abort: &'w AtomicBool) -> Self {
        TarStream {
            out,
            input,
            copy_buf: vec![0; 1 << 20],
            first_link: HashMap::new(),
            abort,
        }
    }

    /// A member whose content is `bytes` (header, content, padding).
    pub(crate) fn member(&mut self, w: &Written, bytes: &[u8]) -> Result<()> {
        self.header(w)
            .and_then(|()| self.out.write_all(bytes))
            .and_then(|()| self.pad(bytes.len() as u64))
            .map_err(|e| write_err(self.input.tree, w.path, e))
    }

    /// A member whose content is the entry `e`'s, read through the input's content source.
    pub(crate) fn member_with_content(&mut self, w: &Written, e: &Entry) -> Result<()> {
        self.header(w)
            .map_err(|err| write_err(self.input.tree, w.path, err))?;
        self.content(e, None)
    }

    /// A member without content (a directory, symlink or hardlink).
    pub(crate) fn bare_member(&mut self, w: &Written) -> Result<()> {
        self.header(w)
            .map_err(|e| write_err(self.input.tree, w.path, e))
    }

    /// The two zero blocks that end an archive.
    pub(crate) fn finish(self) -> Result<()> {
        self.out
            .write_all(&[0; 2 * BLOCK])
            .map_err(|e| Error::io("writing layer for", &self.input.tree.root, e))
    }

    pub(crate) fn check_stop(&self) -> Result<()> {
        if interrupt::requested() {
            Err(Error::Interrupted)
        } else if self.abort.load(Ordering::Relaxed) {
            Err(Error::Aborted)
        } else {
            Ok(())
        }
    }

    /// Writes `e`; a regular file's content also goes through `hasher` when one is given.
    fn entry(&mut self, e: &'w Entry, hasher: Option<&mut ContentHasher>) -> Result<()> {
        let first = match e.hardlink {
            Some(id) if e.is_regular() => match self.first_link.get(&id) {
                Some(first) => Some(*first),
                None => {
                    self.first_link.insert(id, &e.path);
                    None
                }
            },
            _ => None,
        };
        let written = self.input.rules.written(e, first);
        self.header(&written)
            .map_err(|err| write_err(self.input.tree, &e.path, err))?;
        match written.kind {
            WrittenKind::Regular { .. } => self.content(e, hasher),
            _ => Ok(()),
        }
    }

    fn content(&mut self, e: &Entry, mut hasher: Option<&mut ContentHasher>) -> Result<()> {
        let full = self.input.tree.root.join(&e.path);
        let mut file = self.input.content.open(e)?;
        let mut left = e.size;
        while left > 0 {
            self.check_stop()?;
            let want = left.min(self.copy_buf.len() as u64) as usize;
            let n = match file.read(&mut self.copy_buf[..want]) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Error::io("reading", &full, err)),
            };
            if n == 0 {
                return Err(Error::invalid(
                    &full,
                    "file shrank during the build (the tree must not change while it is written)",
                ));
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&self.copy_buf[..n]);
            }
            self.out
                .write_all(&self.copy_buf[..n])
                .map_err(|err| write_err(self.input.tree, &e.path, err))?;
            left -= n as u64;
            if let Some(report) = self.input.on_content {
                report(n as u64);
            }
        }
        self.pad(e.size)
            .map_err(|err| write_err(self.input.tree, &e.path, err))
    }

    fn header(&mut self, w: &Written) -> io::Result<()> {
        let mut path = w.path.as_os_str().as_bytes().to_vec();
        let (kind, size, link) = match w.kind {
            WrittenKind::Regular { size } => (EntryType::Regular, size, None),
            WrittenKind::Directory => {
                path.push(b'/');
                (EntryType::Directory, 0, None)
            }
            WrittenKind::Symlink(t) => (EntryType::Symlink, 0, Some(t)),
            WrittenKind::Hardlink(t) => (EntryType::Link, 0, Some(t)),
        };
        let mut pax = Vec::new();
        let mut h = Header::new_ustar();
        if !set_ustar_path(&mut h, &path) {
            pax_record(&mut pax, b"path", &path);
            // The ustar field keeps a truncated copy for readers without PAX support.
            set_ustar_path(&mut h, truncate(&path, 100));
        }
        if let Some(link) = link {
            let link = link.as_os_str().as_bytes();
            if link.len() > 100 {
                pax_record(&mut pax, b"linkpath", link);
            }
            ustar_field(
                &mut h.as_ustar_mut().expect("ustar").linkname,
                truncate(link, 100),
            );
        }
        for (name, value) in &w.xattrs {
            if !rechunk_tree::xattr_name_fits_tar(name) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "extended attribute name {:?} holds '=' (or is empty): a tar PAX record \
                         cannot carry it unambiguously",
                        name
                    ),
                ));
            }
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name.as_bytes());
            pax_record(&mut pax, &key, value);
        }
        // ustar's field holds 0 ..= 8^11 − 1 seconds; an mtime outside (before 1970, after
        // 2242) goes in a PAX record, which readers prefer, as GNU tar and Go's archive/tar do.
        let mtime = if (0..=USTAR_MAX_MTIME).contains(&w.mtime) {
            w.mtime as u64
        } else {
            pax_record(&mut pax, b"mtime", w.mtime.to_string().as_bytes());
            w.mtime.clamp(0, USTAR_MAX_MTIME) as u64
        };
        if !pax.is_empty() {
            let mut x = Header::new_ustar();
            let mut name = b"PaxHeaders/".to_vec();
            let base = path.rsplit(|&b| b == b'/').find(|s| !s.is_empty());
            name.extend_from_slice(base.unwrap_or(b"entry"));
            set_ustar_path(&mut x, truncate(&name, 100));
            x.set_entry_type(EntryType::XHeader);
            fill_common(&mut x, 0o644, 0, 0, pax.len() as u64, mtime);
            self.out.write_all(x.as_bytes())?;
            self.out.write_all(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        h.set_entry_type(kind);
        fill_common(&mut h, w.mode, w.uid, w.gid, size, mtime);
        self.out.write_all(h.as_bytes())
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }
}

fn fill_common(h: &mut Header, mode: u32, uid: u32, gid: u32, size: u64, mtime: u64) {
    h.set_mode(mode);
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_size(size);
    h.set_mtime(mtime);
    if let Some(u) = h.as_ustar_mut() {
        // Explicit zeros rather than empty fields: some readers insist on octal digits.
        u.dev_major = *b"0000000\0";
        u.dev_minor = *b"0000000\0";
    }
    h.set_cksum();
}

/// Stores `path` in ustar's name (and prefix) fields; false when it does not fit.
fn set_ustar_path(h: &mut Header, path: &[u8]) -> bool {
    let u = h.as_ustar_mut().expect("ustar header");
    if path.len() <= 100 {
        ustar_field(&mut u.name, path);
        return true;
    }
    // Split at a `/` so that prefix ≤ 155 and name ≤ 100 (the trailing `/` of a directory
    // stays in the name).
    let search_end = path.len().saturating_sub(1);
    for (i, &b) in path[..search_end].iter().enumerate().rev() {
        if b != b'/' {
            continue;
        }
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        if name.len() > 100 {
            break;
        }
        if prefix.len() <= 155 && !prefix.is_empty() {
            ustar_field(&mut u.prefix, prefix);
            ustar_field(&mut u.name, name);
            return true;
        }
    }
    false
}

fn ustar_field(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    field[..value.len()].copy_from_slice(value);
}

fn truncate(b: &[u8], max: usize) -> &[u8] {
    &b[..b.len().min(max)]
}

/// Appends one PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts the whole record
/// including its own digits.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn write_err(tree: &Tree, path: &Path, e: io::Error) -> Error {
    Error::io("writing the layer entry for", tree.root.join(path), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut v = Vec::new();
        pax_record(&mut v, b"path", b"a");
        assert_eq!(v, b"9 path=a\n");
        let mut v = Vec::new();
        pax_record(&mut v, b"mtime", b"1432668921.098285006");
        assert_eq!(v, b"30 mtime=1432668921.098285006\n");
        // 98 bytes of body plus 2 digits would be 100: three digits are needed.
        let mut v = Vec::new();
        let value = vec![b'x'; 91];
        pax_record(&mut v, b"path", &value);
        assert_eq!(v.len(), 101);
        assert!(v.starts_with(b"101 path="));
    }

    #[test]
    fn long_paths_split_at_a_slash_or_refuse() {
        let mut h = Header::new_ustar();
        let long = format!("{}/{}", "a".repeat(120), "b".repeat(90));
        assert!(set_ustar_path(&mut h, long.as_bytes()));
        assert_eq!(h.path_bytes().as_ref(), long.as_bytes());
        let too_long = "c".repeat(150);
        assert!(!set_ustar_path(&mut h, too_long.as_bytes()));
    }
}
