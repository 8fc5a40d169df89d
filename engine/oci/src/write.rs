//! Building an image: plan layers → parallel streamed layer blobs → config → manifest →
//! atomic publish.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use rechunk_model::{layer_key, Component, Plan, PlanRecord, Timestamp};
use rechunk_tree::{ContentSource, EntryKind, Member, Tree, WriteRules};
use serde_json::Value;

use crate::assign::{assign, LayerContents};
use crate::compression::{Compression, Compressor, Workers};
use crate::config::{image_config, ConfigInput, HistoryEntry};
use crate::error::{IoContext, NamedWriter};
use crate::hashing::HashWriter;
use crate::json::canonical_bytes;
use crate::layer_tar::{write_layer_tar, ContentDigests, TarInput};
use crate::layout::{Blob, Staging};
use crate::previous::OSTREE_COMPONENTS;

/// Layer annotation holding [`rechunk_model::layer_key`] of the layer's components.
pub const LAYER_KEY: &str = "dev.rechunk.layer-key";
use crate::reference::ImageRef;
use crate::{Error, Result};

/// Everything one build needs.
pub struct BuildRequest<'a> {
    pub tree: &'a Tree,
    /// Where the tree's file contents are read from.
    pub content: &'a dyn ContentSource,
    /// Components sorted by name; `owner[i]` indexes this for `tree.entries[i]`.
    pub components: &'a [Component],
    pub owner: &'a [usize],
    pub plan: &'a Plan,
    /// Stored in the config label for the next build; its plan should be `plan`.
    pub record: &'a PlanRecord,
    pub output: &'a ImageRef,
    pub compression: Compression,
    /// Layers written at once (≥ 1). The output does not depend on it.
    pub jobs: usize,
    /// Config `created` and history dates.
    pub created: Timestamp,
    /// What is written for each entry; the component versions must have been made with the
    /// same rules.
    pub rules: WriteRules,
    pub labels: &'a [(String, String)],
    /// Config to carry over.
    pub base_config: Option<&'a Value>,
    /// Called from the writer threads as work progresses.
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// Versions the layers finish (see [`LateVersions`]); `components` and `record` are then
    /// what was planned with, and what `finish` returns is what the image carries.
    pub late_versions: Option<LateVersions<'a>>,
}

/// Component versions finished after the layers are written. A build without a previous
/// image plans without the versions that hash file contents (no strategy reads versions then),
/// so the writer computes those contents' digests while it streams them, and every file is read
/// once instead of twice.
#[derive(Clone, Copy)]
pub struct LateVersions<'a> {
    /// Per tree entry: whether the versions need its content digest.
    pub wanted: &'a [bool],
    /// The finished components and plan record, from the digests of the wanted entries the
    /// writer streamed (by entry index; it reads any it did not itself).
    pub finish: &'a FinishVersions<'a>,
}

/// See [`LateVersions::finish`].
pub type FinishVersions<'a> =
    dyn Fn(HashMap<usize, [u8; 32]>) -> Result<(Vec<Component>, PlanRecord)> + Sync + 'a;

/// Progress events.
#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// Before the first layer: how many layers and content bytes will be written.
    Start { layers: usize, bytes: u64 },
    /// File content bytes just written into a layer (a chunk of at most 1 MiB).
    Content { bytes: u64 },
    /// One layer finished, with its content bytes (already reported as `Content`).
    LayerDone { bytes: u64 },
}

