//! The contents of an image's files, where the writer can read them at random: one copy at
//! most, only of what survives.
//!
//! A file in an uncompressed layer is read in place from the blob (no copy at all: an OCI
//! layout's blob file, or the blob's range inside an `oci-archive` / `docker-archive`). A file
//! in a compressed layer is copied out of the decompressed stream into one staging file, once:
//! the last layer's files while the layers are indexed (no later layer can replace them), the
//! other layers' surviving files in a second pass over just the layers that supply some; a
//! layer none of whose files survive is not read again. The staging file lives in a directory
//! created under the `--tmpdir` the caller chooses and is removed when the
//! [`StagedContent`] is dropped (also on errors and Ctrl-C).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rechunk_fsio::ScratchDir;
use rechunk_tree::{ContentSource, Entry};

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
    _dir: Option<ScratchDir>,
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
    /// Compressed layers read once: the last one (staged as it was indexed), and those none of
    /// whose files survive (fully replaced, or holding only directories and links).
    pub layers_read_once: usize,
}

/// The staging file, created on first use.
struct Pack {
    dir: ScratchDir,
    file: Arc<File>,
    writer: BufWriter<PackFile>,
    path: PathBuf,
    pos: u64,
}

/// Copies file contents into the staging file.
pub(crate) struct Stager<'a> {
    tmpdir: PathBuf,
    staged: Option<&'a AtomicU64>,
    pack: Option<Pack>,
    /// (layer, offset in its tar stream) → offset in the pack, for files copied while the
    /// layers were indexed.
    early: HashMap<(usize, u64), u64>,
    buf: Vec<u8>,
}

impl<'a> Stager<'a> {
    /// Stages under a directory created in `tmpdir`; `staged` counts the bytes copied.
    pub fn new(tmpdir: &Path, staged: Option<&'a AtomicU64>) -> Self {
        Stager {
            tmpdir: tmpdir.to_path_buf(),
            staged,
            pack: None,
            early: HashMap::new(),
            buf: vec![0; 1 << 20],
        }
    }

    fn pack(&mut self) -> Result<&mut Pack> {
        if self.pack.is_none() {
            let dir = ScratchDir::new_in(&self.tmpdir, ".rechunk-from-")
                .ctx("creating a staging directory in", &self.tmpdir)?;
            let path = dir.path().join("content");
            let file = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .ctx("creating", &path)?;
            let file = Arc::new(file);
            self.pack = Some(Pack {
                dir,
                writer: BufWriter::with_capacity(1 << 20, PackFile(file.clone())),
                file,
                path,
                pos: 0,
            });
        }
        self.pack
            .as_mut()
            .ok_or_else(|| Error::Internal("the staging file vanished".into()))
    }

