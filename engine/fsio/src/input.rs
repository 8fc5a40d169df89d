//! Input files: regular files only, read with a cap.
//!
//! A path is looked at before it is opened (`stat`, or `lstat` with [`Links::NoFollow`]) and
//! refused unless it is a regular file: opening a FIFO blocks until a writer comes, reading a
//! device such as `/dev/zero` never ends, and opening some devices has effects of its own. The
//! file is then opened with `O_NONBLOCK` (and `O_NOFOLLOW` with [`Links::NoFollow`]) and checked
//! again with `fstat`: it must still be a regular file and the same one, so a path swapped
//! between the two looks is refused rather than read.
//!
//! Every read of a whole file into memory is capped ([`read_capped`], [`read_to_end_capped`]):
//! the cap is checked against the size first (a sparse 2 GB `index.json` is refused before a
//! byte is read) and again while reading (a file that grows meanwhile).

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::OFlags;

/// Whether a final symlink in the path is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Follow it: the path was named by the user, who may point it anywhere.
    Follow,
    /// Refuse it: a file inside a layout or a tree, where a link is not expected.
    NoFollow,
}

/// Opens `path` for reading if it is a regular file (see the module doc). The error says what
/// the path is instead (`a FIFO, not a regular file`); callers add the path.
pub fn open_regular(path: &Path, links: Links) -> io::Result<File> {
    let before = match links {
        Links::Follow => std::fs::metadata(path)?,
        Links::NoFollow => std::fs::symlink_metadata(path)?,
    };
    require_regular(&before)?;
    let mut flags = OFlags::NONBLOCK;
    if links == Links::NoFollow {
        flags |= OFlags::NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let after = file.metadata()?;
    require_regular(&after)?;
    if (after.dev(), after.ino()) != (before.dev(), before.ino()) {
        return Err(invalid(
            "replaced by another file while it was being opened",
        ));
    }
    Ok(file)
}

/// Refuses `path` unless it is a regular file (after following a final symlink with
/// [`Links::Follow`]); the error says what it is instead.
pub fn check_regular(path: &Path, links: Links) -> io::Result<()> {
    let meta = match links {
        Links::Follow => std::fs::metadata(path)?,
        Links::NoFollow => std::fs::symlink_metadata(path)?,
    };
    require_regular(&meta)
}

/// The whole of `path` (a regular file, see [`open_regular`]), refused when larger than `cap`
/// bytes; `what` names the kind of file in that message (`an OCI index`).
pub fn read_capped(path: &Path, links: Links, cap: u64, what: &str) -> io::Result<Vec<u8>> {
    let file = open_regular(path, links)?;
    let len = file.metadata()?.len();
    if len > cap {
        return Err(too_large(len, cap, what));
    }
    read_to_end_capped(file, cap, what)
}

/// Everything `reader` yields, refused as soon as it passes `cap` bytes (a decompressor, a
/// file that grows while it is read).
pub fn read_to_end_capped(reader: impl Read, cap: u64, what: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(too_large_stream(cap, what));
    }
    Ok(out)
}

/// `cap` for messages: `64 MiB`, or bytes when it is not a round number.
pub fn show_size(cap: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        // Units are powers of two.
        if cap >= unit && cap & (unit - 1) == 0 {
            return format!("{} {name}", cap / unit);
        }
    }
    format!("{cap} bytes")
}

fn require_regular(meta: &Metadata) -> io::Result<()> {
    match kind_of(meta.file_type()) {
        None => Ok(()),
        Some("a symbolic link") => Err(invalid(
            "a symbolic link (not followed here), not a regular file",
        )),
        Some(what) => Err(invalid(&format!("{what}, not a regular file"))),
    }
}

/// What a file that is not a regular file is, in words for an error; `None` for a regular
/// file. The one wording of every "not a regular file" refusal, input or output.
pub fn kind_of(t: FileType) -> Option<&'static str> {
    Some(if t.is_file() {
        return None;
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    })
}

fn too_large(len: u64, cap: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{len} bytes, more than the {} limit for {what}",
            show_size(cap)
        ),
    )
}

fn too_large_stream(cap: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("more than the {} limit for {what}", show_size(cap)),
    )
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"hello").unwrap();
        let link = dir.path().join("l");
        symlink(&file, &link).unwrap();
        let fifo = dir.path().join("p");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(
            read_capped(&file, Links::NoFollow, 5, "x").unwrap(),
            b"hello"
        );
        assert_eq!(read_capped(&link, Links::Follow, 5, "x").unwrap(), b"hello");
        let e = open_regular(&link, Links::NoFollow).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // Would block forever if it were opened for reading without a writer.
        let e = open_regular(&fifo, Links::Follow).unwrap_err();
        assert_eq!(e.to_string(), "a FIFO, not a regular file");
        let e = open_regular(Path::new("/dev/zero"), Links::Follow).unwrap_err();
        assert_eq!(e.to_string(), "a character device, not a regular file");
        let e = open_regular(dir.path(), Links::Follow).unwrap_err();
        assert_eq!(e.to_string(), "a directory, not a regular file");
    }

    #[test]
    fn reads_are_capped_by_size_and_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let sparse = dir.path().join("sparse");
        let f = File::create(&sparse).unwrap();
        f.set_len(2 << 30).unwrap();
        let e = read_capped(&sparse, Links::NoFollow, 64 << 20, "an OCI index").unwrap_err();
        assert_eq!(
            e.to_string(),
            "2147483648 bytes, more than the 64 MiB limit for an OCI index"
        );
        let e = read_to_end_capped(io::repeat(0), 1000, "a stream").unwrap_err();
        assert_eq!(e.to_string(), "more than the 1000 bytes limit for a stream");
        assert_eq!(read_to_end_capped(&b"abc"[..], 3, "x").unwrap(), b"abc");
        assert_eq!(show_size(1 << 30), "1 GiB");
    }
}
