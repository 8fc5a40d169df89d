//! Scratch space: staging directories and temporary files, removed when dropped.
//!
//! Beyond what `tempfile` does, each one
//! - holds an exclusive `flock` on itself for as long as it exists, which the kernel releases
//!   when the process dies, even by `kill -9`. The next [`ScratchDir::new_in`] /
//!   [`ScratchFile::new_in`] with the same prefix in the same directory removes the siblings
//!   whose lock is free (and whose mtime is [`STALE_AFTER`] old, so a sibling created an
//!   instant ago and not locked yet is left alone): an interrupted run leaves nothing behind
//!   for long. A filesystem without `flock` keeps them (nothing is removed that cannot be shown
//!   to be dead).
//! - is listed in a process-wide registry, so that a second Ctrl-C, which must exit at once,
//!   can still remove them ([`remove_registered`]) before the process goes.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rustix::fs::{FlockOperation, Mode, OFlags};

/// A free-locked sibling is only removed once it has been left alone this long.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
/// Random characters in a scratch name (tempfile's alphabet: ASCII letters and digits).
const RAND_LEN: usize = 10;

static REGISTERED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A directory that is removed when dropped (unless [`ScratchDir::disarm`]ed after it was
/// renamed into place).
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    _lock: Option<File>,
    armed: bool,
}

impl ScratchDir {
    /// Creates `parent/<prefix><random>`, after removing dead siblings of the same prefix.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<ScratchDir> {
        remove_stale(parent, prefix, "");
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .rand_bytes(RAND_LEN)
            .tempdir_in(parent)?;
        let lock = lock(dir.path());
        let path = dir.keep();
        register(&path);
        Ok(ScratchDir {
            path,
            _lock: lock,
            armed: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory has been renamed away (it is the output now): do not remove it.
    pub fn disarm(mut self) {
        self.armed = false;
        unregister(&self.path);
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = remove_tree(&self.path);
            unregister(&self.path);
        }
    }
}

/// A temporary file that is removed when dropped, unless [`ScratchFile::persist`]ed.
#[derive(Debug)]
pub struct ScratchFile {
    /// `None` only once persisted.
    file: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl ScratchFile {
    /// Creates `parent/<prefix><random><suffix>` (mode 0666 less the umask), after removing
    /// dead siblings of the same prefix and suffix.
    pub fn new_in(parent: &Path, prefix: &str, suffix: &str) -> io::Result<ScratchFile> {
        use std::os::unix::fs::PermissionsExt;
        remove_stale(parent, prefix, suffix);
        let file = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(suffix)
            .rand_bytes(RAND_LEN)
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(parent)?;
        // Best effort, as for directories: without flock the file is only never reclaimed.
        let _ = rustix::fs::flock(file.as_file(), FlockOperation::NonBlockingLockExclusive);
        let path = file.path().to_path_buf();
        register(&path);
        Ok(ScratchFile {
            file: Some(file),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn as_file(&self) -> &File {
        self.inner().as_file()
    }

    pub fn as_file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .map(tempfile::NamedTempFile::as_file_mut)
            .unwrap_or_else(|| unreachable!("a ScratchFile is only emptied by persist"))
    }

    fn inner(&self) -> &tempfile::NamedTempFile {
        self.file
            .as_ref()
            .unwrap_or_else(|| unreachable!("a ScratchFile is only emptied by persist"))
    }

    /// Renames the file to `dest` (replacing what is there; see [`crate::check_output_file`]
    /// for what a caller should refuse first).
    pub fn persist(mut self, dest: &Path) -> io::Result<File> {
        let Some(file) = self.file.take() else {
            unreachable!("a ScratchFile is only emptied by persist")
        };
        match file.persist(dest) {
            Ok(f) => {
                unregister(&self.path);
                Ok(f)
            }
            Err(e) => {
                self.file = Some(e.file);
                Err(e.error)
            }
        }
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        // The NamedTempFile, if still here, removes the file itself.
        unregister(&self.path);
    }
}

/// Removes every registered scratch directory and file now, from whatever thread: for a
/// process about to exit without unwinding (a second Ctrl-C). Returns what was removed.
pub fn remove_registered() -> Vec<PathBuf> {
    let paths = match REGISTERED.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(_) => return Vec::new(),
    };
    paths
        .into_iter()
        .filter(|p| remove_tree(p).is_ok_and(|removed| removed))
        .collect()
}

/// The scratch paths registered now (for tests).
pub fn registered() -> Vec<PathBuf> {
    REGISTERED.lock().map(|v| v.clone()).unwrap_or_default()
}

fn register(path: &Path) {
    if let Ok(mut v) = REGISTERED.lock() {
        v.push(path.to_path_buf());
    }
}

fn unregister(path: &Path) {
    if let Ok(mut v) = REGISTERED.lock() {
        v.retain(|p| p != path);
    }
}

/// Locks `path` (a directory) for as long as the returned descriptor is open.
fn lock(path: &Path) -> Option<File> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).ok()?;
    rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(File::from(fd))
}

/// Removes `parent`'s entries named `<prefix><RAND_LEN random><suffix>` whose lock is free and
/// that have not changed for [`STALE_AFTER`]. Best effort: anything unclear is kept.
pub fn remove_stale(parent: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    remove_stale_after(parent, prefix, suffix, STALE_AFTER)
}

fn remove_stale_after(parent: &Path, prefix: &str, suffix: &str, after: Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rand) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(suffix))
        else {
            continue;
        };
        if rand.len() != RAND_LEN || !rand.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let path = entry.path();
        if is_stale(&path, after) && remove_tree(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

fn is_stale(path: &Path, after: Duration) -> bool {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let Ok(fd) = rustix::fs::open(path, flags, Mode::empty()) else {
        return false;
    };
    let Ok(st) = rustix::fs::fstat(&fd) else {
        return false;
    };
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if !matches!(
        kind,
        rustix::fs::FileType::Directory | rustix::fs::FileType::RegularFile
    ) {
        return false;
    }
    let changed =
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(st.st_mtime).unwrap_or(0));
    let old = SystemTime::now()
        .duration_since(changed)
        .is_ok_and(|age| age >= after);
    // Taking the lock proves no live process holds it; it is dropped with `fd`.
    old && rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok()
}

