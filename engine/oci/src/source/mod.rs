//! An existing image as the input of a build (`--from IMAGE`): its layers applied in order to
//! one tree, without root, a mount or an unpacked copy.
//!
//! 1. [`crate::read`] finds the image (`oci:`, `oci-archive:`, `docker-archive:`), its config
//!    and its layer blobs, as byte ranges of the files on disk.
//! 2. Every layer is read once, in order: decompressed ([`stream`]: gzip, zstd or none, by magic
//!    bytes), its tar headers parsed by a bounded reader ([`tar`]) and applied to a tree of
//!    metadata with OCI whiteouts ([`merge`]); the blob is checked against its digest.
//! 3. Only the files that survive are made readable ([`stage`]): in place for uncompressed
//!    layers, else copied once: the last layer's while it is indexed, the others' out of a
//!    second pass over the layers that supply them.
//! 4. What never goes into an image is left out as the directory walk leaves it out
//!    ([`rechunk_tree::belongs`]).
//!
//! Memory holds the tree's metadata and one layer's decompression state, never file contents.

mod merge;
pub(crate) mod section;
mod stage;
mod stream;
mod tar;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rechunk_tree::{belongs, Skipped, Tree};
use serde_json::Value;

use crate::interrupt;
use crate::read::{open_layers, ImageInfo};
use crate::reference::ImageRef;
use crate::{Error, Result};

pub(crate) use merge::Merge;
use stage::Stager;
pub use stage::{StageReport, StagedContent};
use stream::{LayerStream, Stored};
pub(crate) use tar::TarReader;

/// How to read an image.
#[derive(Clone, Debug, Default)]
pub struct FromOptions {
    /// Where the staging directory is created (it must hold the compressed layers' surviving
    /// files); the build puts it next to the output.
    pub tmpdir: PathBuf,
    /// Leave out sockets, FIFOs and device nodes (with a warning) instead of failing.
    pub skip_special_files: bool,
    /// Incremented once per layer member read.
    pub entries: Option<Arc<AtomicU64>>,
    /// Incremented by the bytes copied into the staging directory.
    pub staged: Option<Arc<AtomicU64>>,
}

/// An image read as a tree.
pub struct ImageTree {
    pub tree: Tree,
    /// Opens the tree's regular files (keeps the staging directory until dropped).
    pub content: StagedContent,
    /// The image config, to carry over.
    pub config: Value,
    pub info: ImageInfo,
    /// Paths left out by design, with why.
    pub skipped: Vec<Skipped>,
    /// Paths left out with a warning (special files with `skip_special_files`), with why.
    pub warnings: Vec<(PathBuf, String)>,
    pub report: StageReport,
}

/// Reads `reference`'s layers into one tree and makes its files readable.
pub fn read_image_tree(reference: &ImageRef, opts: &FromOptions) -> Result<ImageTree> {
    let opened = open_layers(reference)?;
    let name = PathBuf::from(reference.to_string());
    let mut merge = merge::Merge::new(opts.skip_special_files);
    let mut stager = Stager::new(&opts.tmpdir, opts.staged.as_deref());
    let mut stored = Vec::with_capacity(opened.layers.len());
    let count = opened.layers.len();
    for (l, layer) in opened.layers.iter().enumerate() {
        let at = |reason: String| {
            Error::invalid(
                &name,
                format!(
                    "layer {} of {count} ({}): {reason}",
                    l + 1,
                    layer.section.name.display()
                ),
            )
        };
        let mut stream = LayerStream::open(&layer.section, &layer.check)?;
        stored.push(stream.stored);
        let mut reader = TarReader::new(&mut stream.tar);
        loop {
            if interrupt::requested() {
                return Err(Error::Interrupted);
            }
            let Some(entry) = reader.next_entry().map_err(|e| at(e.to_string()))? else {
                break;
            };
            // No later layer can replace the last one's files: a compressed last layer is
            // staged now rather than decompressed twice.
            let stage_now = l + 1 == count
                && stored[l] != Stored::Tar
                && entry.kind == tar::TarKind::Regular
                && entry.size > 0;
            let (offset, size) = (entry.data_offset, entry.size);
            merge.apply(l, entry).map_err(at)?;
            if stage_now {
                let mut read = |buf: &mut [u8]| reader.read_content(buf);
                stager.stage_now(l, offset, size, &mut read, &layer.section.name)?;
            }
            if let Some(n) = &opts.entries {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
        stream.finish()?;
        merge.end_layer(l);
    }
    let merged = merge.finish(name.clone());
    // Before anything is staged: a non-empty /boot fails the build anyway.
    belongs::check_boot(&merged.tree)?;
    let (content, report) = stager.finish(
        &name,
        &opened.layers,
        &stored,
        &merged.tree.entries,
        &merged.origins,
    )?;
    let (tree, skipped) = belongs::prune(merged.tree, &content)?;
    Ok(ImageTree {
        tree,
        content,
        config: opened.config,
        info: opened.info,
        skipped,
        warnings: merged.warnings,
        report,
    })
}

/// The default staging place for a build writing `output`: the directory it is written in.
pub fn default_tmpdir(output: &ImageRef) -> PathBuf {
    let dir = match output.path().parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}
