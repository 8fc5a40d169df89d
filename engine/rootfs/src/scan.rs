//! The walk: records every entry of a root filesystem without ever leaving it.
//!
//! Directories are opened relative to their parent's descriptor with `O_NOFOLLOW`, entries are
//! examined with `statx(AT_SYMLINK_NOFOLLOW)` and extended attributes are read through
//! `/proc/self/fd/<dir>/<name>` with the `l*xattr` calls, so no path is ever resolved through a
//! symlink and nothing outside the root can be reached even if the tree changes under us.
//! Every directory is one task of a rayon scope, spawned by its parent's task: the walk is
//! iterative (no stack frame per level, so a tree thousands of directories deep is walked like
//! any other) and directories are read in parallel; the result is sorted by path.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Statx, StatxAttributes, StatxFlags, CWD};
use rustix::io::Errno;

use rechunk_tree::belongs::{self, SkipReason, Skipped};
use rechunk_tree::path_order;

use crate::error::{Error, Warning, WarningKind};
use crate::{Entry, EntryKind, InodeId, Tree};

/// What the walk needs to know.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// Leave out sockets, FIFOs and device nodes (with a warning) instead of failing.
    pub skip_special_files: bool,
    /// Leave out unreadable paths (with a warning) instead of failing.
    pub keep_going: bool,
    /// Incremented once per entry recorded, for a progress display.
    pub progress: Option<Arc<AtomicU64>>,
}

/// A finished walk.
#[derive(Debug, Default)]
pub struct Scan {
    pub tree: Tree,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<Warning>,
}

/// Shared state of one walk.
struct Walk<'a> {
    root: &'a Path,
    opts: &'a ScanOptions,
    skipped: Mutex<Vec<Skipped>>,
    warnings: Mutex<Vec<Warning>>,
    /// `/proc/self/fd` is usable: xattrs are read through it.
    procfs: bool,
    /// What every directory task recorded.
    found: Mutex<Vec<Vec<Entry>>>,
    /// The first error; once set, the tasks still queued do nothing.
    error: Mutex<Option<Error>>,
    failed: AtomicBool,
}

/// Walks `root` and records every entry; see the module doc for the guarantees.
pub fn scan(root: &Path, opts: &ScanOptions) -> Result<Scan, Error> {
    // Messages name full paths; symlinks in the root's own path are the user's choice.
    let root = &std::path::absolute(root)
        .map_err(|e| Error::io(root, "resolving the root filesystem path", e))?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root_fd = rustix::fs::openat(CWD, root, flags, Mode::empty())
        .map_err(|e| Error::io(root, "opening the root filesystem", e.into()))?;
    check_boot(&root_fd, root)?;
    let walk = Walk {
        root,
        opts,
        skipped: Mutex::new(Vec::new()),
        warnings: Mutex::new(Vec::new()),
        procfs: Path::new("/proc/self/fd").is_dir(),
        found: Mutex::new(Vec::new()),
        error: Mutex::new(None),
        failed: AtomicBool::new(false),
    };
    let root_fd = Arc::new(root_fd);
    rayon::scope(|s| walk.dir(s, &root_fd, PathBuf::new()));
    if let Some(err) = walk.error.into_inner().unwrap_or(None) {
        return Err(err);
    }
    let mut entries: Vec<Entry> = walk
        .found
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    entries.par_sort_unstable_by(|a, b| path_order(&a.path, &b.path));
    let mut skipped = walk.skipped.into_inner().unwrap_or_default();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let mut warnings = walk.warnings.into_inner().unwrap_or_default();
    warnings.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Scan {
        tree: Tree {
            root: root.to_owned(),
            entries,
        },
        skipped,
        warnings,
    })
}