    /// Appends `size` bytes of `from` (named `name` in messages); returns where they start.
    fn copy(
        &mut self,
        from: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
        size: u64,
        name: &Path,
    ) -> Result<u64> {
        let mut buf = std::mem::take(&mut self.buf);
        let staged = self.staged;
        let pack = self.pack()?;
        let start = pack.pos;
        let mut left = size;
        let result = (|| {
            while left > 0 {
                if interrupt::requested() {
                    return Err(Error::Interrupted);
                }
                let chunk = left.min(buf.len() as u64) as usize;
                let n = from(&mut buf[..chunk]).map_err(|e| Error::io("decompressing", name, e))?;
                if n == 0 {
                    return Err(Error::invalid(
                        name,
                        "the layer is shorter than its tar headers say (truncated, or changed while it was read)",
                    ));
                }
                pack.writer
                    .write_all(&buf[..n])
                    .ctx("writing", &pack.path)?;
                pack.pos += n as u64;
                left -= n as u64;
                if let Some(s) = staged {
                    s.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            Ok(start)
        })();
        self.buf = buf;
        result
    }

    /// Copies a regular member of layer `layer` while it is indexed: its content is read through
    /// `read` (the tar reader), `size` bytes from `offset` of the layer's stream.
    pub fn stage_now(
        &mut self,
        layer: usize,
        offset: u64,
        size: u64,
        read: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
        name: &Path,
    ) -> Result<()> {
        let at = self.copy(read, size, name)?;
        self.early.insert((layer, offset), at);
        Ok(())
    }

    /// Makes every surviving file (`origins`, per tree entry) readable: in place, from what
    /// was staged while indexing, or copied out of a second pass over its layer.
    pub fn finish(
        mut self,
        name: &Path,
        layers: &[LayerBlob],
        stored: &[Stored],
        entries: &[Entry],
        origins: &[Option<Origin>],
    ) -> Result<(StagedContent, StageReport)> {
        let mut files: Vec<Arc<File>> = Vec::new();
        let mut index_of = |f: &Arc<File>| match files.iter().position(|g| Arc::ptr_eq(g, f)) {
            Some(i) => i,
            None => {
                files.push(f.clone());
                files.len() - 1
            }
        };
        let pack_index = self.pack.as_ref().map(|p| index_of(&p.file));
        // One copy per inode: hardlinks share an origin.
        let mut by_origin: HashMap<(usize, u64), Location> = HashMap::new();
        let mut wanted: Vec<Vec<Origin>> = vec![Vec::new(); layers.len()];
        let mut seen: HashSet<(usize, u64)> = HashSet::new();
        let mut report = StageReport::default();
        // Empty files need no bytes from anywhere.
        for o in origins.iter().flatten().filter(|o| o.size > 0) {
            let key = (o.layer, o.offset);
            if !seen.insert(key) {
                continue;
            }
            let layer = &layers[o.layer];
            if stored[o.layer] == Stored::Tar {
                // The tar is the blob: the content is a range of the blob's file.
                let section =
                    layer
                        .section
                        .sub(o.offset, o.size, layer.section.name.to_path_buf())?;
                let loc = Location {
                    file: index_of(&section.file),
                    offset: section.offset,
                };
                by_origin.insert(key, loc);
                report.in_place_bytes += o.size;
            } else if let (Some(&at), Some(file)) = (self.early.get(&key), pack_index) {
                by_origin.insert(key, Location { file, offset: at });
            } else {
                wanted[o.layer].push(*o);
            }
        }
        report.layers_read_once = (0..layers.len())
            .filter(|&l| stored[l] != Stored::Tar && wanted[l].is_empty())
            .count();
        for (l, want) in wanted.iter_mut().enumerate() {
            if want.is_empty() {
                continue;
            }
            want.sort_by_key(|o| o.offset);
            for (o, at) in self.copy_out(&layers[l], want)? {
                by_origin.insert(
                    (o.layer, o.offset),
                    Location {
                        file: usize::MAX,
                        offset: at,
                    },
                );
            }
            report.layers_read_twice += 1;
        }
        let mut dir = None;
        if let Some(pack) = self.pack.take() {
            let Pack {
                dir: d,
                file,
                mut writer,
                path,
                pos,
            } = pack;
            writer.flush().ctx("writing", &path)?;
            let i = index_of(&file);
            for loc in by_origin.values_mut().filter(|l| l.file == usize::MAX) {
                loc.file = i;
            }
            report.staged_bytes = pos;
            report.dir = Some(d.path().to_path_buf());
            dir = Some(d);
        }
        let mut by_path = HashMap::new();
        for (e, o) in entries.iter().zip(origins) {
            if let Some(o) = o.filter(|o| o.size > 0) {
                let loc = by_origin
                    .get(&(o.layer, o.offset))
                    .copied()
                    .ok_or_else(|| {
                        Error::Internal(format!("no content located for {}", e.path.display()))
                    })?;
                by_path.insert(e.path.clone(), loc);
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

    /// Copies the `want` ranges (sorted by offset) out of a layer's tar stream into the pack;
    /// returns where each went. The layer is read to its end and checked again.
    fn copy_out(&mut self, layer: &LayerBlob, want: &[Origin]) -> Result<Vec<(Origin, u64)>> {
        let name = layer.section.name.clone();
        let mut stream = LayerStream::open(&layer.section, &layer.check)?;
        let mut at = 0u64;
        let mut placed = Vec::with_capacity(want.len());
        for o in want {
            if interrupt::requested() {
                return Err(Error::Interrupted);
            }
            let gap = o.offset - at;
            let skipped = io::copy(&mut (&mut stream.tar).take(gap), &mut io::sink())
                .map_err(|e| Error::io("decompressing", name.as_path(), e))?;
            if skipped < gap {
                return Err(Error::invalid(
                    name.as_path(),
                    "the layer is shorter than when it was indexed (changed while it was read)",
                ));
            }
            let mut read = |buf: &mut [u8]| stream.tar.read(buf);
            let start = self.copy(&mut read, o.size, name.as_path())?;
            placed.push((*o, start));
            at = o.offset + o.size;
        }
        stream.finish()?;
        Ok(placed)
    }
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

impl ContentSource for StagedContent {
    fn open(
        &self,
        entry: &Entry,
    ) -> std::result::Result<Box<dyn Read + Send + '_>, rechunk_tree::Error> {
        if entry.size == 0 {
            return Ok(Box::new(io::empty()));
        }
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
