//! Reading file contents out of a root directory without ever leaving it.
//!
//! A scan recorded every path; here we only open regular files by those relative paths, and no
//! symlink is ever followed (not in the middle of a path, not at its end), so a rootfs whose
//! symlinks point outside it (`/etc/resolv.conf -> /run/...`, or a hostile `x -> /`) cannot
//! make us read host files. Linux's `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` does it in
//! one call; where it is missing or filtered (old kernels, seccomp) we walk the path one
//! component at a time with `O_NOFOLLOW`.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::{ContentSource, Entry, Error};

/// An open root directory to read entries from.
#[derive(Debug)]
pub struct DirSource {
    fd: OwnedFd,
    path: PathBuf,
    /// Cleared the first time `openat2` turns out to be unavailable.
    openat2: AtomicBool,
}

impl DirSource {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let fd = rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening root directory", path, e.into()))?;
        Ok(DirSource {
            fd,
            path: path.to_path_buf(),
            openat2: AtomicBool::new(true),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the regular file at `rel` (relative to the root) for reading and checks that it is
    /// still a regular file of `expected_size` bytes, as the scan saw it.
    pub fn open_regular(&self, rel: &Path, expected_size: u64) -> Result<File, Error> {
        let full = self.path.join(rel);
        check_relative(rel, &full)?;
        let fd = self.open_nofollow(rel).map_err(|e| match e {
            Errno::LOOP | Errno::XDEV => Error::invalid(
                &full,
                "a path component is a symlink; refusing to follow it out of the tree",
            ),
            e => Error::io("opening", &full, e.into()),
        })?;
        let st = rfs::fstat(&fd).map_err(|e| Error::io("reading metadata of", &full, e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::invalid(
                &full,
                "is no longer a regular file (the tree changed during the build)",
            ));
        }
        if st.st_size as u64 != expected_size {
            return Err(Error::invalid(
                &full,
                format!(
                    "changed size during the build: scanned {expected_size} bytes, now {}",
                    st.st_size
                ),
            ));
        }
        Ok(File::from(fd))
    }

    fn open_nofollow(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        // O_NONBLOCK: a FIFO swapped in for a scanned file opens at once (and is refused by
        // the type check after it) instead of blocking the build until some writer appears;
        // reads of regular files ignore the flag.
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        if self.openat2.load(Ordering::Relaxed) {
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rfs::openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
                Err(Errno::NOSYS | Errno::PERM | Errno::INVAL) => {
                    self.openat2.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.walk_open(rel, flags)
    }

    /// The portable path: each directory opened with `O_NOFOLLOW | O_DIRECTORY`.
    fn walk_open(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
        let mut parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
        let last = parts.pop().ok_or(Errno::INVAL)?;
        let mut dir: Option<OwnedFd> = None;
        for part in parts {
            let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let next = match &dir {
                Some(d) => rfs::openat(d, part, dir_flags, Mode::empty())?,
                None => rfs::openat(&self.fd, part, dir_flags, Mode::empty())?,
            };
            dir = Some(next);
        }
        match &dir {
            Some(d) => rfs::openat(d, last, flags, Mode::empty()),
            None => rfs::openat(&self.fd, last, flags, Mode::empty()),
        }
    }
}

impl ContentSource for DirSource {
    fn open(&self, entry: &Entry) -> Result<Box<dyn Read + Send + '_>, Error> {
        Ok(Box::new(self.open_regular(&entry.path, entry.size)?))
    }

    fn local_path(&self, entry: &Entry) -> Option<PathBuf> {
        Some(self.path.join(&entry.path))
    }
}

/// Only plain relative paths: no root, no `.`, no `..`.
fn check_relative(rel: &Path, full: &Path) -> Result<(), Error> {
    let ok = rel.components().next().is_some()
        && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            full,
            "entry path must be relative to the root without `.` or `..`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn reads_inside_and_refuses_symlinks_and_escapes() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"host").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/f"), b"hello").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink("d/f", root.path().join("link")).unwrap();

        let dir = DirSource::open(root.path()).unwrap();
        let mut s = String::new();
        dir.open_regular(Path::new("d/f"), 5)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        assert!(dir.open_regular(Path::new("out/secret"), 4).is_err());
        assert!(dir.open_regular(Path::new("link"), 5).is_err());
        assert!(dir.open_regular(Path::new("../x"), 0).is_err());
        let err = dir.open_regular(Path::new("d/f"), 4).unwrap_err();
        assert!(err.to_string().contains("changed size"), "{err}");

        // A FIFO where the scan saw a file: refused at once, not waited on.
        rustix::fs::mkfifoat(rustix::fs::CWD, root.path().join("d/p"), Mode::RUSR).unwrap();
        let err = dir.open_regular(Path::new("d/p"), 0).unwrap_err();
        assert!(
            err.to_string().contains("no longer a regular file"),
            "{err}"
        );

        // The portable fallback refuses the same things.
        dir.openat2.store(false, Ordering::Relaxed);
        assert!(dir.open_regular(Path::new("d/f"), 5).is_ok());
        assert!(dir.open_regular(Path::new("out/secret"), 4).is_err());
        assert!(dir.open_regular(Path::new("link"), 5).is_err());
    }
}
