//! Reading what an image says about itself: layer descriptors (digest, size, annotations),
//! config labels and dates. Layer blobs are never read here, and archives are indexed, never
//! loaded, so inspecting or diffing a multi-GB archive costs one pass over its tar headers.
//! [`open_layers`] also hands out each layer blob as a byte range, for `--from`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rechunk_fsio::shown::excerpt;
use rechunk_fsio::{open_regular, read_capped, Links};
use rechunk_model::SizeTotal;
use serde_json::Value;

use crate::error::IoContext;
use crate::hashing::sha256_hex;
use crate::layout::REF_NAME;
use crate::reference::{ImageRef, DEFAULT_TAG};
use crate::source::section::{Archive, Section};
use crate::{Error, Result};

/// Largest JSON document (index, manifest, config, a manifest or config file) we hold in
/// memory; JSON nesting is limited by serde_json (128 levels).
pub const MAX_JSON_BLOB: u64 = 64 << 20;

/// One layer as the manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:<hex>`; for a `docker-archive`, the layer's diff_id (its uncompressed digest).
    pub digest: String,
    /// Compressed size in bytes.
    pub size: u64,
    pub media_type: String,
    pub annotations: BTreeMap<String, String>,
}

/// What we know about an image without reading its layers.
#[derive(Clone, Debug, Default)]
pub struct ImageInfo {
    /// The reference it was read from, for messages.
    pub source: String,
    /// `sha256:<hex>` of the manifest, when a manifest was read.
    pub manifest_digest: Option<String>,
    /// Manifest plus config bytes, when known: what a client fetches besides layers.
    pub metadata_bytes: u64,
    pub layers: Vec<LayerInfo>,
    pub labels: BTreeMap<String, String>,
    /// The full image config, when one was read.
    pub config: Option<Value>,
    /// Config `created`, RFC 3339.
    pub created: Option<String>,
}

impl ImageInfo {
    /// Σ compressed layer sizes.
    pub fn layer_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// `created` as seconds since the epoch, when present and valid.
    pub fn created_timestamp(&self) -> Option<i64> {
        let s = self.created.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.timestamp())
    }
}

/// How a layer blob is checked as it is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlobCheck {
    /// Hex sha256 of the blob as stored (an OCI descriptor's digest).
    Stored(String),
    /// Hex sha256 of the uncompressed tar (a `docker-archive`'s diff_id).
    Uncompressed(String),
}

/// One layer blob to read.
#[derive(Clone, Debug)]
pub(crate) struct LayerBlob {
    pub section: Section,
    pub check: BlobCheck,
}

/// An image with its config and its layer blobs, bottom first.
pub(crate) struct OpenedImage {
    pub info: ImageInfo,
    pub config: Value,
    pub layers: Vec<LayerBlob>,
}

/// Reads an image's manifest and config.
pub fn open_image(reference: &ImageRef) -> Result<ImageInfo> {
    match reference {
        ImageRef::Json(path) => from_json_file(path),
        _ => Ok(open_layers(reference)?.info),
    }
}

/// Reads an image's manifest and config and locates its layer blobs.
pub(crate) fn open_layers(reference: &ImageRef) -> Result<OpenedImage> {
    match reference {
        ImageRef::Dir { path, tag } => {
            let store = DirStore { root: path.clone() };
            from_store(&store, tag.as_deref(), reference)
        }
        ImageRef::Archive { path, tag } => {
            let store = ArchiveStore {
                archive: Archive::open(path)?,
            };
            from_store(&store, tag.as_deref(), reference)
        }
        ImageRef::DockerArchive { path } => from_docker_archive(path, reference),
        ImageRef::Json(path) => Err(Error::invalid(
            path,
            "a manifest or config JSON file describes an image but holds no layers",
        )),
    }
}

/// Somewhere blobs and `index.json` can be read from.
trait Store {
    fn location(&self) -> PathBuf;
    fn index(&self) -> Result<Vec<u8>>;
    fn blob(&self, digest: &str) -> Result<Section>;
}

struct DirStore {
    root: PathBuf,
}

