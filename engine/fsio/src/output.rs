//! Output files: written to a new temporary file in the destination's directory and renamed
//! into place.
//!
//! The temporary file is created with `O_EXCL` (a symlink planted at its name fails the
//! creation), and `rename(2)` replaces the destination's directory entry, never what a symlink
//! there points to. A destination that exists and is not a regular file is refused, checked
//! before anything is written and again just before the rename: a symlink (replacing it would
//! surprise whoever planted it as much as writing through it), a device node (`--output
//! /dev/null` as root must not replace the device), a FIFO, a socket, a directory. Several
//! files that belong together ([`StagedSet`]) are all written before the first is renamed, so
//! a full disk leaves the previous set whole.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::scratch::ScratchFile;

/// Refuses an existing `path` that is not a regular file; a missing one is fine.
pub fn check_output_file(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(what) = crate::input::kind_of(meta.file_type()) else {
        return Ok(());
    };
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("exists and is {what}; refusing to replace it (only a regular file is replaced)"),
    ))
}

/// A file being written: a temporary file next to `dest`, renamed to it by
/// [`StagedFile::commit`]; dropped uncommitted, it is removed and `dest` is untouched.
#[derive(Debug)]
pub struct StagedFile {
    out: BufWriter<File>,
    tmp: ScratchFile,
    dest: PathBuf,
}

impl StagedFile {
    /// Checks `dest` ([`check_output_file`]) and creates the temporary file beside it. Errors
    /// are the bare cause; callers name `dest`.
    pub fn create(dest: &Path) -> io::Result<StagedFile> {
        check_output_file(dest)?;
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let prefix = format!(".{}.rechunk-", name.to_string_lossy());
        let tmp = ScratchFile::new_in(dir, &prefix, ".tmp")?;
        let out = BufWriter::with_capacity(1 << 16, tmp.as_file().try_clone()?);
        Ok(StagedFile {
            out,
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Where it will be.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The temporary file being written.
    pub fn staged_path(&self) -> &Path {
        self.tmp.path()
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(self) -> io::Result<()> {
        self.commit_with(true)
    }

    /// [`StagedFile::commit`] without the `fsync`: for many small files of a cache, where a
    /// sync each would dominate and a crash costs a rebuild, not a report.
    pub fn commit_unsynced(self) -> io::Result<()> {
        self.commit_with(false)
    }

    fn commit_with(self, sync: bool) -> io::Result<()> {
        let StagedFile { out, tmp, dest } = self;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if sync {
            file.sync_all()?;
        }
        check_output_file(&dest)?;
        tmp.persist(&dest)?;
        Ok(())
    }

    /// Everything but the rename: what [`StagedSet::commit`] does first for every file.
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes `bytes` to `path` atomically (see the module doc).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = StagedFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Files written together (a report directory): none is renamed into place before all are
/// written.
#[derive(Debug, Default)]
pub struct StagedSet {
    files: Vec<StagedFile>,
}

impl StagedSet {
    pub fn new() -> Self {
        StagedSet::default()
    }

    /// Stages `dest` and returns it to be written.
    pub fn create(&mut self, dest: &Path) -> io::Result<&mut StagedFile> {
        self.files.push(StagedFile::create(dest)?);
        let last = self.files.len() - 1;
        Ok(&mut self.files[last])
    }

    /// Flushes and syncs every file, then renames each into place. An error names the file.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, (PathBuf, io::Error)> {
        for f in &mut self.files {
            f.finish().map_err(|e| (f.dest.clone(), e))?;
        }
        for f in &self.files {
            check_output_file(&f.dest).map_err(|e| (f.dest.clone(), e))?;
        }
        let mut done = Vec::with_capacity(self.files.len());
        for f in self.files {
            let dest = f.dest.clone();
            f.commit().map_err(|e| (dest.clone(), e))?;
            done.push(dest);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::serial;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_symlink_at_the_destination_is_refused_and_its_target_untouched() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep").unwrap();
        let dest = dir.path().join("summary.md");
        symlink(&target, &dest).unwrap();
        let e = write_atomically(&dest, b"report").unwrap_err();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(&dest).unwrap().is_symlink());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temp left"
        );
    }

    #[test]
    fn replaces_a_regular_file_and_refuses_devices_and_directories() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        std::fs::write(&dest, b"old").unwrap();
        write_atomically(&dest, b"new").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        let e = check_output_file(Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = check_output_file(dir.path()).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn a_set_is_renamed_only_once_every_file_is_written() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"old a").unwrap();
        let mut set = StagedSet::new();
        set.create(&a).unwrap().write_all(b"new a").unwrap();
        set.create(&b).unwrap().write_all(b"new b").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"old a", "nothing renamed yet");
        drop(set);
        assert_eq!(
            std::fs::read(&a).unwrap(),
            b"old a",
            "dropped: old file kept"
        );
        assert!(!b.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temps removed"
        );
        let mut set = StagedSet::new();
        set.create(&a).unwrap().write_all(b"new a").unwrap();
        set.create(&b).unwrap().write_all(b"new b").unwrap();
        assert_eq!(set.commit().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
    }
}
