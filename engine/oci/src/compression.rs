//! Layer compression: the format, its pinned implementation and level, and the media type.
//!
//! The compressor decides the blob bytes, so each format has exactly one implementation:
//! gzip through flate2's zlib-rs backend (pinned in Cargo.toml), zstd through the `zstd` crate's
//! bundled libzstd in its single-threaded mode (one thread per layer, layers in parallel), so
//! the output never depends on the number of threads.
//!
//! Why not zstd's job-based multithreaded mode (same bytes for any worker count ≥ 1)? Measured
//! on the build bench (1 GiB, 64 layers, `--jobs 2` on 2 cores) it used 3 to 8% more CPU time
//! (job buffers re-faulted per frame, worker hand-offs) and 5× the memory for no gain in wall
//! time: with the layers already written in parallel, the cores are busy anyway. It would only
//! pay off with more cores than layers of similar size; FCOS's largest layer at 64 layers is
//! 13.5% of the image.

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

    /// A compressor for one thread's layers.
    pub fn compressor(self) -> io::Result<Compressor> {
        Compressor::new(self)
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

/// One thread's compressor. It keeps zstd's context (level and checksum set) from one layer to
/// the next, so its window and tables are allocated once per thread, not once per layer.
pub struct Compressor {
    compression: Compression,
    zstd: Option<zstd::zstd_safe::CCtx<'static>>,
}

impl Compressor {
    pub fn new(compression: Compression) -> io::Result<Self> {
        let zstd = match compression {
            Compression::Zstd(level) => Some(zstd_context(level)?),
            _ => None,
        };
        Ok(Compressor { compression, zstd })
    }

    /// Wraps `out` in an encoder for one blob.
    pub fn encoder<W: Write>(&mut self, out: W) -> io::Result<Encoder<'_, W>> {
        Ok(match (self.compression, &mut self.zstd) {
            (Compression::Gzip(level), _) => Encoder::Gzip(
                // mtime 0 and no file name: the gzip header must not carry host state.
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(out, flate2::Compression::new(level)),
            ),
            // `with_context` starts a new frame (session reset) with the context's parameters.
            (Compression::Zstd(_), Some(ctx)) => {
                Encoder::Zstd(zstd::stream::write::Encoder::with_context(out, ctx))
            }
            (Compression::Zstd(_), None) => {
                return Err(io::Error::other("zstd compressor without a context"))
            }
            (Compression::None, _) => Encoder::None(out),
        })
    }
}

fn zstd_context(level: i32) -> io::Result<zstd::zstd_safe::CCtx<'static>> {
    use zstd::zstd_safe::{get_error_name, CCtx, CParameter};
    let mut ctx =
        CCtx::try_create().ok_or_else(|| io::Error::other("zstd: cannot allocate a context"))?;
    for p in [
        CParameter::CompressionLevel(level),
        CParameter::ChecksumFlag(true),
    ] {
        ctx.set_parameter(p)
            .map_err(|code| io::Error::other(format!("zstd: {}", get_error_name(code))))?;
    }
    Ok(ctx)
}

/// A running encoder; [`Encoder::finish`] writes the trailer and returns the inner writer.
pub enum Encoder<'c, W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'c, W>),
    None(W),
}

impl<W: Write> Encoder<'_, W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<'_, W> {
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

    /// Text-like data with some noise: compressible, but not trivially.
    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x.is_multiple_of(5) {
                    x as u8
                } else {
                    b"the quick brown fox jumps over "[i % 31]
                }
            })
            .collect()
    }

    fn compress(c: &mut Compressor, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut e = c.encoder(Vec::new()).unwrap();
        for piece in data.chunks(chunk) {
            e.write_all(piece).unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let data = sample(800_000);
        for c in [
            Compression::Gzip(6),
            Compression::Zstd(3),
            Compression::None,
        ] {
            let a = compress(&mut c.compressor().unwrap(), &data, 1 << 16);
            let b = compress(&mut c.compressor().unwrap(), &data, 1 << 16);
            assert_eq!(a, b, "{c} output differs between runs");
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

    /// A writer thread reuses its context, and which layers share one depends on thread timing:
    /// a layer's bytes must not depend on what the context compressed before, nor on a frame
    /// abandoned halfway (a failed layer), whatever the size of the writes.
    #[test]
    fn reused_zstd_context_gives_the_bytes_of_a_fresh_one() {
        let (a, b) = (sample(5 << 20), sample(3 << 20));
        let fresh = compress(&mut Compression::Zstd(3).compressor().unwrap(), &b, 1 << 20);
        let mut c = Compression::Zstd(3).compressor().unwrap();
        compress(&mut c, &a, 1 << 20);
        assert!(
            compress(&mut c, &b, 4093) == fresh,
            "after a finished frame, other write sizes"
        );
        {
            let mut e = c.encoder(Vec::new()).unwrap();
            e.write_all(&a).unwrap();
        }
        assert!(
            compress(&mut c, &b, 1 << 20) == fresh,
            "after an abandoned frame"
        );
    }
}