impl Store for DirStore {
    fn location(&self) -> PathBuf {
        self.root.clone()
    }
    fn index(&self) -> Result<Vec<u8>> {
        let p = self.root.join("index.json");
        read_capped(&p, Links::NoFollow, MAX_JSON_BLOB, "an OCI index").ctx("reading", &p)
    }
    fn blob(&self, digest: &str) -> Result<Section> {
        let p = blob_path(&self.root, digest)?;
        // A blob is a plain file of the layout, never a link to somewhere else.
        let file = open_regular(&p, Links::NoFollow).ctx("opening", &p)?;
        Section::whole(file, p)
    }
}

/// An `oci-archive`: the layout inside a tar, read in place.
struct ArchiveStore {
    archive: Archive,
}

impl Store for ArchiveStore {
    fn location(&self) -> PathBuf {
        self.archive.path().to_path_buf()
    }
    fn index(&self) -> Result<Vec<u8>> {
        self.archive.require("index.json")?.read_all(MAX_JSON_BLOB)
    }
    fn blob(&self, digest: &str) -> Result<Section> {
        let hex = digest_hex(digest, self.archive.path())?;
        self.archive.require(&format!("blobs/sha256/{hex}"))
    }
}

fn from_store(store: &dyn Store, tag: Option<&str>, reference: &ImageRef) -> Result<OpenedImage> {
    let loc = store.location();
    let index_bytes = store.index()?;
    let mut fetch = |digest: &str| verified_blob(store, digest, &loc);
    let (image, manifest, config) =
        read_metadata(&index_bytes, tag, &loc, reference.to_string(), &mut fetch)?;
    let mut layers = Vec::with_capacity(manifest.layers().len());
    for d in manifest.layers() {
        let digest = d.digest().to_string();
        let section = store.blob(&digest)?;
        if section.len != d.size() {
            return Err(Error::invalid(
                section.name.as_path(),
                format!(
                    "the manifest says {} bytes, the blob has {} (corrupt image)",
                    d.size(),
                    section.len
                ),
            ));
        }
        let check = BlobCheck::Stored(digest_hex(&digest, &loc)?.to_string());
        layers.push(LayerBlob { section, check });
    }
    Ok(OpenedImage {
        info: image,
        config,
        layers,
    })
}

/// What a layout says about one image: `index.json` (its bytes), the manifest it tags, that
/// manifest's config; `fetch` gives a blob's bytes by digest (the stores check them against
/// it). The one path every OCI layout and archive takes, and the fuzz target's.
pub(crate) fn read_metadata(
    index_bytes: &[u8],
    tag: Option<&str>,
    loc: &Path,
    source: String,
    fetch: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
) -> Result<(ImageInfo, ImageManifest, Value)> {
    let index_path = loc.join("index.json");
    let index: ImageIndex =
        serde_json::from_slice(index_bytes).map_err(|e| Error::json(&index_path, e))?;
    let desc = pick_manifest(index.manifests(), tag, loc)?;
    let digest = desc.digest().to_string();
    let manifest_bytes = fetch(&digest)?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Error::json(loc.join(format!("blobs/{digest}")), e))?;
    let config_digest = manifest.config().digest().to_string();
    let config_bytes = fetch(&config_digest)?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::json(loc.join(format!("blobs/{config_digest}")), e))?;
    let mut image = image_from_manifest(&manifest, source);
    check_layer_sizes(&image, &loc.join(format!("blobs/{digest}")))?;
    image.manifest_digest = Some(digest);
    image.metadata_bytes = manifest_bytes.len() as u64 + config_bytes.len() as u64;
    apply_config(&mut image, config.clone());
    Ok((image, manifest, config))
}

