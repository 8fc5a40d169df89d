//! The reproducible layer tar format.
//!
//! One fixed format so that the same entries always give the same bytes: POSIX ustar headers,
//! PAX extended headers only where ustar cannot say it (long paths and link targets, xattrs as
//! `SCHILY.xattr.NAME`), numeric uid/gid with empty user and group names, zero device numbers,
//! no atime/ctime, directories with a trailing `/`, file and symlink mtimes clamped to
//! `SOURCE_DATE_EPOCH` when it is set, and every directory at mtime [`DIR_MTIME`]. Hardlinks are
//! tar hardlinks to the first path of their set in the layer.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rechunk_rootfs::{Entry, EntryKind, InodeId, Tree};
use tar::{EntryType, Header};

use crate::interrupt;
use crate::root::RootDir;
use crate::{Error, Result};

const BLOCK: usize = 512;
/// Mode, owner and mtime of a directory a layer needs but the tree does not list (only
/// possible with hand-made trees: a scan lists every directory).
const SYNTHETIC_DIR_MODE: u32 = 0o755;
/// The mtime every directory is written with. A directory's real mtime changes whenever any
/// package adds or removes a name in it, and `/usr/lib` sits in nearly every layer: keeping it
/// would give every layer a new digest on every build, whatever the plan. ostree does the same
/// (it stores no directory mtimes).
pub const DIR_MTIME: i64 = 0;

/// One path of a layer, in the layer's path order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    /// An entry of the tree, by index.
    Entry(usize),
    /// A parent directory that the tree does not list: root-owned, 0755, mtime 0.
    SyntheticDir(PathBuf),
}

/// How mtimes are written, and who hears about progress.
#[derive(Clone, Copy, Default)]
pub struct TarOptions<'a> {
    /// `SOURCE_DATE_EPOCH`: later mtimes are written as this value.
    pub clamp_mtime: Option<i64>,
    /// Called with the number of file content bytes each time a chunk (≤ 1 MiB) is written.
    pub on_content: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// Writes the tar stream of `members` (sorted by path, parents first) to `out`, file contents
/// read through `root`. Returns the number of regular-file content bytes written.
///
/// Stops with [`Error::Interrupted`] on Ctrl-C, and with [`Error::Aborted`] once `abort` is set
/// (another layer failed: no point finishing this one).
pub fn write_layer_tar<W: Write>(
    out: &mut W,
    tree: &Tree,
    root: &RootDir,
    members: &[Member],
    opts: TarOptions<'_>,
    abort: &AtomicBool,
) -> Result<u64> {
    let mut tar = TarStream {
        out,
        copy_buf: vec![0; 1 << 20],
        first_link: HashMap::new(),
        abort,
    };
    let mut content = 0;
    for member in members {
        tar.check_stop()?;
        match member {
            Member::Entry(i) => {
                content += tar.entry(&tree.entries[*i], root, opts)?;
            }
            Member::SyntheticDir(path) => {
                let h = HeaderSpec {
                    path: dir_name(path),
                    kind: EntryType::Directory,
                    mode: SYNTHETIC_DIR_MODE,
                    uid: 0,
                    gid: 0,
                    size: 0,
                    mtime: DIR_MTIME,
                    link: None,
                    xattrs: &[],
                };
                tar.header(&h).map_err(|e| write_err(root, path, e))?;
            }
        }
    }
    // End of archive: two zero blocks.
    tar.out
        .write_all(&[0; 2 * BLOCK])
        .map_err(|e| Error::io("writing layer for", root.path(), e))?;
    Ok(content)
}

struct TarStream<'w, W> {
    out: &'w mut W,
    copy_buf: Vec<u8>,
    /// First path written for each hardlinked inode.
    first_link: HashMap<InodeId, Vec<u8>>,
    abort: &'w AtomicBool,
}

struct HeaderSpec<'a> {
    path: Vec<u8>,
    kind: EntryType,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    link: Option<Vec<u8>>,
    xattrs: &'a [(std::ffi::OsString, Vec<u8>)],
}

