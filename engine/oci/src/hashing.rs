//! A writer that hashes (sha256) and counts what passes through it: the streaming half of
//! "digest while compressing", so a blob is never read back to be hashed.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

pub struct HashWriter<W> {
    inner: W,
    /// `None`: count only (the bytes are hashed elsewhere already).
    hasher: Option<Sha256>,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Some(Sha256::new()),
            count: 0,
        }
    }

    /// Counts without hashing: for a stream whose sha256 another `HashWriter` computes.
    pub fn counting(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: None,
            count: 0,
        }
    }

    /// The inner writer, the hex sha256 (`None` when only counting) and the byte count of
    /// everything written.
    pub fn finish(self) -> (W, Option<String>, u64) {
        let digest = self.hasher.map(|h| hex::encode(h.finalize()));
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_it_writes() {
        let mut w = HashWriter::new(Vec::new());
        w.write_all(b"ab").unwrap();
        w.write_all(b"c").unwrap();
        let (inner, digest, count) = w.finish();
        assert_eq!(inner, b"abc");
        assert_eq!(count, 3);
        // sha256("abc") from FIPS 180-2.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.as_deref(), Some(abc));
        assert_eq!(sha256_hex(b"abc"), abc);
        let mut w = HashWriter::counting(Vec::new());
        w.write_all(b"abcd").unwrap();
        assert_eq!(w.finish(), (b"abcd".to_vec(), None, 4));
    }
}
