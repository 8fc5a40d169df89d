//! The contents of an image's files, where the writer can read them at random: one copy at
//! most, only of what survives.
//!
//! A file in an uncompressed layer is read in place from the blob (no copy at all: an OCI
//! layout's blob file, or the blob's range inside an `oci-archive` / `docker-archive`). A file
//! in a compressed layer is copied out of the decompressed stream into one staging file, once,
//! in a second pass over that layer only; a layer none of whose files survive is not read
//! again. The staging file lives in a directory created under the `--tmpdir` the caller
//! chooses and is removed when the [`StagedContent`] is dropped (also on errors and Ctrl-C).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rechunk_tree::{ContentSource, Entry};
use tempfile::TempDir;

use super::merge::Origin;
use super::section::{Section, SectionReader};
use super::stream::{LayerStream, Stored};
use crate::error::IoContext;
use crate::interrupt;
use crate::read::LayerBlob;
use crate::{Error, Result};

/// Where one file's bytes are: `files[file]` at `offset`.
#[derive(Clone, Copy, Debug)]
struct Location {
    file: usize,
    offset: u64,
}

/// Opens the regular files of an image's merged tree.
pub struct StagedContent {
    /// The image reference, for messages.
    name: PathBuf,
    files: Vec<Arc<File>>,
    by_path: HashMap<PathBuf, Location>,
    /// Keeps the staging directory alive; removing it on drop.
    _dir: Option<TempDir>,
}

/// What staging cost, for the summary and the benchmark.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageReport {
    /// The staging directory (removed when the content is dropped), when anything was staged.
    pub dir: Option<PathBuf>,
    /// Bytes copied into it.
    pub staged_bytes: u64,
    /// Bytes of surviving files read in place from uncompressed layers.
    pub in_place_bytes: u64,
    /// Compressed layers read a second time to copy surviving files out.
    pub layers_read_twice: usize,
    /// Compressed layers none of whose files survive (fully replaced, or holding only
    /// directories and links): read once, to index them.
    pub layers_read_once: usize,
}

/// Makes every surviving file (`origins`, per tree entry) readable: in place or staged under
/// `tmpdir`. `staged` counts bytes as they are copied.
pub(crate) fn stage(
    name: &Path,
    layers: &[LayerBlob],
    stored: &[Stored],
    tree_entries: &[Entry],
    origins: &[Option<Origin>],
    tmpdir: &Path,
    staged: Option<&AtomicU64>,
) -> Result<(StagedContent, StageReport)> {
    let mut files: Vec<Arc<File>> = Vec::new();
    let mut file_index = |f: &Arc<File>| match files.iter().position(|g| Arc::ptr_eq(g, f)) {
        Some(i) => i,
        None => {
            files.push(f.clone());
            files.len() - 1
        }
    };
    // One copy per inode: hardlinks share an origin.
    let mut by_origin: HashMap<(usize, u64), Location> = HashMap::new();
    let mut wanted: Vec<Vec<Origin>> = vec![Vec::new(); layers.len()];
    let mut report = StageReport::default();
    for o in origins.iter().flatten() {
        if by_origin.contains_key(&(o.layer, o.offset)) {
            continue;
        }
        let layer = &layers[o.layer];
        if stored[o.layer] == Stored::Tar {
            // The tar is the blob: the content is a range of the blob's file.
            let section = layer
                .section
                .sub(o.offset, o.size, layer.section.name.to_path_buf())?;
            let loc = Location {
                file: file_index(&section.file),
                offset: section.offset,
            };
            by_origin.insert((o.layer, o.offset), loc);
            report.in_place_bytes += o.size;
        } else {
            by_origin.insert(
                (o.layer, o.offset),
                Location {
                    file: usize::MAX,
                    offset: 0,
                },
            );
            wanted[o.layer].push(*o);
        }
    }
    report.layers_read_once = (0..layers.len())
        .filter(|&l| stored[l] != Stored::Tar && wanted[l].is_empty())
        .count();
    let mut dir = None;
    if wanted.iter().any(|w| !w.is_empty()) {
        let tmp = tempfile::Builder::new()
            .prefix(".rechunk-from-")
            .tempdir_in(tmpdir)
            .ctx("creating a staging directory in", tmpdir)?;
        let pack_path = tmp.path().join("content");
        let pack = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&pack_path)
            .ctx("creating", &pack_path)?;
        let pack = Arc::new(pack);
        let pack_index = file_index(&pack);
        let mut out = Pack {
            writer: BufWriter::with_capacity(1 << 20, PackFile(pack.clone())),
            path: pack_path.clone(),
            pos: 0,
            staged,
        };
        for (l, want) in wanted.iter_mut().enumerate() {
            if want.is_empty() {
                continue;
            }
            want.sort_by_key(|o| o.offset);
            for (o, at) in copy_out(&layers[l], want, &mut out)? {
                let loc = Location {
                    file: pack_index,
                    offset: at,
                };
                by_origin.insert((o.layer, o.offset), loc);
            }
            report.layers_read_twice += 1;
        }
        out.writer.flush().ctx("writing", &pack_path)?;
        report.staged_bytes = out.pos;
        report.dir = Some(tmp.path().to_path_buf());
        dir = Some(tmp);
    }
    let mut by_path = HashMap::new();
    for (e, o) in tree_entries.iter().zip(origins) {
        if let Some(o) = o {
            by_path.insert(e.path.clone(), by_origin[&(o.layer, o.offset)]);
        }
    }
    let content = StagedContent {
        name: name.to_path_buf(),
        files,
        by_path,
        _dir: dir,
    };
    Ok((content, report))
}

