//! A streaming tar reader for untrusted input (image layers and the archives holding them):
//! every header is checksummed, every number is parsed with overflow checks, and nothing read
//! into memory is unbounded: PAX records and GNU long names are capped ([`MAX_EXTENSION`],
//! [`MAX_PATH`]); entry contents are never read here, only skipped or handed to the caller as
//! a byte range of the stream. Formats: POSIX ustar with PAX (`x`, global `g` ignored) and GNU
//! long names (`L`, `K`); GNU sparse files, multi-volume and other vendor types are refused by
//! name.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;

use super::section::Skip;

const BLOCK: u64 = 512;
/// Largest PAX extended header or GNU long name/link block we hold in memory.
pub(crate) const MAX_EXTENSION: u64 = 1 << 20;
/// Longest path or link target accepted (Linux's PATH_MAX).
pub(crate) const MAX_PATH: usize = 4096;
/// The PAX key prefix for extended attributes (GNU tar, Go's archive/tar, libarchive).
const XATTR_KEY: &[u8] = b"SCHILY.xattr.";

/// What a tar member is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TarKind {
    Regular,
    Directory,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    /// A character or block device or a FIFO: `3`, `4` or `6`.
    Special(&'static str),
}

/// One member's header, as read.
#[derive(Clone, Debug)]
pub(crate) struct TarEntry {
    /// As stored: not normalised (may start with `./`, may be absolute or hold `..`).
    pub path: Vec<u8>,
    pub kind: TarKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    /// Bytes of content that follow the header.
    pub size: u64,
    /// `SCHILY.xattr.*` PAX records, sorted by name, one value per name.
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    /// Offset of the content from the start of the stream.
    pub data_offset: u64,
}

/// Why a tar stream is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TarError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("at byte {offset}: {reason}")]
    Invalid { offset: u64, reason: String },
}

/// Reads headers one after the other; the content of each member is skipped (callers that
/// need it read it as a byte range of the stream, from [`TarEntry::data_offset`]).
pub(crate) struct TarReader<R> {
    inner: R,
    /// Bytes consumed from the start of the stream.
    pos: u64,
    /// Content (plus padding) of the current member not consumed yet.
    left: u64,
    /// Content (without padding) of the current member not read yet.
    content_left: u64,
    done: bool,
}

