//! Entry points for the fuzz targets (`fuzz/`, its own workspace) and for their regression
//! corpus, which `tests/fuzz_corpus.rs` replays in the normal test suite: the readers of
//! untrusted image metadata and layers, driven from bytes alone through the same functions a
//! real image goes through. They return what those readers return; none may panic, hang or
//! allocate without bound, whatever the bytes.

use std::path::{Path, PathBuf};

use rechunk_tree::belongs;

use crate::read::{from_json_bytes, read_metadata, ImageInfo};
use crate::source::{Merge, TarReader};
use crate::{image_diff, image_inventory, image_snapshot, previous_plan, Error, Result};

/// `index.json`, a manifest and a config, separated by NUL bytes (which JSON never holds):
/// read as a layout's metadata (the blobs are served in order, whatever digest is asked for),
/// then every label and annotation reader on the result.
pub fn image_metadata(data: &[u8]) -> Result<ImageInfo> {
    let mut parts = data.splitn(3, |&b| b == 0);
    let index = parts.next().unwrap_or_default();
    let mut blobs = parts.map(<[u8]>::to_vec);
    let mut fetch = |_: &str| Ok(blobs.next().unwrap_or_default());
    let (info, _, _) = read_metadata(index, None, Path::new("fuzz"), "fuzz".into(), &mut fetch)?;
    read_labels(&info)?;
    Ok(info)
}

/// A manifest, config or `skopeo inspect` JSON file (`--previous`, `diff`, `images:`), then
/// every label and annotation reader on what it says.
pub fn image_json(data: &[u8]) -> Result<ImageInfo> {
    let info = from_json_bytes(data, Path::new("fuzz.json"))?;
    read_labels(&info)?;
    Ok(info)
}

/// Our plan label, `ostree.components`, hhd-dev/rechunk's label, our components label. The
/// snapshot reader rightly refuses an image naming no components (`images:` needs them), so
/// only its not panicking counts.
fn read_labels(info: &ImageInfo) -> Result<()> {
    previous_plan(info)?;
    image_inventory(info)?;
    let _ = image_snapshot(info);
    image_diff(info, info);
    Ok(())
}

/// A layer tar as `--from` reads it: headers parsed by the bounded reader, contents read
/// through it, members applied to the merged tree; the same bytes again as a second layer
/// (replacements, whiteouts of the first). Returns the number of entries of the tree.
pub fn layer_tar(data: &[u8]) -> Result<usize> {
    let name = PathBuf::from("fuzz");
    let bad = |layer: usize, e: String| Error::invalid(&name, format!("layer {layer}: {e}"));
    let mut merge = Merge::new(true);
    let mut buf = [0u8; 4096];
    for layer in 0..2 {
        let mut reader = TarReader::new(data);
        while let Some(entry) = reader.next_entry().map_err(|e| bad(layer, e.to_string()))? {
            merge.apply(layer, entry).map_err(|e| bad(layer, e))?;
            while reader
                .read_content(&mut buf)
                .map_err(|e| bad(layer, e.to_string()))?
                > 0
            {}
        }
        merge.end_layer(layer);
    }
    let merged = merge.finish(name.clone());
    belongs::check_boot(&merged.tree)?;
    Ok(merged.tree.entries.len())
}