/// Appends to the staging file through a shared handle.
struct PackFile(Arc<File>);

impl Write for PackFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

struct Pack<'a> {
    writer: BufWriter<PackFile>,
    path: PathBuf,
    pos: u64,
    staged: Option<&'a AtomicU64>,
}

/// Copies the `want` ranges (sorted by offset) out of a layer's tar stream into the pack;
/// returns where each went. The layer is read to its end and checked again.
fn copy_out(layer: &LayerBlob, want: &[Origin], out: &mut Pack) -> Result<Vec<(Origin, u64)>> {
    let name = layer.section.name.clone();
    let mut stream = LayerStream::open(&layer.section, &layer.check)?;
    let mut at = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut placed = Vec::with_capacity(want.len());
    let read_err = |e: io::Error| Error::io("decompressing", name.as_path(), e);
    for o in want {
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        let gap = o.offset - at;
        let skipped =
            io::copy(&mut (&mut stream.tar).take(gap), &mut io::sink()).map_err(read_err)?;
        if skipped < gap {
            return Err(Error::invalid(
                name.as_path(),
                "the layer is shorter than when it was indexed (changed while it was read)",
            ));
        }
        placed.push((*o, out.pos));
        let mut left = o.size;
        while left > 0 {
            let chunk = left.min(buf.len() as u64) as usize;
            let n = stream.tar.read(&mut buf[..chunk]).map_err(read_err)?;
            if n == 0 {
                return Err(Error::invalid(
                    name.as_path(),
                    "the layer is shorter than when it was indexed (changed while it was read)",
                ));
            }
            out.writer.write_all(&buf[..n]).ctx("writing", &out.path)?;
            left -= n as u64;
            out.pos += n as u64;
            if let Some(s) = out.staged {
                s.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        at = o.offset + o.size;
    }
    stream.finish()?;
    Ok(placed)
}

impl ContentSource for StagedContent {
    fn open(
        &self,
        entry: &Entry,
    ) -> std::result::Result<Box<dyn Read + Send + '_>, rechunk_tree::Error> {
        let loc = self.by_path.get(&entry.path).ok_or_else(|| {
            rechunk_tree::Error::invalid(
                self.name.join(&entry.path),
                "no content staged for this path (not a regular file of the image)",
            )
        })?;
        let section = Section {
            file: self.files[loc.file].clone(),
            name: Arc::new(self.name.join(&entry.path)),
            offset: loc.offset,
            len: entry.size,
        };
        let reader: SectionReader = section.reader();
        Ok(Box::new(reader))
    }
}