/// bootc lint: a bootable image ships an empty /boot; refuse one with content, naming it.
fn check_boot(root_fd: &OwnedFd, root: &Path) -> Result<(), Error> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(boot) = rustix::fs::openat(root_fd, "boot", flags, Mode::empty()) else {
        return Ok(()); // absent, or a symlink we do not follow: nothing is in it
    };
    let path = root.join("boot");
    let names = read_names(&boot).map_err(|e| Error::io(&path, "listing", e.into()))?;
    if names.is_empty() {
        return Ok(());
    }
    let names = names
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    Err(belongs::boot_not_empty(path, names).into())
}

fn read_names(fd: &OwnedFd) -> rustix::io::Result<Vec<OsString>> {
    let mut dir = Dir::read_from(fd)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let bytes = entry?.file_name().to_bytes().to_vec();
        if bytes != b"." && bytes != b".." {
            names.push(OsString::from_vec(bytes));
        }
    }
    Ok(names)
}

/// What to do with one directory entry after looking at it.
enum Visit {
    Record(Entry),
    /// A directory to record and descend into.
    Descend(Entry),
    Skip,
}

impl Walk<'_> {
    fn full(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    fn skip(&self, path: &Path, reason: SkipReason) {
        if let Ok(mut v) = self.skipped.lock() {
            v.push(Skipped {
                path: path.to_owned(),
                reason,
            });
        }
    }

    fn warn(&self, kind: WarningKind, path: PathBuf, message: impl Into<String>) {
        if let Ok(mut v) = self.warnings.lock() {
            v.push(Warning {
                kind,
                path,
                message: message.into(),
            });
        }
    }

    /// An error, or with keep_going a warning and a skip.
    fn fail_or_skip(&self, rel: &Path, err: Error) -> Result<Visit, Error> {
        if !self.opts.keep_going {
            return Err(err);
        }
        self.warn(WarningKind::Skipped, self.full(rel), err.to_string());
        self.skip(rel, SkipReason::Unreadable);
        Ok(Visit::Skip)
    }

    /// Records the entries of directory `fd` (at `rel`) and spawns a task for each
    /// subdirectory; a failure is kept as the walk's error.
    fn dir<'s>(&'s self, s: &rayon::Scope<'s>, fd: &Arc<OwnedFd>, rel: PathBuf) {
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        match self.entries_of(fd, &rel) {
            Ok((entries, subdirs)) => {
                if let Ok(mut found) = self.found.lock() {
                    found.push(entries);
                }
                for (name, sub) in subdirs {
                    let parent = fd.clone();
                    s.spawn(move |s| self.subdir(s, &parent, &name, sub));
                }
            }
            Err(err) => self.fail(err),
        }
    }

    /// The entries of directory `fd` (at `rel`), and its subdirectories to descend into.
    #[allow(clippy::type_complexity)]
    fn entries_of(
        &self,
        fd: &OwnedFd,
        rel: &Path,
    ) -> Result<(Vec<Entry>, Vec<(OsString, PathBuf)>), Error> {
        let names = match read_names(fd) {
            Ok(names) => names,
            Err(e) => {
                let err = Error::io(self.full(rel), "listing directory", e.into());
                self.fail_or_skip(rel, err)?;
                return Ok((Vec::new(), Vec::new()));
            }
        };
        if names.iter().any(|n| n == belongs::CACHEDIR_TAG) && is_cachedir_tag(fd) {
            self.skip(rel, SkipReason::CacheDir);
            return Ok((Vec::new(), Vec::new()));
        }
        let mut entries = Vec::with_capacity(names.len());
        let mut subdirs = Vec::new();
        for name in names {
            match self.visit(fd, rel, &name)? {
                Visit::Record(e) => entries.push(e),
                Visit::Descend(e) => {
                    subdirs.push((name, e.path.clone()));
                    entries.push(e);
                }
                Visit::Skip => {}
            }
        }
        if let Some(p) = &self.opts.progress {
            p.fetch_add(entries.len() as u64, Ordering::Relaxed);
        }
        Ok((entries, subdirs))
    }

    fn subdir<'s>(&'s self, s: &rayon::Scope<'s>, parent: &OwnedFd, name: &OsStr, rel: PathBuf) {
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(parent, name, flags, Mode::empty()) {
            Ok(fd) => self.dir(s, &Arc::new(fd), rel),
            Err(e) => {
                let err = Error::io(self.full(&rel), "opening directory", e.into());
                if let Err(err) = self.fail_or_skip(&rel, err) {
                    self.fail(err);
                }
            }
        }
    }

    /// Keeps the first error of the walk and stops the tasks still queued.
    fn fail(&self, err: Error) {
        if let Ok(mut first) = self.error.lock() {
            first.get_or_insert(err);
        }
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Looks at one entry of directory `dirfd` without following it.
    fn visit(&self, dirfd: &OwnedFd, parent: &Path, name: &OsStr) -> Result<Visit, Error> {
        let rel = parent.join(name);
        let len = rel.as_os_str().len();
        if len > belongs::MAX_PATH {
            let path = self.full(&rel);
            return self.fail_or_skip(&rel, Error::PathTooLong { path, len });
        }
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
        let st = match rustix::fs::statx(dirfd, name, flags, StatxFlags::BASIC_STATS) {
            Ok(st) => st,
            Err(e) => return self.fail_or_skip(&rel, Error::io(self.full(&rel), "stat", e.into())),
        };
        let file_type = FileType::from_raw_mode(u32::from(st.stx_mode));
        let kind = match file_type {
            FileType::RegularFile => EntryKind::Regular,
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => match rustix::fs::readlinkat(dirfd, name, Vec::new()) {
                Ok(target) => {
                    EntryKind::Symlink(PathBuf::from(OsString::from_vec(target.into_bytes())))
                }
                Err(e) => {
                    let err = Error::io(self.full(&rel), "reading symlink", e.into());
                    return self.fail_or_skip(&rel, err);
                }
            },
            other => return self.special(&rel, other),
        };
        let xattrs = match self.xattrs(dirfd, name) {
            Ok(x) => x,
            Err(e) => {
                let err = Error::io(self.full(&rel), "reading extended attributes", e.into());
                return self.fail_or_skip(&rel, err);
            }
        };
        if let Some((name, _)) = xattrs
            .iter()
            .find(|(n, _)| !rechunk_tree::xattr_name_fits_tar(n))
        {
            let err = Error::XattrName {
                path: self.full(&rel),
                name: name.to_string_lossy().into_owned(),
            };
            return self.fail_or_skip(&rel, err);
        }
        if xattrs.iter().any(|(n, _)| n == belongs::SKIP_XATTR) {
            self.skip(&rel, SkipReason::SkipXattr);
            return Ok(Visit::Skip);
        }
        if kind == EntryKind::Regular && !world_readable(&st) {
            if let Err(e) =
                rustix::fs::accessat(dirfd, name, rustix::fs::Access::READ_OK, AtFlags::EACCESS)
            {
                let err = Error::io(self.full(&rel), "not readable", e.into());
                return self.fail_or_skip(&rel, err);
            }
        }
        let entry = make_entry(rel, kind, &st, xattrs);
        if is_mount_root(&st) {
            return Ok(self.mount_point(entry));
        }
        if entry.is_dir() {
            if belongs::is_volatile_dir(&entry.path) {
                self.skip(&entry.path, SkipReason::VolatileDir);
                return Ok(Visit::Record(entry));
            }
            return Ok(Visit::Descend(entry));
        }
        Ok(Visit::Record(entry))
    }

    /// Another filesystem mounted inside the root: keep a directory (empty), drop a file.
    fn mount_point(&self, entry: Entry) -> Visit {
        self.skip(&entry.path, SkipReason::MountPoint);
        if entry.is_dir() {
            Visit::Record(entry)
        } else {
            self.warn(
                WarningKind::Skipped,
                self.full(&entry.path),
                "a mount point (bind-mounted file); left out",
            );
            Visit::Skip
        }
    }

    fn special(&self, rel: &Path, file_type: FileType) -> Result<Visit, Error> {
        let kind = match file_type {
            FileType::Fifo => "FIFO",
            FileType::Socket => "socket",
            FileType::CharacterDevice => "character device",
            FileType::BlockDevice => "block device",
            _ => "file of unknown type",
        };
        let path = self.full(rel);
        if !self.opts.skip_special_files {
            return Err(Error::SpecialFile { path, kind });
        }
        self.warn(WarningKind::Skipped, path, format!("{kind} left out"));
        self.skip(rel, SkipReason::SpecialFile);
        Ok(Visit::Skip)
    }

    /// All extended attributes of `name` in `dirfd`, sorted by name, without following it.
    fn xattrs(
        &self,
        dirfd: &OwnedFd,
        name: &OsStr,
    ) -> rustix::io::Result<Vec<(OsString, Vec<u8>)>> {
        let path = if self.procfs {
            let mut p = format!("/proc/self/fd/{}/", dirfd.as_raw_fd()).into_bytes();
            p.extend_from_slice(name.as_bytes());
            PathBuf::from(OsString::from_vec(p))
        } else {
            // Without procfs the path is resolved from the root again; still never through a
            // final symlink (l*xattr), and the walk itself has checked every directory.
            self.root.join(name)
        };
        let names = match xattr_names(&path) {
            Ok(n) => n,
            // Filesystems without xattr support have none to keep.
            Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            match xattr_value(&path, &n) {
                Ok(v) => out.push((n, v)),
                Err(Errno::NODATA) => {} // removed since we listed it
                Err(e) => return Err(e),
            }
        }
        out.sort();
        Ok(out)
    }
}

