//! Layer compression: the format, its pinned implementation and level, and the media type.
//!
//! The compressor decides the blob bytes, so each format has exactly one implementation, and
//! a layer's bytes depend on its content alone: not on the number of threads, nor on which
//! thread writes it, nor on how the tar writer chunks its writes. Yet one big layer (all of
//! rpm-ostree's unowned content in one bin, or `single`) must not be compressed on one thread
//! while the others idle, so both formats split a layer into fixed-size pieces compressed in
//! parallel, in a way whose output does not depend on how many run at once:
//! - **gzip**: flate2's zlib-rs backend (pinned in Cargo.toml), level 6 by default, as pigz
//!   does it: the tar is cut into blocks of [`GZIP_BLOCK`] bytes, each deflated on its own with
//!   the previous block's last 32 KiB as dictionary and ended by a sync flush (the last one by
//!   the final block), concatenated into one gzip member with the CRC of the whole. Blocks go to
//!   the build's worker pool ([`Workers`]); without one they are deflated in turn, to the same
//!   bytes. Any gzip reader reads it as one stream. What it costs: a block boundary forgets
//!   matches further back than 32 KiB and costs 5 bytes of flush, about 0.1% of the output.
//! - **zstd**: the bundled libzstd's job-based multithreaded mode, always (at least one worker,
//!   even with `--jobs 1`): its frames are the same for any number of workers ≥ 1, given a
//!   fixed job size and overlap, both pinned here ([`ZSTD_JOB_BYTES`], [`ZSTD_OVERLAP_LOG`]).
//!   Single-threaded mode (no worker) makes other bytes, so it is never used.
//!
//! Tried before (README "Performance"): zstd's multithreaded mode for every layer cost 3 to 8%
//! more CPU time than one thread per layer on a tree whose 64 layers kept both cores busy;
//! with one layer per thread a badly balanced plan took 2.5× as long. The fixed pieces keep
//! the cores busy whatever the plan.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

use flate2::{Compress, Crc, FlushCompress, Status};
use oci_spec::image::MediaType;

/// gzip level when none is given: what rpm-ostree and most registries' clients use.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// zstd level when none is given: the zstd CLI's default.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// Input bytes per gzip block: big enough that the per-block cost (a lost 32 KiB of history, a
/// 5-byte flush, a task hand-off) is negligible, small enough that a 20 MiB layer still
/// spreads over the cores. Changing it changes every gzip layer's bytes.
pub const GZIP_BLOCK: usize = 1 << 20;
/// The deflate window: what a block takes from the one before it.
const DEFLATE_WINDOW: usize = 32 << 10;
/// zstd job size in multithreaded mode (libzstd's default at level 3 would be 8 MiB; smaller
/// jobs spread a mid-sized layer over more cores). Changing it changes every zstd layer.
pub const ZSTD_JOB_BYTES: i32 = 4 << 20;
/// How much of the previous job each zstd job may refer back to (log2 of a fraction of the
/// window; 6 is libzstd's default for levels 1 to 4). Pinned with the job size.
pub const ZSTD_OVERLAP_LOG: i32 = 6;

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

    /// A compressor working on the calling thread alone (zstd: one worker).
    pub fn compressor(self) -> io::Result<Compressor> {
        Compressor::new(self, None)
    }

    /// A compressor that spreads a layer over `workers`; the bytes are those of
    /// [`Compression::compressor`].
    pub fn parallel_compressor(self, workers: &Workers) -> io::Result<Compressor> {
        Compressor::new(self, Some(workers))
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

/// The threads a build compresses on: gzip blocks run on this pool, each zstd context gets
/// this many workers.
#[derive(Clone)]
pub struct Workers {
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
}

impl Workers {
    pub fn new(threads: usize) -> io::Result<Workers> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("rechunk-compress-{i}"))
            .build()
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Workers {
            pool: Arc::new(pool),
            threads,
        })
    }
}

/// One writer thread's compressor. It keeps zstd's context (level, checksum, workers and job
/// size set) from one layer to the next, so its buffers and workers are made once per thread.
pub struct Compressor {
    compression: Compression,
    zstd: Option<zstd::zstd_safe::CCtx<'static>>,
    pool: Option<Arc<rayon::ThreadPool>>,
    /// gzip blocks in flight per layer at most (compressed, or waiting to be written).
    in_flight: usize,
}

impl Compressor {
    fn new(compression: Compression, workers: Option<&Workers>) -> io::Result<Self> {
        let threads = workers.map_or(1, |w| w.threads);
        let zstd = match compression {
            Compression::Zstd(level) => Some(zstd_context(level, threads)?),
            _ => None,
        };
        Ok(Compressor {
            compression,
            zstd,
            pool: workers.map(|w| w.pool.clone()),
            in_flight: 2 * threads,
        })
    }