/// One emitted layer.
#[derive(Clone, Debug)]
pub struct BuiltLayer {
    /// Index of the plan layer it comes from.
    pub plan_index: usize,
    pub components: Vec<String>,
    /// `sha256:<hex>` of the compressed blob.
    pub digest: String,
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    pub tar_size: u64,
    /// Σ regular-file bytes.
    pub content_bytes: u64,
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildReport {
    /// Where the image is, with its tag.
    pub reference: ImageRef,
    /// `sha256:<hex>` of the manifest.
    pub manifest_digest: String,
    pub layers: Vec<BuiltLayer>,
    pub bootable: bool,
    /// Σ compressed layer sizes.
    pub compressed_bytes: u64,
}

/// Writes the image described by `req`. On error (or interruption) nothing is left at the
/// destination.
pub fn build_image(req: &BuildRequest) -> Result<BuildReport> {
    if req.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    if req.jobs > crate::jobs::max_jobs() {
        return Err(Error::Usage(format!(
            "--jobs {} is more than {} (see rechunk_oci::jobs)",
            req.jobs,
            crate::jobs::max_jobs()
        )));
    }
    let assignment = assign(req.tree, req.components, req.owner, req.plan)?;
    let staging = Staging::new(req.output)?;
    // Layers with no owned entry are not emitted (an empty plan layer, or components without
    // files): they would only add empty tars.
    let emitted: Vec<usize> = (0..req.plan.layers.len())
        .filter(|&i| assignment.owned[i] > 0)
        .collect();
    if let Some(progress) = req.progress {
        progress(Progress::Start {
            layers: emitted.len(),
            bytes: emitted.iter().map(|&i| assignment.content_bytes[i]).sum(),
        });
    }
    let digests = Mutex::new(HashMap::new());
    let layers = write_layers(req, &assignment, &emitted, &staging, &digests)?;
    let finished = match req.late_versions {
        Some(late) => {
            let digests = digests
                .into_inner()
                .map_err(|_| Error::Internal("a layer writer thread panicked".into()))?;
            Some((late.finish)(digests)?)
        }
        None => None,
    };
    let (components, record) = match &finished {
        Some((components, record)) => (components.as_slice(), record),
        None => (req.components, req.record),
    };
    let bootable = is_bootable(req.tree);
    let config = image_config(&ConfigInput {
        base: req.base_config,
        labels: req.labels,
        created: req.created,
        bootable,
        diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        history: history(req, &layers),
        record,
        components,
    })
    .map_err(|e| Error::json(staging.path(), e))?;
    let config_blob =
        staging.put_blob(&canonical_bytes(&config).map_err(|e| Error::json(staging.path(), e))?)?;
    let manifest = manifest_json(req.compression, &config_blob, &layers, &record.components)?;
    let manifest_blob = staging.put_blob(&manifest)?;
    let reference = staging.commit(manifest_blob.descriptor(MediaType::ImageManifest)?)?;
    Ok(BuildReport {
        reference,
        manifest_digest: format!("sha256:{}", manifest_blob.digest),
        compressed_bytes: layers.iter().map(|l| l.size).sum(),
        layers,
        bootable,
    })
}

/// Writes the emitted layers on `jobs` threads, largest first so the longest layer does not
/// start last; results come back in plan order.
fn write_layers(
    req: &BuildRequest,
    assignment: &LayerContents,
    emitted: &[usize],
    staging: &Staging,
    digests: &Mutex<HashMap<usize, [u8; 32]>>,
) -> Result<Vec<BuiltLayer>> {
    let mut order: Vec<usize> = (0..emitted.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(assignment.content_bytes[emitted[k]]));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<BuiltLayer>>>> =
        Mutex::new((0..emitted.len()).map(|_| None).collect());
    let pool = writer_pool(req.jobs, "layer", staging)?;
    // One compressor per writer thread, reused for every layer the thread writes; all of them
    // spread a layer's compression over the same `jobs` workers, so a big layer does not run on
    // one core while the others idle (the bytes do not depend on it: see `compression`).
    let workers = Workers::new(req.jobs).ctx("starting the compressors for", staging.path())?;
    let compressors = (0..req.jobs.min(emitted.len()))
        .map(|_| req.compression.parallel_compressor(&workers))
        .collect::<std::io::Result<Vec<_>>>()
        .ctx("starting the compressors for", staging.path())?;
    pool.scope(|s| {
        let (next, failed, results, order) = (&next, &failed, &results, &order);
        for mut compressor in compressors {
            s.spawn(move |_| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= order.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let slot = order[k];
                let plan_index = emitted[slot];
                let members = &assignment.layers[plan_index];
                let result = write_one_layer(req, staging, &mut compressor, members, failed).map(
                    |(blob, diff, tar, layer_digests)| {
                        if let Ok(mut d) = digests.lock() {
                            d.extend(layer_digests);
                        }
                        BuiltLayer {
                            plan_index,
                            components: req.plan.layers[plan_index].components.clone(),
                            digest: format!("sha256:{}", blob.digest),
                            size: blob.size,
                            diff_id: format!("sha256:{diff}"),
                            tar_size: tar,
                            content_bytes: assignment.content_bytes[plan_index],
                        }
                    },
                );
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                } else if let Some(progress) = req.progress {
                    progress(Progress::LayerDone {
                        bytes: assignment.content_bytes[plan_index],
                    });
                }
                if let Ok(mut r) = results.lock() {
                    r[slot] = Some(result);
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| Error::Internal("a layer writer thread panicked".into()))?;
    // The first real error in plan order (layers stopped because of it say nothing new).
    let mut layers = Vec::with_capacity(results.len());
    let mut aborted = false;
    for r in results.into_iter().flatten() {
        match r {
            Ok(layer) => layers.push(layer),
            Err(Error::Aborted) => aborted = true,
            Err(e) => return Err(e),
        }
    }
    if aborted {
        return Err(Error::Aborted);
    }
    if layers.len() != emitted.len() {
        return Err(Error::Internal("a layer writer stopped early".into()));
    }
    Ok(layers)
}

/// Streams one layer: tar → sha256 (diff_id) → compressor → sha256 (digest) → temp file.
/// Returns the blob, the diff_id, the tar size and the content digests the late versions want.
fn write_one_layer(
    req: &BuildRequest,
    staging: &Staging,
    compressor: &mut Compressor,
    members: &[Member],
    abort: &AtomicBool,
) -> Result<(Blob, String, u64, ContentDigests)> {
    let tmp = staging.temp_blob()?;
    let tmp_path = tmp.path().to_path_buf();
    let file = BufWriter::with_capacity(1 << 20, NamedWriter::new(tmp.as_file(), &tmp_path));
    // Uncompressed, the blob is the tar: its digest is the diff_id, no need to hash it twice.
    let blob_hasher = match req.compression {
        Compression::None => HashWriter::counting(file),
        _ => HashWriter::new(file),
    };
    let encoder = compressor
        .encoder(blob_hasher)
        .ctx("starting the compressor for", &tmp_path)?;
    let mut tar = HashWriter::new(encoder);
    let on_content = |bytes| {
        if let Some(progress) = req.progress {
            progress(Progress::Content { bytes });
        }
    };
    let input = TarInput {
        tree: req.tree,
        content: req.content,
        rules: req.rules,
        on_content: Some(&on_content),
        digest_wanted: req.late_versions.map(|l| l.wanted),
    };
    let digests = write_layer_tar(&mut tar, input, members, abort)?;
    let (encoder, diff_id, tar_size) = tar.finish();
    let diff_id = diff_id.unwrap_or_default();
    let compressed = encoder.finish().ctx("compressing into", &tmp_path)?;
    let (mut file, digest, size) = compressed.finish();
    let digest = digest.unwrap_or_else(|| diff_id.clone());
    file.flush().ctx("writing", &tmp_path)?;
    drop(file);
    staging.persist_blob(tmp, &digest)?;
    Ok((Blob { digest, size }, diff_id, tar_size, digests))
}

pub(crate) fn history(req: &BuildRequest, layers: &[BuiltLayer]) -> Vec<HistoryEntry> {
    let n = layers.len();
    layers
        .iter()
        .enumerate()
        .map(|(k, l)| HistoryEntry {
            created_by: format!(
                "rechunk --strategy {}: layer {} of {n}, {} components",
                req.record.strategy,
                k + 1,
                l.components.len()
            ),
            comment: l.components.join(","),
        })
        .collect()
}

/// Each layer descriptor carries `ostree.components` (as rpm-ostree writes it) and
/// [`LAYER_KEY`], the simulator's identity of the layer, so a built image can be checked
/// against a replay: two layers with the same key are byte-identical blobs.
fn manifest_json(
    compression: Compression,
    config: &Blob,
    layers: &[BuiltLayer],
    versions: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let descriptors = layers
        .iter()
        .map(|l| layer_descriptor(compression, l, versions))
        .collect::<Result<Vec<_>>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.descriptor(MediaType::ImageConfig)?)
        .layers(descriptors)
        .build()
        .map_err(|e| Error::Internal(format!("building the manifest: {e}")))?;
    canonical_bytes(&manifest).map_err(|e| Error::json(Path::new("manifest"), e))
}

/// A layer's descriptor with its `ostree.components` and [`LAYER_KEY`] annotations.
pub(crate) fn layer_descriptor(
    compression: Compression,
    l: &BuiltLayer,
    versions: &BTreeMap<String, String>,
) -> Result<Descriptor> {
    let hex = l.digest.trim_start_matches("sha256:").to_string();
    let mut d: Descriptor = Blob {
        digest: hex,
        size: l.size,
    }
    .descriptor(compression.media_type())?;
    let key = layer_key(l.components.iter().map(|c| {
        let version = versions.get(c).map_or("", String::as_str);
        (c.as_str(), version)
    }));
    let ann = [
        (OSTREE_COMPONENTS.to_string(), l.components.join(",")),
        (LAYER_KEY.to_string(), key.to_string()),
    ];
    d.set_annotations(Some(ann.into_iter().collect()));
    Ok(d)
}

/// bootc's test: `/usr/lib/bootc` exists, or a kernel at `/usr/lib/modules/*/vmlinuz`.
pub fn is_bootable(tree: &Tree) -> bool {
    tree.entries.iter().any(|e| {
        let p = &e.path;
        if p == Path::new("usr/lib/bootc") {
            return true;
        }
        e.kind == EntryKind::Regular
            && p.file_name() == Some("vmlinuz".as_ref())
            && p.parent()
                .and_then(Path::parent)
                .is_some_and(|d| d == Path::new("usr/lib/modules"))
    })
}

/// Component versions of a build, for its [`PlanRecord`].
pub fn component_versions(components: &[Component]) -> BTreeMap<String, String> {
    components
        .iter()
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect()
}

/// The `jobs` threads that write the layers of one image into `staging` (named
/// `rechunk-KIND-N`, so a stack dump says which writer they are).
pub(crate) fn writer_pool(
    jobs: usize,
    kind: &'static str,
    staging: &Staging,
) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(move |i| format!("rechunk-{kind}-{i}"))
        .build()
        .map_err(|e| {
            let e = std::io::Error::other(e.to_string());
            Error::io("starting the layer writer threads for", staging.path(), e)
        })
}