impl<W: Write> TarStream<'_, W> {
    fn check_stop(&self) -> Result<()> {
        if interrupt::requested() {
            Err(Error::Interrupted)
        } else if self.abort.load(Ordering::Relaxed) {
            Err(Error::Aborted)
        } else {
            Ok(())
        }
    }

    fn entry(&mut self, e: &Entry, root: &RootDir, opts: TarOptions<'_>) -> Result<u64> {
        let mtime = match opts.clamp_mtime {
            Some(epoch) => e.mtime.min(epoch),
            None => e.mtime,
        };
        let mut spec = HeaderSpec {
            path: e.path.as_os_str().as_bytes().to_vec(),
            kind: EntryType::Regular,
            mode: e.mode & 0o7777,
            uid: e.uid,
            gid: e.gid,
            size: 0,
            mtime,
            link: None,
            xattrs: &e.xattrs,
        };
        let io_err = |err| write_err(root, &e.path, err);
        match &e.kind {
            EntryKind::Directory => {
                spec.path = dir_name(&e.path);
                spec.kind = EntryType::Directory;
                spec.mtime = DIR_MTIME;
                self.header(&spec).map_err(io_err)?;
                Ok(0)
            }
            EntryKind::Symlink(target) => {
                spec.kind = EntryType::Symlink;
                spec.link = Some(target.as_os_str().as_bytes().to_vec());
                self.header(&spec).map_err(io_err)?;
                Ok(0)
            }
            EntryKind::Regular => {
                if let Some(id) = e.hardlink {
                    if let Some(first) = self.first_link.get(&id) {
                        spec.kind = EntryType::Link;
                        spec.link = Some(first.clone());
                        // The inode's xattrs travel with its first path only.
                        spec.xattrs = &[];
                        self.header(&spec).map_err(io_err)?;
                        return Ok(0);
                    }
                    self.first_link.insert(id, spec.path.clone());
                }
                spec.size = e.size;
                self.header(&spec).map_err(io_err)?;
                self.content(root, e, opts.on_content)?;
                Ok(e.size)
            }
        }
    }

    fn content(
        &mut self,
        root: &RootDir,
        e: &Entry,
        on_content: Option<&(dyn Fn(u64) + Sync)>,
    ) -> Result<()> {
        let full = root.path().join(&e.path);
        let mut file = root.open_regular(&e.path, e.size)?;
        let mut left = e.size;
        while left > 0 {
            self.check_stop()?;
            let want = left.min(self.copy_buf.len() as u64) as usize;
            let n = file
                .read(&mut self.copy_buf[..want])
                .map_err(|err| Error::io("reading", &full, err))?;
            if n == 0 {
                return Err(Error::invalid(
                    &full,
                    "file shrank during the build (the tree must not change while it is written)",
                ));
            }
            self.out
                .write_all(&self.copy_buf[..n])
                .map_err(|err| write_err(root, &e.path, err))?;
            left -= n as u64;
            if let Some(report) = on_content {
                report(n as u64);
            }
        }
        self.pad(e.size)
            .map_err(|err| write_err(root, &e.path, err))
    }

    fn header(&mut self, spec: &HeaderSpec) -> io::Result<()> {
        let mut pax = Vec::new();
        let mut h = Header::new_ustar();
        if !set_ustar_path(&mut h, &spec.path) {
            pax_record(&mut pax, b"path", &spec.path);
            // The ustar field keeps a truncated copy for readers without PAX support.
            set_ustar_path(&mut h, truncate(&spec.path, 100));
        }
        if let Some(link) = &spec.link {
            if link.len() > 100 {
                pax_record(&mut pax, b"linkpath", link);
            }
            ustar_field(
                &mut h.as_ustar_mut().expect("ustar").linkname,
                truncate(link, 100),
            );
        }
        for (name, value) in spec.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name.as_bytes());
            pax_record(&mut pax, &key, value);
        }
        let mtime = spec.mtime.max(0) as u64;
        if !pax.is_empty() {
            let mut x = Header::new_ustar();
            let mut name = b"PaxHeaders/".to_vec();
            let base = spec.path.rsplit(|&b| b == b'/').find(|s| !s.is_empty());
            name.extend_from_slice(base.unwrap_or(b"entry"));
            set_ustar_path(&mut x, truncate(&name, 100));
            x.set_entry_type(EntryType::XHeader);
            fill_common(&mut x, 0o644, 0, 0, pax.len() as u64, mtime);
            self.out.write_all(x.as_bytes())?;
            self.out.write_all(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        h.set_entry_type(spec.kind);
        fill_common(&mut h, spec.mode, spec.uid, spec.gid, spec.size, mtime);
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

fn dir_name(path: &Path) -> Vec<u8> {
    let mut p = path.as_os_str().as_bytes().to_vec();
    p.push(b'/');
    p
}

fn write_err(root: &RootDir, path: &Path, e: io::Error) -> Error {
    Error::io("writing the layer entry for", root.path().join(path), e)
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
