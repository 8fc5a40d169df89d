//! A layer blob as a tar stream: compression recognised by its magic bytes (gzip, zstd or
//! none; the media type is not trusted), and the blob checked as it is read: its stored sha256
//! (OCI descriptors) or the sha256 of the uncompressed tar (a `docker-archive`'s diff_id).

use std::io::{self, BufReader, Read};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::section::{Section, SectionReader};
use crate::read::BlobCheck;
use crate::{Error, Result};

/// How a layer blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    Gzip,
    Zstd,
    /// A plain tar: its files' contents can be read in place.
    Tar,
}

impl Stored {
    /// Recognises the blob's first bytes.
    fn detect(section: &Section) -> Result<Stored> {
        let mut head = [0u8; 6];
        let n = section
            .reader()
            .read(&mut head)
            .map_err(|e| Error::io("reading", section.name.as_path(), e))?;
        let head = &head[..n];
        let refuse = |what: &str| {
            Error::invalid(
                section.name.as_path(),
                format!(
                    "a {what}-compressed layer; only gzip, zstd and uncompressed layers are read"
                ),
            )
        };
        Ok(match head {
            [0x1f, 0x8b, ..] => Stored::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Stored::Zstd,
            [b'B', b'Z', b'h', ..] => return Err(refuse("bzip2")),
            [0xfd, b'7', b'z', b'X', b'Z', 0] => return Err(refuse("xz")),
            _ => Stored::Tar,
        })
    }
}

/// sha256 and byte count of what passed through a [`Hashing`] reader, shared with whoever
/// checks it at the end.
#[derive(Default)]
struct Tally {
    hasher: Sha256,
    bytes: u64,
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    tally: Arc<Mutex<Tally>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut t) = self.tally.lock() {
            t.hasher.update(&buf[..n]);
            t.bytes += n as u64;
        }
        Ok(n)
    }
}

/// A layer's tar stream, checked once it has been read to the end ([`LayerStream::finish`]).
pub(crate) struct LayerStream {
    pub stored: Stored,
    pub tar: Box<dyn Read + Send>,
    section: Section,
    check: BlobCheck,
    tally: Arc<Mutex<Tally>>,
}

impl LayerStream {
    pub fn open(section: &Section, check: &BlobCheck) -> Result<LayerStream> {
        let stored = Stored::detect(section)?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let raw = section.reader();
        let tar: Box<dyn Read + Send> = match check {
            BlobCheck::Stored(_) => {
                let hashed = Hashing {
                    inner: raw,
                    tally: tally.clone(),
                };
                decoder(stored, hashed, section)?
            }
            BlobCheck::Uncompressed(_) => Box::new(Hashing {
                inner: decoder(stored, raw, section)?,
                tally: tally.clone(),
            }),
        };
        Ok(LayerStream {
            stored,
            tar,
            section: section.clone(),
            check: check.clone(),
            tally,
        })
    }

    /// Reads what is left and checks the digest; an error names the blob.
    pub fn finish(mut self) -> Result<()> {
        let name = self.section.name.clone();
        io::copy(&mut self.tar, &mut io::sink())
            .map_err(|e| Error::io("decompressing", name.as_path(), e))?;
        drop(self.tar);
        let mut tally = self
            .tally
            .lock()
            .map_err(|_| Error::Internal("a layer hash was poisoned".into()))?;
        let want = match &self.check {
            BlobCheck::Stored(hex) => {
                // A decoder may stop before the end of the blob (trailing bytes): hash those too.
                if tally.bytes < self.section.len {
                    let rest = self.section.sub(
                        tally.bytes,
                        self.section.len - tally.bytes,
                        self.section.name.to_path_buf(),
                    )?;
                    let mut reader: SectionReader = rest.reader();
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        let n = reader
                            .read(&mut buf)
                            .map_err(|e| Error::io("reading", name.as_path(), e))?;
                        if n == 0 {
                            break;
                        }
                        tally.hasher.update(&buf[..n]);
                    }
                }
                hex
            }
            BlobCheck::Uncompressed(hex) => hex,
        };
        let got = hex::encode(std::mem::take(&mut tally.hasher).finalize());
        if &got != want {
            let what = match self.check {
                BlobCheck::Stored(_) => "digest",
                BlobCheck::Uncompressed(_) => "diff_id",
            };
            return Err(Error::invalid(
                name.as_path(),
                format!("content does not match its {what} sha256:{want} (corrupt image, or changed while it was read)"),
            ));
        }
        Ok(())
    }
}

fn decoder<R: Read + Send + 'static>(
    stored: Stored,
    raw: R,
    section: &Section,
) -> Result<Box<dyn Read + Send>> {
    let buffered = BufReader::with_capacity(1 << 16, raw);
    Ok(match stored {
        // Multi-member gzip (pigz, estargz) is one stream.
        Stored::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Stored::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| Error::io("starting zstd for", section.name.as_path(), e))?,
        ),
        Stored::Tar => Box::new(buffered),
    })
}