/// The manifest tagged `tag`; without a tag, the only manifest, or else the one tagged
/// `latest`.
fn pick_manifest<'a>(
    manifests: &'a [Descriptor],
    tag: Option<&str>,
    loc: &Path,
) -> Result<&'a Descriptor> {
    let name = |d: &Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .cloned()
    };
    let tags: Vec<String> = manifests.iter().filter_map(name).collect();
    let found = match tag {
        Some(t) => manifests.iter().find(|d| name(d).as_deref() == Some(t)),
        None if manifests.len() == 1 => manifests.first(),
        None => manifests
            .iter()
            .find(|d| name(d).as_deref() == Some(DEFAULT_TAG)),
    };
    let desc = found.ok_or_else(|| {
        Error::invalid(
            loc,
            format!(
                "no manifest tagged {:?}; tags present: {}",
                tag.unwrap_or(DEFAULT_TAG),
                if tags.is_empty() {
                    "none".to_string()
                } else {
                    tags.join(", ")
                }
            ),
        )
    })?;
    if desc.media_type().to_string() == "application/vnd.oci.image.index.v1+json" {
        return Err(Error::invalid(
            loc,
            "the tag names a multi-platform index; pick one platform with `skopeo copy` first",
        ));
    }
    Ok(desc)
}

fn verified_blob(store: &dyn Store, digest: &str, loc: &Path) -> Result<Vec<u8>> {
    let bytes = store.blob(digest)?.read_all(MAX_JSON_BLOB)?;
    let hex = digest_hex(digest, loc)?;
    if sha256_hex(&bytes) != hex {
        return Err(Error::invalid(
            loc.join("blobs/sha256").join(hex),
            "content does not match its digest (corrupt image)",
        ));
    }
    Ok(bytes)
}

fn digest_hex<'a>(digest: &'a str, loc: &Path) -> Result<&'a str> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(hex),
        _ => Err(Error::invalid(
            loc,
            format!("unsupported or malformed digest {digest:?} (only sha256 is supported)"),
        )),
    }
}

fn blob_path(root: &Path, digest: &str) -> Result<PathBuf> {
    let hex = digest_hex(digest, root)?;
    Ok(root.join("blobs").join("sha256").join(hex))
}

/// The layer sizes a manifest claims, added up under the one bound on input sizes
/// ([`rechunk_model::MAX_TOTAL_BYTES`]): `diff` and the changelog sum them.
fn check_layer_sizes(image: &ImageInfo, path: &Path) -> Result<()> {
    let mut total = SizeTotal::default();
    for (i, l) in image.layers.iter().enumerate() {
        total.add(l.size).map_err(|e| {
            Error::invalid(
                path,
                format!("layer {} ({}): {e}", i + 1, excerpt(&l.digest)),
            )
        })?;
    }
    Ok(())
}