/// PAX values that override the ustar header.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<i64>,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl<R: Skip> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            pos: 0,
            left: 0,
            content_left: 0,
            done: false,
        }
    }

    /// Reads the current member's content (what is not read is skipped by the next
    /// [`TarReader::next_entry`]); 0 at its end.
    pub fn read_content(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.content_left) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        self.left -= n as u64;
        self.content_left -= n as u64;
        Ok(n)
    }

    /// The next member, or `None` at the end of the archive (two zero blocks, or the end of
    /// the stream at a header boundary).
    pub fn next_entry(&mut self) -> Result<Option<TarEntry>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.skip(self.left)?;
        self.left = 0;
        self.content_left = 0;
        let mut pax = Pax::default();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let header_at = self.pos;
            let Some(h) = self.header()? else {
                self.done = true;
                return Ok(None);
            };
            let bad = |reason: String| TarError::Invalid {
                offset: header_at,
                reason,
            };
            let size = octal_or_binary(&h[124..136]).map_err(|r| bad(format!("size: {r}")))?;
            match h[156] {
                b'x' => {
                    let data = self.extension(size, header_at, "PAX extended header")?;
                    parse_pax(&data, &mut pax).map_err(bad)?;
                }
                b'g' => {
                    // Global PAX records describe the archive, not a member.
                    self.extension(size, header_at, "PAX global header")?;
                }
                b'L' => long_name = Some(self.long_field(size, header_at, "GNU long name")?),
                b'K' => long_link = Some(self.long_field(size, header_at, "GNU long link")?),
                flag => {
                    let entry =
                        self.member(&h, flag, size, pax, long_name, long_link, header_at)?;
                    return Ok(Some(entry));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn member(
        &mut self,
        h: &[u8; 512],
        flag: u8,
        size: u64,
        pax: Pax,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        header_at: u64,
    ) -> Result<TarEntry, TarError> {
        let bad = |reason: String| TarError::Invalid {
            offset: header_at,
            reason,
        };
        let num = |field: &[u8], what: &str| {
            octal_or_binary(field).map_err(|r| bad(format!("{what}: {r}")))
        };
        let path = match (pax.path, long_name) {
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => ustar_path(h),
        };
        if path.len() > MAX_PATH {
            return Err(bad(format!("a path of {} bytes is too long", path.len())));
        }
        let link = pax
            .linkpath
            .or(long_link)
            .unwrap_or_else(|| field(&h[157..257]).to_vec());
        if link.len() > MAX_PATH {
            return Err(bad(format!(
                "a link target of {} bytes is too long",
                link.len()
            )));
        }
        let kind = match flag {
            b'0' | b'\0' | b'7' => TarKind::Regular,
            b'1' => TarKind::Hardlink(link),
            b'2' => TarKind::Symlink(link),
            b'3' => TarKind::Special("character device"),
            b'4' => TarKind::Special("block device"),
            b'5' => TarKind::Directory,
            b'6' => TarKind::Special("FIFO"),
            b'S' => return Err(bad("GNU sparse files are not supported".into())),
            other => {
                return Err(bad(format!(
                    "unsupported tar entry type {:?}",
                    char::from(other)
                )))
            }
        };
        let size = pax.size.unwrap_or(size);
        let mtime = match pax.mtime {
            Some(m) => m,
            None => {
                let m = num(&h[136..148], "mtime")?;
                i64::try_from(m).map_err(|_| bad(format!("mtime {m} is out of range")))?
            }
        };
        let mode = num(&h[100..108], "mode")?;
        let entry = TarEntry {
            path,
            kind,
            mode: (mode & 0o7777) as u32,
            uid: pax.uid.map_or_else(|| num(&h[108..116], "uid"), Ok)?,
            gid: pax.gid.map_or_else(|| num(&h[116..124], "gid"), Ok)?,
            mtime,
            size,
            xattrs: pax.xattrs,
            data_offset: self.pos,
        };
        self.left = padded(size).ok_or_else(|| bad(format!("size {size} overflows")))?;
        self.content_left = size;
        Ok(entry)
    }

    /// One 512-byte header; `None` at the end of the archive. Checks the checksum.
    fn header(&mut self) -> Result<Option<[u8; 512]>, TarError> {
        let mut h = [0u8; 512];
        let at = self.pos;
        let n = read_full(&mut self.inner, &mut h)?;
        self.pos += n as u64;
        if n == 0 {
            return Ok(None);
        }
        if n < h.len() {
            return Err(TarError::Invalid {
                offset: at,
                reason: "the stream ends inside a header (truncated)".into(),
            });
        }
        if h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let stored = octal_or_binary(&h[148..156]).map_err(|r| TarError::Invalid {
            offset: at,
            reason: format!("checksum field: {r}"),
        })?;
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(TarError::Invalid {
                offset: at,
                reason: "header checksum mismatch (not a tar stream, or corrupt)".into(),
            });
        }
        Ok(Some(h))
    }

    /// The content of an extension member, at most [`MAX_EXTENSION`] bytes.
    fn extension(&mut self, size: u64, at: u64, what: &str) -> Result<Vec<u8>, TarError> {
        if size > MAX_EXTENSION {
            return Err(TarError::Invalid {
                offset: at,
                reason: format!("{what} of {size} bytes is larger than {MAX_EXTENSION}"),
            });
        }
        let mut data = vec![0u8; size as usize];
        let n = read_full(&mut self.inner, &mut data)?;
        self.pos += n as u64;
        if n < data.len() {
            return Err(TarError::Invalid {
                offset: at,
                reason: format!("the stream ends inside a {what} (truncated)"),
            });
        }
        self.skip(padded(size).unwrap_or(size) - size)?;
        Ok(data)
    }

    fn long_field(&mut self, size: u64, at: u64, what: &str) -> Result<Vec<u8>, TarError> {
        let data = self.extension(size, at, what)?;
        Ok(field(&data).to_vec())
    }

    fn skip(&mut self, n: u64) -> Result<(), TarError> {
        let got = self.inner.skip(n)?;
        self.pos += got;
        if got < n {
            return Err(TarError::Invalid {
                offset: self.pos,
                reason: format!(
                    "the stream ends {} bytes before a member's end (truncated)",
                    n - got
                ),
            });
        }
        Ok(())
    }
}

