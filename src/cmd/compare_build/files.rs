//! The file-level bound of `compare --build`: which regular files of a version have content
//! (by content digest) a client holding another version lacks, and what they weigh compressed on their
//! own with the layers' compression, as a file-level store (ostree, composefs, zstd:chunked)
//! would fetch them.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use anyhow::{Context, Result};
use rayon::prelude::*;
use rechunk_oci::Compression;
use rechunk_rootfs::LoadedRoot;
use rechunk_tree::{content_digest, ContentSource};

/// Every content seen in the chain: content digest → (bytes, compressed bytes).
#[derive(Default)]
pub struct FileSizes {
    known: HashMap<[u8; 32], (u64, u64)>,
}

/// The distinct contents of one version.
pub struct VersionFiles {
    pub digests: HashSet<[u8; 32]>,
}

impl FileSizes {
    /// Digests every regular file of `loaded` (each hardlinked inode once) and compresses the
    /// contents not seen before.
    pub fn add_version(
        &mut self,
        loaded: &LoadedRoot,
        content: &dyn ContentSource,
        compression: Compression,
    ) -> Result<VersionFiles> {
        let tree = &loaded.tree;
        let first = tree.first_links();
        let regular: Vec<usize> = (0..tree.entries.len())
            .filter(|&i| {
                let e = &tree.entries[i];
                e.is_regular() && e.hardlink.is_none_or(|id| first.get(&id) == Some(&i))
            })
            .collect();
        let digests: Vec<[u8; 32]> = regular
            .par_iter()
            .map(|&i| content_digest(content, &tree.entries[i]))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", tree.root.display()))?;
        let mut new: Vec<(usize, [u8; 32])> = Vec::new();
        let mut queued = HashSet::new();
        for (&i, d) in regular.iter().zip(&digests) {
            if !self.known.contains_key(d) && queued.insert(*d) {
                new.push((i, *d));
            }
        }
        let sizes: Vec<(u64, u64)> = new
            .par_iter()
            .map(|&(i, _)| {
                let e = &tree.entries[i];
                let mut reader = content
                    .open(e)
                    .with_context(|| format!("reading {}", tree.root.join(&e.path).display()))?;
                let compressed = compressed_len(compression, &mut reader).with_context(|| {
                    format!("compressing {}", tree.root.join(&e.path).display())
                })?;
                Ok((e.size, compressed))
            })
            .collect::<Result<_>>()?;
        for ((_, d), s) in new.iter().zip(sizes) {
            self.known.insert(*d, s);
        }
        Ok(VersionFiles {
            digests: digests.into_iter().collect(),
        })
    }

    /// Bytes and compressed bytes of the contents of `new` that `held` lacks (all of them for a
    /// fresh install).
    pub fn fetched(&self, held: Option<&VersionFiles>, new: &VersionFiles) -> (u64, u64) {
        new.digests
            .iter()
            .filter(|d| held.is_none_or(|h| !h.digests.contains(*d)))
            .filter_map(|d| self.known.get(d))
            .fold((0, 0), |(a, b), (s, c)| (a + s, b + c))
    }
}

/// Bytes `reader` compresses to, one blob with the layers' compressor.
fn compressed_len(compression: Compression, reader: &mut dyn io::Read) -> io::Result<u64> {
    let mut compressor = compression.compressor()?;
    let mut encoder = compressor.encoder(Counter(0))?;
    io::copy(reader, &mut encoder)?;
    Ok(encoder.finish()?.0)
}

/// A sink that counts what it is given.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