/// Removes a directory tree or a file; `Ok(false)` when it was already gone. A directory that
/// gains entries while it is removed (writers still running) is tried again a few times.
fn remove_tree(path: &Path) -> io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path).map(|()| true);
    }
    let mut last = Ok(true);
    for _ in 0..5 {
        last = match std::fs::remove_dir_all(path) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => Err(e),
        };
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tests::serial;

    #[test]
    fn dropped_scratch_is_removed_and_unregistered() {
        let _serial = serial();
        let parent = tempfile::tempdir().unwrap();
        let d = ScratchDir::new_in(parent.path(), ".x.rechunk-").unwrap();
        std::fs::write(d.path().join("blob"), b"1").unwrap();
        let path = d.path().to_path_buf();
        assert!(registered().contains(&path));
        drop(d);
        assert!(!path.exists());
        assert!(!registered().contains(&path));
        let f = ScratchFile::new_in(parent.path(), ".y.", ".tmp").unwrap();
        let fpath = f.path().to_path_buf();
        assert!(registered().contains(&fpath));
        f.persist(&parent.path().join("y")).unwrap();
        assert!(!registered().contains(&fpath));
        assert!(parent.path().join("y").is_file());
    }

    #[test]
    fn only_dead_scratch_of_the_same_name_pattern_is_removed() {
        let _serial = serial();
        let parent = tempfile::tempdir().unwrap();
        let live = ScratchDir::new_in(parent.path(), ".img.rechunk-").unwrap();
        let live_file = ScratchFile::new_in(parent.path(), ".img.rechunk-", ".tmp").unwrap();
        // A dead run's directory and file (same patterns, nobody holds their lock).
        let dead = parent.path().join(".img.rechunk-AbCdEfGh12");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("blob"), b"x").unwrap();
        let dead_file = parent.path().join(".img.rechunk-AbCdEfGh12.tmp");
        std::fs::write(&dead_file, b"x").unwrap();
        // Look-alikes: another prefix, another random length.
        let other = parent.path().join(".imgx.rechunk-AbCdEfGh12");
        std::fs::create_dir(&other).unwrap();
        let short = parent.path().join(".img.rechunk-short");
        std::fs::create_dir(&short).unwrap();
        // Not old enough yet: kept.
        assert!(remove_stale(parent.path(), ".img.rechunk-", "").is_empty());
        let removed = remove_stale_after(parent.path(), ".img.rechunk-", "", Duration::ZERO);
        assert_eq!(removed, vec![dead.clone()]);
        let removed = remove_stale_after(parent.path(), ".img.rechunk-", ".tmp", Duration::ZERO);
        assert_eq!(removed, vec![dead_file.clone()]);
        assert!(live.path().exists() && live_file.path().exists());
        assert!(other.exists() && short.exists());
    }

    #[test]
    fn remove_registered_takes_everything_registered() {
        let _serial = serial();
        let parent = tempfile::tempdir().unwrap();
        let d = ScratchDir::new_in(parent.path(), ".z.rechunk-").unwrap();
        std::fs::create_dir_all(d.path().join("blobs/sha256")).unwrap();
        let f = ScratchFile::new_in(parent.path(), ".z.", ".tmp").unwrap();
        let (path, fpath) = (d.path().to_path_buf(), f.path().to_path_buf());
        let removed = remove_registered();
        assert!(
            removed.contains(&path) && removed.contains(&fpath),
            "{removed:?}"
        );
        assert!(!path.exists() && !fpath.exists());
        drop((d, f)); // already gone: nothing to do
    }
}