/// `size` rounded up to whole blocks, `None` on overflow.
fn padded(size: u64) -> Option<u64> {
    size.checked_add(BLOCK - 1).map(|s| s / BLOCK * BLOCK)
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A NUL-terminated field.
fn field(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// `prefix/name` for POSIX ustar (the prefix field is something else in old GNU headers).
fn ustar_path(h: &[u8; 512]) -> Vec<u8> {
    let name = field(&h[0..100]);
    let posix = &h[257..263] == b"ustar\0";
    let prefix = field(&h[345..500]);
    if posix && !prefix.is_empty() {
        let mut p = prefix.to_vec();
        p.push(b'/');
        p.extend_from_slice(name);
        p
    } else {
        name.to_vec()
    }
}

/// An octal number (spaces and NULs around it), or GNU's base-256 form (high bit set).
fn octal_or_binary(b: &[u8]) -> Result<u64, String> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        if b[0] & 0x40 != 0 {
            return Err("negative base-256 number".into());
        }
        let mut v: u64 = u64::from(b[0] & 0x3f);
        for &c in &b[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(c)))
                .ok_or("base-256 number overflows")?;
        }
        return Ok(v);
    }
    let s = field(b);
    let s = trim(s);
    if s.is_empty() {
        return Ok(0);
    }
    let mut v: u64 = 0;
    for &c in s {
        if !(b'0'..=b'7').contains(&c) {
            return Err(format!(
                "not an octal number: {:?}",
                String::from_utf8_lossy(b)
            ));
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or("octal number overflows")?;
    }
    Ok(v)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ').unwrap_or(s.len());
    let end = s.iter().rposition(|&c| c != b' ').map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// `"<len> <key>=<value>\n"` records.
fn parse_pax(mut data: &[u8], pax: &mut Pax) -> Result<(), String> {
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&c| c == b' ')
            .ok_or("PAX record without a length")?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("PAX record length is not a number")?;
        if len <= space + 1 || len > data.len() {
            return Err(format!("PAX record length {len} does not fit"));
        }
        let record = &data[space + 1..len];
        data = &data[len..];
        let record = record
            .strip_suffix(b"\n")
            .ok_or("PAX record without newline")?;
        let eq = record
            .iter()
            .position(|&c| c == b'=')
            .ok_or("PAX record without '='")?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let number = || -> Result<u64, String> {
            std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("PAX {} is not a number", String::from_utf8_lossy(key)))
        };
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => pax.size = Some(number()?),
            b"uid" => pax.uid = Some(number()?),
            b"gid" => pax.gid = Some(number()?),
            b"mtime" => pax.mtime = Some(pax_time(value)?),
            _ => {
                if let Some(name) = key.strip_prefix(XATTR_KEY) {
                    if name.is_empty() {
                        return Err("PAX xattr record without a name".into());
                    }
                    let name = OsString::from_vec(name.to_vec());
                    pax.xattrs.retain(|(n, _)| *n != name);
                    pax.xattrs.push((name, value.to_vec()));
                    pax.xattrs.sort();
                }
            }
        }
    }
    Ok(())
}

