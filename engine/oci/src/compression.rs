//! Layer compression: the format, its pinned implementation and level, and the media type.
//!
//! The compressor decides the blob bytes, so each format has exactly one implementation:
//! gzip through flate2's zlib-rs backend (pinned in Cargo.toml), zstd through the `zstd` crate's
//! bundled libzstd, always single-threaded per layer so that the output never depends on the
//! number of threads.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use oci_spec::image::MediaType;

/// gzip level when none is given: what rpm-ostree and most registries' clients use.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// zstd level when none is given: the zstd CLI's default.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip(u32),
    Zstd(i32),
    None,
}

impl Default for Compression {
    /// gzip: every registry and client reads it.
    fn default() -> Self {
        Compression::Gzip(DEFAULT_GZIP_LEVEL)
    }
}

impl Compression {
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip(_) => MediaType::ImageLayerGzip,
            Compression::Zstd(_) => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        }
    }

    /// Wraps `out` in this format's encoder.
    pub fn encoder<W: Write>(self, out: W) -> io::Result<Encoder<W>> {
        Ok(match self {
            Compression::Gzip(level) => Encoder::Gzip(
                // mtime 0 and no file name: the gzip header must not carry host state.
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::new(level)),
            ),
            Compression::Zstd(level) => {
                let mut enc = zstd::stream::write::Encoder::new(out, level)?;
                enc.include_checksum(true)?;
                Encoder::Zstd(enc)
            }
            Compression::None => Encoder::None(out),
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Gzip(l) => write!(f, "gzip:{l}"),
            Compression::Zstd(l) => write!(f, "zstd:{l}"),
            Compression::None => f.write_str("none"),
        }
    }
}

impl FromStr for Compression {
    type Err = String;

    /// `gzip[:LEVEL]` (0–9), `zstd[:LEVEL]` (1–22) or `none`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        let bad_level = |range: &str| format!("compression {s:?}: the level must be {range}");
        match (name, level) {
            ("gzip", None) => Ok(Compression::Gzip(DEFAULT_GZIP_LEVEL)),
            ("gzip", Some(l)) => match l.parse::<u32>() {
                Ok(l) if l <= 9 => Ok(Compression::Gzip(l)),
                _ => Err(bad_level("an integer from 0 to 9")),
            },
            ("zstd", None) => Ok(Compression::Zstd(DEFAULT_ZSTD_LEVEL)),
            ("zstd", Some(l)) => match l.parse::<i32>() {
                Ok(l) if (1..=22).contains(&l) => Ok(Compression::Zstd(l)),
                _ => Err(bad_level("an integer from 1 to 22")),
            },
            ("none", None) => Ok(Compression::None),
            _ => Err(format!(
                "unknown compression {s:?}: expected gzip[:LEVEL], zstd[:LEVEL] or none"
            )),
        }
    }
}

/// A running encoder; [`Encoder::finish`] writes the trailer and returns the inner writer.
pub enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Zstd(e) => e.write_all(buf),
            Encoder::None(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn parses_formats_and_levels() {
        assert_eq!("gzip".parse(), Ok(Compression::Gzip(6)));
        assert_eq!("gzip:9".parse(), Ok(Compression::Gzip(9)));
        assert_eq!("zstd".parse(), Ok(Compression::Zstd(3)));
        assert_eq!("zstd:19".parse(), Ok(Compression::Zstd(19)));
        assert_eq!("none".parse(), Ok(Compression::None));
        assert!("gzip:10".parse::<Compression>().is_err());
        assert!("zstd:0".parse::<Compression>().is_err());
        assert!("xz".parse::<Compression>().is_err());
        assert!("none:1".parse::<Compression>().is_err());
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in [
            Compression::Gzip(6),
            Compression::Zstd(3),
            Compression::None,
        ] {
            let compress = || {
                let mut e = c.encoder(Vec::new()).unwrap();
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            };
            let a = compress();
            assert_eq!(a, compress(), "{c} output differs between runs");
            let mut back = Vec::new();
            match c {
                Compression::Gzip(_) => {
                    flate2::read::GzDecoder::new(&a[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Compression::Zstd(_) => back = zstd::decode_all(&a[..]).unwrap(),
                Compression::None => back = a.clone(),
            }
            assert_eq!(back, data);
        }
    }
}