fn image_from_manifest(manifest: &ImageManifest, source: String) -> ImageInfo {
    let layers = manifest
        .layers()
        .iter()
        .map(|d| LayerInfo {
            digest: d.digest().to_string(),
            size: d.size(),
            media_type: d.media_type().to_string(),
            annotations: d
                .annotations()
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
        .collect();
    ImageInfo {
        source,
        layers,
        ..ImageInfo::default()
    }
}

fn apply_config(image: &mut ImageInfo, config: Value) {
    image.labels = string_map(config.pointer("/config/Labels"));
    image.created = config
        .get("created")
        .and_then(Value::as_str)
        .map(str::to_string);
    image.config = Some(config);
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON file: an image manifest, an image config, or `skopeo inspect` output.
fn from_json_file(path: &Path) -> Result<ImageInfo> {
    let bytes = read_capped(
        path,
        Links::Follow,
        MAX_JSON_BLOB,
        "an image manifest or config",
    )
    .ctx("reading", path)?;
    from_json_bytes(&bytes, path)
}

/// [`from_json_file`] once read; `path` names it.
pub(crate) fn from_json_bytes(bytes: &[u8], path: &Path) -> Result<ImageInfo> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::json(path, e))?;
    let source = path.display().to_string();
    if v.get("layers").is_some_and(Value::is_array) {
        let manifest: ImageManifest =
            serde_json::from_value(v).map_err(|e| Error::json(path, e))?;
        let mut image = image_from_manifest(&manifest, source);
        check_layer_sizes(&image, path)?;
        image.manifest_digest = Some(format!("sha256:{}", sha256_hex(bytes)));
        // The config's size is the manifest's word for it: bounded like any input size.
        let mut metadata = SizeTotal::default();
        metadata
            .add(bytes.len() as u64)
            .and_then(|_| metadata.add(manifest.config().size()))
            .map_err(|e| Error::invalid(path, format!("the config's size: {e}")))?;
        image.metadata_bytes = metadata.get();
        return Ok(image);
    }
    if v.get("LayersData").is_some() || v.get("Labels").is_some() {
        let image = from_skopeo_inspect(&v, source);
        check_layer_sizes(&image, path)?;
        return Ok(image);
    }
    if v.get("rootfs").is_some() || v.get("config").is_some_and(Value::is_object) {
        let mut image = ImageInfo {
            source,
            ..ImageInfo::default()
        };
        image.metadata_bytes = bytes.len() as u64;
        apply_config(&mut image, v);
        return Ok(image);
    }
    Err(Error::invalid(
        path,
        "not an image manifest (no \"layers\"), an image config (no \"config\"/\"rootfs\") nor \
         `skopeo inspect` output (no \"Labels\"/\"LayersData\")",
    ))
}

fn from_skopeo_inspect(v: &Value, source: String) -> ImageInfo {
    let layers = v
        .get("LayersData")
        .and_then(Value::as_array)
        .map(|layers| {
            layers
                .iter()
                .map(|l| LayerInfo {
                    digest: l
                        .get("Digest")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    size: l.get("Size").and_then(Value::as_u64).unwrap_or(0),
                    media_type: l
                        .get("MIMEType")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    annotations: string_map(l.get("Annotations")),
                })
                .collect()
        })
        .unwrap_or_default();
    ImageInfo {
        source,
        manifest_digest: v.get("Digest").and_then(Value::as_str).map(str::to_string),
        layers,
        labels: string_map(v.get("Labels")),
        created: v.get("Created").and_then(Value::as_str).map(str::to_string),
        ..ImageInfo::default()
    }
}

/// A `docker-archive` (what `podman save` and `docker save` write): `manifest.json` lists one
/// image as a config file and layer tar files inside the archive. Layers carry no stored
/// digest; each is checked against its diff_id from the config.
fn from_docker_archive(path: &Path, reference: &ImageRef) -> Result<OpenedImage> {
    let archive = Archive::open(path)?;
    let manifest: Value =
        serde_json::from_slice(&archive.require("manifest.json")?.read_all(MAX_JSON_BLOB)?)
            .map_err(|e| Error::json(path.join("manifest.json"), e))?;
    let images = manifest.as_array().map(Vec::as_slice).unwrap_or_default();
    let image = match images {
        [one] => one,
        [] => return Err(Error::invalid(path, "manifest.json lists no image")),
        many => {
            let tags: Vec<String> = many
                .iter()
                .flat_map(|m| m["RepoTags"].as_array().cloned().unwrap_or_default())
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect();
            return Err(Error::invalid(
                path,
                format!(
                    "manifest.json lists {} images ({}); save one image per archive",
                    many.len(),
                    tags.join(", ")
                ),
            ));
        }
    };
    let field = |k: &str| {
        image[k]
            .as_str()
            .ok_or_else(|| Error::invalid(path, format!("manifest.json: the image has no {k:?}")))
    };
    let config_bytes = archive.require(field("Config")?)?.read_all(MAX_JSON_BLOB)?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::json(path.join(field("Config").unwrap_or_default()), e))?;
    let names: Vec<&str> = image["Layers"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let diff_ids: Vec<&str> = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if names.len() != diff_ids.len() {
        return Err(Error::invalid(
            path,
            format!(
                "manifest.json lists {} layers, the config {} diff_ids",
                names.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut info = ImageInfo {
        source: reference.to_string(),
        metadata_bytes: config_bytes.len() as u64,
        ..ImageInfo::default()
    };
    let mut layers = Vec::with_capacity(names.len());
    for (name, diff_id) in names.iter().zip(&diff_ids) {
        let section = archive.require(name)?;
        info.layers.push(LayerInfo {
            digest: diff_id.to_string(),
            size: section.len,
            media_type: "application/vnd.docker.image.rootfs.diff.tar".into(),
            annotations: BTreeMap::new(),
        });
        let check = BlobCheck::Uncompressed(digest_hex(diff_id, path)?.to_string());
        layers.push(LayerBlob { section, check });
    }
    apply_config(&mut info, config.clone());
    Ok(OpenedImage {
        info,
        config,
        layers,
    })
}