    /// Wraps `out` in an encoder for one blob.
    pub fn encoder<W: Write>(&mut self, out: W) -> io::Result<Encoder<'_, W>> {
        Ok(match (self.compression, &mut self.zstd) {
            (Compression::Gzip(level), _) => Encoder::Gzip(BlockGzip::new(
                out,
                level,
                self.pool.clone(),
                self.in_flight,
            )?),
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

fn zstd_context(level: i32, workers: usize) -> io::Result<zstd::zstd_safe::CCtx<'static>> {
    use zstd::zstd_safe::{get_error_name, CCtx, CParameter};
    let mut ctx =
        CCtx::try_create().ok_or_else(|| io::Error::other("zstd: cannot allocate a context"))?;
    let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
    for p in [
        CParameter::CompressionLevel(level),
        CParameter::ChecksumFlag(true),
        // At least one worker: the multithreaded format, whatever --jobs is (see module doc).
        CParameter::NbWorkers(workers),
        CParameter::JobSize(ZSTD_JOB_BYTES as u32),
        CParameter::OverlapSizeLog(ZSTD_OVERLAP_LOG as u32),
    ] {
        ctx.set_parameter(p)
            .map_err(|code| io::Error::other(format!("zstd: {}", get_error_name(code))))?;
    }
    Ok(ctx)
}

/// A running encoder; [`Encoder::finish`] writes the trailer and returns the inner writer.
pub enum Encoder<'c, W: Write> {
    Gzip(BlockGzip<W>),
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

/// The gzip header flate2 writes: no name, no comment, mtime 0, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A gzip member made of [`GZIP_BLOCK`]-sized deflate blocks (see the module doc).
pub struct BlockGzip<W: Write> {
    out: W,
    level: u32,
    pool: Option<Arc<rayon::ThreadPool>>,
    max_in_flight: usize,
    /// The block being filled.
    block: Vec<u8>,
    /// The last [`DEFLATE_WINDOW`] bytes of the block before it.
    dictionary: Vec<u8>,
    crc: Crc,
    /// Deflated blocks in order, done or not.
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
}

impl<W: Write> BlockGzip<W> {
    fn new(
        mut out: W,
        level: u32,
        pool: Option<Arc<rayon::ThreadPool>>,
        max_in_flight: usize,
    ) -> io::Result<Self> {
        out.write_all(&GZIP_HEADER)?;
        Ok(BlockGzip {
            out,
            level,
            pool,
            max_in_flight: max_in_flight.max(1),
            block: Vec::with_capacity(GZIP_BLOCK),
            dictionary: Vec::new(),
            crc: Crc::new(),
            pending: VecDeque::new(),
        })
    }

    /// Hands the full (or, when `last`, final) block to a worker, keeping its tail as the next
    /// block's dictionary; writes out finished blocks while too many are in flight.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        let next = match last {
            true => Vec::new(),
            false => Vec::with_capacity(GZIP_BLOCK),
        };
        let block = std::mem::replace(&mut self.block, next);
        let tail = block.len().saturating_sub(DEFLATE_WINDOW);
        let dictionary = std::mem::replace(&mut self.dictionary, block[tail..].to_vec());
        let level = self.level;
        let (tx, rx) = channel();
        let work = move || {
            let _ = tx.send(deflate_block(&block, &dictionary, level, last));
        };
        match &self.pool {
            Some(pool) => pool.spawn(work),
            None => work(),
        }
        self.pending.push_back(rx);
        while self.pending.len() > self.max_in_flight {
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let bytes = rx
            .recv()
            .map_err(|_| io::Error::other("a gzip block worker stopped"))??;
        self.out.write_all(&bytes)
    }

    /// Deflates what is left, writes every block in order and the trailer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.out)
    }
}

impl<W: Write> Write for BlockGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(GZIP_BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        if self.block.len() == GZIP_BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    /// Blocks are cut at fixed offsets, never at flushes: flushing only passes finished blocks
    /// on.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Raw deflate of one block, primed with `dictionary`: ends with a sync flush (byte-aligned,
/// not final), or for the last block with the final block.
fn deflate_block(block: &[u8], dictionary: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut z = Compress::new(flate2::Compression::new(level), false);
    if !dictionary.is_empty() {
        z.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    let flush = match last {
        true => FlushCompress::Finish,
        false => FlushCompress::Sync,
    };
    let mut out = Vec::with_capacity(block.len() / 2 + 1024);
    loop {
        let consumed = z.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 << 10));
        }
        let status = z
            .compress_vec(&block[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let done = z.total_in() as usize == block.len() && out.len() < out.capacity();
        match (status, last) {
            (Status::StreamEnd, _) => break,
            (_, false) if done => break,
            _ => {}
        }
    }
    Ok(out)
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

    /// The bytes of a layer do not depend on how many threads compress it, nor on how the
    /// input is chunked; they decode to the input; splitting costs gzip little.
    #[test]
    fn parallel_output_does_not_depend_on_threads_or_writes() {
        // Several blocks and jobs, and a tail: 9.5 MiB.
        let data = sample((19 << 20) / 2);
        for c in [Compression::Gzip(6), Compression::Zstd(3)] {
            let alone = compress(&mut c.compressor().unwrap(), &data, 1 << 16);
            for threads in [1, 2, 4] {
                let workers = Workers::new(threads).unwrap();
                for chunk in [4093, 1 << 20, 3 << 20] {
                    let mut p = c.parallel_compressor(&workers).unwrap();
                    let got = compress(&mut p, &data, chunk);
                    assert!(got == alone, "{c}: {threads} threads, writes of {chunk}");
                }
            }
            let mut back = Vec::new();
            match c {
                Compression::Gzip(_) => {
                    flate2::read::GzDecoder::new(&alone[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                _ => back = zstd::decode_all(&alone[..]).unwrap(),
            }
            assert!(back == data, "{c} round trip");
        }
        // One gzip stream of the whole input, for comparison.
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        one.write_all(&data).unwrap();
        let one = one.finish().unwrap().len() as f64;
        let blocks = compress(
            &mut Compression::Gzip(6).compressor().unwrap(),
            &data,
            1 << 16,
        );
        let cost = blocks.len() as f64 / one - 1.0;
        assert!(cost < 0.005, "blocks cost {:.3}% more", cost * 100.0);
        // Exact multiples of the block size and empty input are valid streams too.
        for len in [0, GZIP_BLOCK, 2 * GZIP_BLOCK] {
            let data = sample(len);
            let z = compress(
                &mut Compression::Gzip(6).compressor().unwrap(),
                &data,
                1 << 16,
            );
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&z[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "{len} bytes");
        }
    }
}