fn is_cachedir_tag(dirfd: &OwnedFd) -> bool {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::openat(dirfd, belongs::CACHEDIR_TAG, flags, Mode::empty()) else {
        return false;
    };
    let mut buf = [0u8; belongs::CACHEDIR_SIGNATURE.len()];
    matches!(rustix::io::read(&fd, &mut buf), Ok(n) if belongs::is_cachedir_signature(&buf[..n]))
}

fn world_readable(st: &Statx) -> bool {
    u32::from(st.stx_mode) & 0o004 != 0
}

fn is_mount_root(st: &Statx) -> bool {
    st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
        && st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
}

fn make_entry(
    path: PathBuf,
    kind: EntryKind,
    st: &Statx,
    xattrs: Vec<(OsString, Vec<u8>)>,
) -> Entry {
    let regular = kind == EntryKind::Regular;
    let dev = (u64::from(st.stx_dev_major) << 32) | u64::from(st.stx_dev_minor);
    Entry {
        path,
        mode: u32::from(st.stx_mode) & 0o7777,
        uid: st.stx_uid,
        gid: st.stx_gid,
        size: if regular { st.stx_size } else { 0 },
        mtime: st.stx_mtime.tv_sec,
        xattrs,
        hardlink: (regular && st.stx_nlink > 1).then_some(InodeId {
            dev,
            ino: st.stx_ino,
        }),
        kind,
    }
}

fn xattr_names(path: &Path) -> rustix::io::Result<Vec<OsString>> {
    let mut buf = vec![0u8; 1024];
    let len = loop {
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(len) => break len,
            Err(Errno::RANGE) => {
                let need = rustix::fs::llistxattr_query(path)?;
                buf.resize(need.max(buf.len() * 2), 0);
            }
            Err(e) => return Err(e),
        }
    };
    Ok(buf[..len]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| OsString::from_vec(n.to_vec()))
        .collect())
}

fn xattr_value(path: &Path, name: &OsStr) -> rustix::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(buf);
            }
            Err(Errno::RANGE) => {
                let need = rustix::fs::lgetxattr_query(path, name)?;
                buf.resize(need.max(buf.len() * 2), 0);
            }
            Err(e) => return Err(e),
        }
    }
}