/// PAX time: decimal seconds, maybe negative, maybe with a fraction (dropped: whole seconds,
/// rounded down, as an extractor sets them).
fn pax_time(value: &[u8]) -> Result<i64, String> {
    let s = std::str::from_utf8(value).map_err(|_| "PAX mtime is not text")?;
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = whole
        .parse()
        .map_err(|_| format!("PAX mtime {s:?} is not a number"))?;
    let has_fraction = frac.bytes().any(|b| b != b'0');
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("PAX mtime {s:?} is not a number"));
    }
    Ok(if secs < 0 && has_fraction {
        secs - 1
    } else {
        secs
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a tar in memory with the `tar` crate (an independent writer).
    pub(crate) fn build(f: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        f(&mut b);
        b.into_inner().unwrap()
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h.set_uid(1000);
        h.set_gid(100);
        h
    }

    fn entries(bytes: &[u8]) -> Result<Vec<TarEntry>, TarError> {
        let mut r = TarReader::new(bytes);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn reads_what_the_tar_crate_writes() {
        let long = format!("usr/{}/{}", "d".repeat(150), "f".repeat(120));
        let bytes = build(|b| {
            b.append_data(
                &mut header(tar::EntryType::Directory, 0o755, 0),
                "usr/",
                &[][..],
            )
            .unwrap();
            b.append_data(
                &mut header(tar::EntryType::Regular, 0o4755, 5),
                "usr/su",
                &b"hello"[..],
            )
            .unwrap();
            b.append_pax_extensions([("SCHILY.xattr.security.capability", &b"\x01\x02"[..])])
                .unwrap();
            b.append_data(
                &mut header(tar::EntryType::Regular, 0o644, 2),
                &long,
                &b"ab"[..],
            )
            .unwrap();
            b.append_link(
                &mut header(tar::EntryType::Symlink, 0o777, 0),
                "usr/l",
                "su",
            )
            .unwrap();
            b.append_link(
                &mut header(tar::EntryType::Link, 0o644, 0),
                "usr/h",
                "usr/su",
            )
            .unwrap();
        });
        let got = entries(&bytes).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].path, b"usr/");
        assert_eq!(got[0].kind, TarKind::Directory);
        assert_eq!((got[1].mode, got[1].uid, got[1].gid), (0o4755, 1000, 100));
        assert_eq!(got[1].mtime, 1_700_000_000);
        let off = got[1].data_offset as usize;
        assert_eq!(&bytes[off..off + 5], b"hello");
        assert_eq!(got[2].path, long.as_bytes(), "GNU long name");
        assert_eq!(
            got[2].xattrs,
            vec![("security.capability".into(), vec![1, 2])]
        );
        assert_eq!(got[3].kind, TarKind::Symlink(b"su".to_vec()));
        assert_eq!(got[4].kind, TarKind::Hardlink(b"usr/su".to_vec()));
    }

    #[test]
    fn refuses_corrupt_truncated_and_oversized_input() {
        let bytes = build(|b| {
            b.append_data(
                &mut header(tar::EntryType::Regular, 0o644, 1000),
                "f",
                &[7u8; 1000][..],
            )
            .unwrap();
        });
        // Truncated inside the content: noticed when the next header is looked for.
        let err = entries(&bytes[..800]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let mut corrupt = bytes.clone();
        corrupt[10] ^= 1;
        let err = entries(&corrupt).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        // A PAX header claiming more than the cap is refused before anything is read.
        let mut h = header(tar::EntryType::XHeader, 0o644, MAX_EXTENSION + 1);
        h.set_cksum();
        let mut big = h.as_bytes().to_vec();
        big.extend_from_slice(&[0; 1024]);
        let err = entries(&big).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
        // A size that overflows when padded.
        let mut h = header(tar::EntryType::Regular, 0o644, 0);
        h.as_gnu_mut().unwrap().size = [
            0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        h.set_cksum();
        let err = entries(h.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("overflows"), "{err}");
        let mut sparse = header(tar::EntryType::GNUSparse, 0o644, 0);
        sparse.set_path("s").unwrap();
        sparse.set_cksum();
        let err = entries(sparse.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("sparse"), "{err}");
    }

    #[test]
    fn numbers_and_pax_records() {
        assert_eq!(octal_or_binary(b"0000755\0"), Ok(0o755));
        assert_eq!(octal_or_binary(b"  755 \0"), Ok(0o755));
        assert_eq!(octal_or_binary(&[0x80, 0, 0, 1, 0]), Ok(256));
        assert!(octal_or_binary(b"98").is_err());
        assert_eq!(pax_time(b"1700000000.5"), Ok(1_700_000_000));
        assert_eq!(pax_time(b"-1.5"), Ok(-2));
        let mut pax = Pax::default();
        parse_pax(b"14 path=a/b/c\n8 uid=7\n", &mut pax).unwrap();
        assert_eq!(pax.path.as_deref(), Some(&b"a/b/c"[..]));
        assert_eq!(pax.uid, Some(7));
        assert!(parse_pax(b"99 path=x\n", &mut Pax::default()).is_err());
        assert!(parse_pax(b"5 a\n", &mut Pax::default()).is_err());
    }
}
