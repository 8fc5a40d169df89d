//! `--format ostree`: the chunked ostree-container image that bootc and rpm-ostree import
//! (ostree-ext's "encapsulated" layout, version 1), written from a tree and a plan.
//!
//! The layout, as ostree-ext's exporter writes it and its importer checks it:
//! - **layer 0, the commit layer**: the repository skeleton (`sysroot/ostree/repo/` with
//!   `objects/00` … `objects/ff`, `extensions`, `refs/{heads,mirrors,remotes}`, `state`,
//!   `tmp/cache` and a `config` saying `mode=bare-split-xattrs`), then the commit object (the
//!   first object the importer meets, as it requires), then every dirtree and dirmeta object.
//!   It has no `ostree.components` annotation (rpm-ostree skips it when it reads a previous
//!   build's plan).
//! - **one layer per non-empty plan layer**, in plan order, so the layers after the first hold
//!   exactly the components the default format's layers hold: the skeleton again, then each
//!   file object its entries need (once per layer): first `objects/ab/cdef….file-xattrs-link`,
//!   a regular file holding the object's xattrs as GVariant `a(ayay)` (the importer takes an
//!   object's xattrs from the entry just before it), then `objects/ab/cdef….file` (regular
//!   file with its content, or symlink) with the object's owner, mode and xattrs; then the
//!   checkout: parent directories with their metadata, and every regular file and symlink as a
//!   tar hardlink to its object, except empty regular files, written as themselves (as
//!   ostree-ext does). `ostree.components` and `dev.rechunk.layer-key` as in the default format.
//! - labels `ostree.commit` (the commit checksum), `ostree.final-diffid` (the diff_id of the
//!   last layer), `containers.bootc=1`, `ostree.bootable` and `ostree.linux` for a bootable
//!   tree (the commit's metadata says the same).
//!
//! Every member has mtime 0 (ostree keeps no mtimes), so [`ostree_rules`] clamps file mtimes
//! to 0 and the component versions hash that. The commit's checksums come from
//! [`rechunk_ostree`]: one pass hashes every file object in memory (contents read, never
//! stored), then the layers are written; the commit layer does not depend on the plan, the
//! other layers' bytes only on their entries. The tree is committed as it is (an `/etc` stays
//! `/etc`: ostree deploys move it to `/usr/etc`); a tree that keeps it at `/usr/etc` (an
//! rpm-ostree commit read with `--from ostree:`) has it checked out at `/etc`, as ostree-ext
//! does. Nothing may live under `/sysroot`, where the repository goes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use rayon::prelude::*;
use rechunk_ostree::gvariant::Value;
use rechunk_ostree::object::{object_path, xattrs_bytes, Checksum};
use rechunk_ostree::{build_commit, file_objects, Commit, CommitMeta, Hooks};
use rechunk_tree::{Entry, EntryKind, Member, Tree, WriteRules, Written, WrittenKind};

use crate::assign::assign;
use crate::compression::Compression;
use crate::config::{image_config, ConfigInput, HistoryEntry};
use crate::error::{IoContext, NamedWriter};
use crate::hashing::HashWriter;
use crate::interrupt;
use crate::json::canonical_bytes;
use crate::layer_tar::{TarInput, TarStream};
use crate::layout::{Blob, Staging};
use crate::write::Progress;
use crate::write::{history, is_bootable, layer_descriptor, BuildReport, BuildRequest, BuiltLayer};
use crate::{Error, Result};

/// Config label naming the commit an ostree-container image holds.
pub const OSTREE_COMMIT_LABEL: &str = "ostree.commit";
/// Config label: the diff_id of the last layer that is part of the ostree commit.
pub const FINAL_DIFFID_LABEL: &str = "ostree.final-diffid";
/// Label and commit metadata of a bootable commit.
pub const OSTREE_BOOTABLE: &str = "ostree.bootable";

/// Where the repository lives in every layer.
const REPO: &str = "sysroot/ostree/repo";
/// The repository's config: what a tar export of a commit is.
const REPO_CONFIG: &[u8] = b"[core]\nrepo_version=1\nmode=bare-split-xattrs\n";
/// Subject of the commit.
const SUBJECT: &str = "rechunk";

/// The rules of this format: no mtimes (every file written at 0), the rest as `rules` says.
pub fn ostree_rules(rules: WriteRules) -> WriteRules {
    let mut r = rules;
    r.clamp_mtime = Some(0);
    r
}

/// What an ostree-container build produced.
#[derive(Clone, Debug)]
pub struct OstreeBuild {
    /// The plan layers (after the commit layer); `compressed_bytes` counts every layer.
    pub report: BuildReport,
    /// Layer 0.
    pub commit_layer: BuiltLayer,
    /// Hex checksum of the commit.
    pub commit: String,
}

/// Writes `req` as an ostree-container image. `req.rules` must be [`ostree_rules`] (the
/// component versions must have been made with them). On error nothing is left at the
/// destination.
pub fn build_ostree_image(req: &BuildRequest) -> Result<OstreeBuild> {
    if req.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    if req.rules != ostree_rules(req.rules) {
        return Err(Error::Internal(
            "the ostree format is written with ostree_rules (file mtimes 0)".into(),
        ));
    }
    let paths = Checkout::new(req.tree)?;
    let assignment = assign(req.tree, req.components, req.owner, req.plan)?;
    let staging = Staging::new(req.output)?;
    let emitted: Vec<usize> = (0..req.plan.layers.len())
        .filter(|&i| assignment.owned[i] > 0)
        .collect();
    let content = emitted.iter().fold(0u64, |sum, &i| {
        sum.saturating_add(assignment.content_bytes[i])
    });
    let progress = |p: Progress| {
        if let Some(f) = req.progress {
            f(p)
        }
    };
    // Every byte is read twice: once hashed, once written.
    progress(Progress::Start {
        layers: emitted.len() + 1,
        bytes: content.saturating_mul(2),
    });
    let pool = crate::write::writer_pool(req.jobs, "ostree", &staging)?;
    let failed = AtomicBool::new(false);
    let stop = || interrupt::requested() || failed.load(Ordering::Relaxed);
    let on_bytes = |n| progress(Progress::Content { bytes: n });
    let hooks = Hooks {
        stop: &stop,
        on_bytes: &on_bytes,
    };
    let files = pool
        .install(|| file_objects(req.tree, req.content, &req.rules, hooks))
        .map_err(from_ostree)?;
    let kernel = kernel_version(req.tree);
    let bootable = is_bootable(req.tree);
    let commit = build_commit(
        req.tree,
        files,
        &req.rules,
        commit_meta(req, bootable, &kernel),
    )
    .map_err(from_ostree)?;

    let mut compressor = req
        .compression
        .compressor()
        .ctx("starting a compressor for", staging.path())?;
    let skeleton = Skeleton::new(req.tree);
    let commit_layer = write_blob(&staging, req.compression, &mut compressor, |out| {
        commit_tar(out, req, &skeleton, &commit, &failed)
    })?;
    let commit_layer = BuiltLayer {
        plan_index: usize::MAX,
        components: Vec::new(),
        content_bytes: 0,
        ..commit_layer
    };
    progress(Progress::LayerDone { bytes: 0 });

    let results: Vec<Result<BuiltLayer>> = pool.install(|| {
        emitted
            .par_iter()
            .map(|&i| {
                let members = &assignment.layers[i];
                let result = req
                    .compression
                    .compressor()
                    .ctx("starting a compressor for", staging.path())
                    .and_then(|mut c| {
                        write_blob(&staging, req.compression, &mut c, |out| {
                            chunk_tar(out, req, &skeleton, &paths, &commit, members, &failed)
                        })
                    });
                match result {
                    Ok(l) => {
                        progress(Progress::LayerDone {
                            bytes: assignment.content_bytes[i],
                        });
                        Ok(BuiltLayer {
                            plan_index: i,
                            components: req.plan.layers[i].components.clone(),
                            content_bytes: assignment.content_bytes[i],
                            ..l
                        })
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        Err(e)
                    }
                }
            })
            .collect()
    });
    let layers = first_error(results)?;

    let last = layers.last().unwrap_or(&commit_layer);
    let mut labels: Vec<(String, String)> = req.labels.to_vec();
    labels.push((OSTREE_COMMIT_LABEL.into(), commit.checksum.to_hex()));
    labels.push((FINAL_DIFFID_LABEL.into(), last.diff_id.clone()));
    if bootable {
        labels.push((OSTREE_BOOTABLE.into(), "true".into()));
    }
    if let Some(k) = &kernel {
        labels.push((crate::OSTREE_LINUX.into(), k.clone()));
    }
    let mut history_entries = vec![HistoryEntry {
        created_by: format!("rechunk --format ostree: ostree commit {}", commit.checksum),
        comment: "ostree commit".into(),
    }];
    history_entries.extend(history(req, &layers));
    let config = image_config(&ConfigInput {
        base: req.base_config,
        labels: &labels,
        created: req.created,
        bootable,
        diff_ids: std::iter::once(&commit_layer)
            .chain(&layers)
            .map(|l| l.diff_id.clone())
            .collect(),
        history: history_entries,
        record: req.record,
        components: req.components,
    })
    .map_err(|e| Error::json(staging.path(), e))?;
    let config_blob =
        staging.put_blob(&canonical_bytes(&config).map_err(|e| Error::json(staging.path(), e))?)?;
    let manifest = manifest_json(req.compression, &config_blob, &commit_layer, &layers, req)?;
    let manifest_blob = staging.put_blob(&manifest)?;
    let reference = staging.commit(manifest_blob.descriptor(MediaType::ImageManifest)?)?;
    let compressed_bytes = commit_layer.size + layers.iter().map(|l| l.size).sum::<u64>();
    Ok(OstreeBuild {
        report: BuildReport {
            reference,
            manifest_digest: format!("sha256:{}", manifest_blob.digest),
            layers,
            bootable,
            compressed_bytes,
        },
        commit_layer,
        commit: commit.checksum.to_hex(),
    })
}

/// The layers, or the first error that is not a writer stopping because another failed.
fn first_error(results: Vec<Result<BuiltLayer>>) -> Result<Vec<BuiltLayer>> {
    let mut layers = Vec::with_capacity(results.len());
    let mut aborted = false;
    for r in results {
        match r {
            Ok(l) => layers.push(l),
            Err(Error::Aborted) => aborted = true,
            Err(e) => return Err(e),
        }
    }
    if interrupt::requested() {
        return Err(Error::Interrupted);
    }
    if aborted {
        return Err(Error::Aborted);
    }
    Ok(layers)
}

fn from_ostree(e: rechunk_ostree::Error) -> Error {
    match e {
        rechunk_ostree::Error::Stopped if interrupt::requested() => Error::Interrupted,
        rechunk_ostree::Error::Stopped => Error::Aborted,
        rechunk_ostree::Error::Tree(t) => Error::Tree(t),
        rechunk_ostree::Error::Invalid { path, reason } => Error::Invalid { path, reason },
        rechunk_ostree::Error::Io {
            action,
            path,
            source,
        } => Error::io(action, path, source),
        other => Error::Internal(other.to_string()),
    }
}

/// The commit's metadata: bootability and kernel, as rpm-ostree records them.
fn commit_meta(req: &BuildRequest, bootable: bool, kernel: &Option<String>) -> CommitMeta {
    let mut metadata = Vec::new();
    if bootable {
        metadata.push((OSTREE_BOOTABLE.to_string(), Value::Bool(true)));
    }
    if let Some(k) = kernel {
        metadata.push((crate::OSTREE_LINUX.to_string(), Value::Str(k.clone())));
    }
    CommitMeta {
        metadata,
        subject: SUBJECT.into(),
        body: String::new(),
        timestamp: u64::try_from(req.created).unwrap_or(0),
    }
}

/// The version of the kernel at `usr/lib/modules/VERSION/vmlinuz`, when there is one.
fn kernel_version(tree: &Tree) -> Option<String> {
    tree.entries.iter().find_map(|e| {
        let p = &e.path;
        let is_kernel = e.is_regular()
            && p.file_name() == Some("vmlinuz".as_ref())
            && p.parent()?.parent()? == Path::new("usr/lib/modules");
        is_kernel
            .then(|| p.parent()?.file_name()?.to_str().map(str::to_string))
            .flatten()
    })
}

/// Where each entry of the tree is checked out in a layer.
struct Checkout {
    /// The tree keeps `/etc` at `/usr/etc` (an rpm-ostree commit): check it out at `/etc`.
    map_usr_etc: bool,
}

impl Checkout {
    /// Refuses trees this format cannot hold.
    fn new(tree: &Tree) -> Result<Checkout> {
        let has = |p: &str| tree.entries.iter().any(|e| e.path == Path::new(p));
        if let Some(e) = tree
            .entries
            .iter()
            .find(|e| e.path.starts_with("sysroot") && e.path != Path::new("sysroot"))
        {
            return Err(Error::invalid(
                tree.root.join(&e.path),
                "--format ostree keeps its repository under /sysroot/ostree: the tree must \
                 have nothing under /sysroot",
            ));
        }
        if has("etc") && has("usr/etc") {
            return Err(Error::invalid(
                tree.root.join("usr/etc"),
                "the tree has both /etc and /usr/etc, which ostree refuses to deploy",
            ));
        }
        Ok(Checkout {
            map_usr_etc: has("usr/etc"),
        })
    }

    fn path<'p>(&self, p: &'p Path) -> Cow<'p, Path> {
        match p.strip_prefix("usr/etc") {
            Ok(rest) if self.map_usr_etc => Cow::Owned(Path::new("etc").join(rest)),
            _ => Cow::Borrowed(p),
        }
    }
}

/// The repository skeleton every layer starts with.
struct Skeleton {
    dirs: Vec<PathBuf>,
    /// The tree's own `/sysroot`, when it has one: its metadata is kept.
    sysroot: Option<usize>,
    config: PathBuf,
}

impl Skeleton {
    fn new(tree: &Tree) -> Skeleton {
        let mut dirs: Vec<PathBuf> = ["sysroot", "sysroot/ostree", REPO]
            .iter()
            .map(PathBuf::from)
            .collect();
        let repo = Path::new(REPO);
        dirs.push(repo.join("objects"));
        dirs.extend((0..=0xffu8).map(|b| repo.join("objects").join(format!("{b:02x}"))));
        for d in [
            "extensions",
            "refs",
            "refs/heads",
            "refs/mirrors",
            "refs/remotes",
            "state",
            "tmp",
            "tmp/cache",
        ] {
            dirs.push(repo.join(d));
        }
        Skeleton {
            dirs,
            sysroot: tree
                .entries
                .iter()
                .position(|e| e.path == Path::new("sysroot") && e.is_dir()),
            config: repo.join("config"),
        }
    }

    fn write<W: Write + ?Sized>(
        &self,
        tar: &mut TarStream<'_, W>,
        tree: &Tree,
        rules: &WriteRules,
    ) -> Result<()> {
        for d in &self.dirs {
            tar.check_stop()?;
            let w = match self.sysroot {
                Some(i) if d == Path::new("sysroot") => rules.written(&tree.entries[i], None),
                _ => Written::synthetic_dir(d),
            };
            tar.bare_member(&w)?;
        }
        tar.member(
            &plain_file(&self.config, REPO_CONFIG.len() as u64),
            REPO_CONFIG,
        )
    }
}

/// A root-owned 0644 regular file of the repository (config, metadata objects, xattrs).
fn plain_file(path: &Path, size: u64) -> Written<'_> {
    Written {
        path,
        kind: WrittenKind::Regular { size },
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        xattrs: Vec::new(),
    }
}

fn object_member_path(sum: &Checksum, ext: &str) -> PathBuf {
    Path::new(REPO).join("objects").join(object_path(sum, ext))
}

/// Layer 0: skeleton, commit, dirtrees, dirmetas.
fn commit_tar(
    out: &mut dyn Write,
    req: &BuildRequest,
    skeleton: &Skeleton,
    commit: &Commit,
    abort: &AtomicBool,
) -> Result<()> {
    let mut tar = TarStream::new(out, tar_input(req), abort);
    skeleton.write(&mut tar, req.tree, &req.rules)?;
    let path = object_member_path(&commit.checksum, "commit");
    tar.member(&plain_file(&path, commit.bytes.len() as u64), &commit.bytes)?;
    let objects = commit
        .dirtrees
        .iter()
        .map(|(s, b)| (s, b, "dirtree"))
        .chain(commit.dirmetas.iter().map(|(s, b)| (s, b, "dirmeta")));
    for (sum, bytes, ext) in objects {
        tar.check_stop()?;
        let path = object_member_path(sum, ext);
        tar.member(&plain_file(&path, bytes.len() as u64), bytes)?;
    }
    tar.finish()
}

fn tar_input<'a>(req: &BuildRequest<'a>) -> TarInput<'a> {
    TarInput {
        tree: req.tree,
        content: req.content,
        rules: req.rules,
        on_content: None,
        digest_wanted: None,
    }
}

/// A plan layer: skeleton, the file objects its entries need, its checkout.
fn chunk_tar(
    out: &mut dyn Write,
    req: &BuildRequest,
    skeleton: &Skeleton,
    checkout: &Checkout,
    commit: &Commit,
    members: &[Member],
    abort: &AtomicBool,
) -> Result<()> {
    let on_content = |n| {
        if let Some(p) = req.progress {
            p(Progress::Content { bytes: n })
        }
    };
    let input = TarInput {
        on_content: Some(&on_content),
        ..tar_input(req)
    };
    let tree = req.tree;
    let rules = &req.rules;
    let mut tar = TarStream::new(out, input, abort);
    skeleton.write(&mut tar, tree, rules)?;
    // The objects, each once, by checksum; an object's first entry gives its metadata (any
    // entry with that object has the same).
    let mut objects: BTreeMap<Checksum, usize> = BTreeMap::new();
    for m in members {
        if let Member::Entry(i) = m {
            if let Some(sum) = commit.files[*i] {
                objects.entry(sum).or_insert(*i);
            }
        }
    }
    for (sum, &i) in &objects {
        tar.check_stop()?;
        let e = &tree.entries[i];
        let xattrs: Vec<_> = rules.xattrs(e).collect();
        let link = object_member_path(sum, "file-xattrs-link");
        let xbytes = xattrs_bytes(&xattrs);
        tar.member(&plain_file(&link, xbytes.len() as u64), &xbytes)?;
        let path = object_member_path(sum, "file");
        let object = object_record(&path, e, rules);
        match object.kind {
            WrittenKind::Regular { .. } => tar.member_with_content(&object, e)?,
            _ => tar.bare_member(&object)?,
        }
    }
    let mut seen_dirs: HashSet<PathBuf> = HashSet::new();
    for m in members {
        tar.check_stop()?;
        match m {
            Member::SyntheticDir(p) => {
                let p = checkout.path(p);
                if seen_dirs.insert(p.to_path_buf()) {
                    tar.bare_member(&Written::synthetic_dir(&p))?;
                }
            }
            Member::Entry(i) => {
                let e = &tree.entries[*i];
                if e.path == Path::new("sysroot") {
                    continue; // written with the skeleton
                }
                let p = checkout.path(&e.path);
                match commit.files[*i] {
                    None => {
                        let mut w = rules.written(e, None);
                        w.path = &p;
                        if seen_dirs.insert(p.to_path_buf()) {
                            tar.bare_member(&w)?;
                        }
                    }
                    Some(sum) => {
                        let object = object_member_path(&sum, "file");
                        let mut w = object_record(&p, e, rules);
                        if e.is_regular() && e.size == 0 {
                            // An empty file is itself, not a link into the repository.
                            tar.member(&w, &[])?;
                        } else {
                            w.kind = WrittenKind::Hardlink(&object);
                            w.xattrs.clear();
                            tar.bare_member(&w)?;
                        }
                    }
                }
            }
        }
    }
    tar.finish()
}

/// A file object as a tar member at `path`: the entry's owner, mode (symlinks 0777, as ostree
/// records them) and xattrs, mtime 0.
fn object_record<'e>(path: &'e Path, e: &'e Entry, rules: &WriteRules) -> Written<'e> {
    let (kind, mode) = match &e.kind {
        EntryKind::Symlink(t) => (WrittenKind::Symlink(t), 0o777),
        _ => (WrittenKind::Regular { size: e.size }, rules.mode(e)),
    };
    Written {
        path,
        kind,
        mode,
        uid: e.uid,
        gid: e.gid,
        mtime: 0,
        xattrs: rules.xattrs(e).collect(),
    }
}

/// Streams one layer blob: tar → sha256 (diff_id) → compressor → sha256 (digest) → file.
fn write_blob(
    staging: &Staging,
    compression: Compression,
    compressor: &mut crate::compression::Compressor,
    body: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<BuiltLayer> {
    let tmp = staging.temp_blob()?;
    let tmp_path = tmp.path().to_path_buf();
    let file = BufWriter::with_capacity(1 << 20, NamedWriter::new(tmp.as_file(), &tmp_path));
    let blob_hasher = match compression {
        Compression::None => HashWriter::counting(file),
        _ => HashWriter::new(file),
    };
    let encoder = compressor
        .encoder(blob_hasher)
        .ctx("starting the compressor for", &tmp_path)?;
    let mut tar = HashWriter::new(encoder);
    body(&mut tar)?;
    let (encoder, diff_id, tar_size) = tar.finish();
    let diff_id = diff_id.unwrap_or_default();
    let compressed = encoder.finish().ctx("compressing into", &tmp_path)?;
    let (mut file, digest, size) = compressed.finish();
    let digest = digest.unwrap_or_else(|| diff_id.clone());
    file.flush().ctx("writing", &tmp_path)?;
    drop(file);
    staging.persist_blob(tmp, &digest)?;
    Ok(BuiltLayer {
        plan_index: 0,
        components: Vec::new(),
        digest: format!("sha256:{digest}"),
        size,
        diff_id: format!("sha256:{diff_id}"),
        tar_size,
        content_bytes: 0,
    })
}

/// The commit layer without annotations, then the plan layers as the default format
/// annotates them.
fn manifest_json(
    compression: Compression,
    config: &Blob,
    commit_layer: &BuiltLayer,
    layers: &[BuiltLayer],
    req: &BuildRequest,
) -> Result<Vec<u8>> {
    let first: Descriptor = Blob {
        digest: commit_layer
            .digest
            .trim_start_matches("sha256:")
            .to_string(),
        size: commit_layer.size,
    }
    .descriptor(compression.media_type())?;
    let mut descriptors = vec![first];
    for l in layers {
        descriptors.push(layer_descriptor(compression, l, &req.record.components)?);
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.descriptor(MediaType::ImageConfig)?)
        .layers(descriptors)
        .build()
        .map_err(|e| Error::Internal(format!("building the manifest: {e}")))?;
    canonical_bytes(&manifest).map_err(|e| Error::json(Path::new("manifest"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Directory,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            xattrs: Vec::new(),
            hardlink: None,
        }
    }

    #[test]
    fn usr_etc_is_checked_out_at_etc_and_sysroot_must_be_empty() {
        let tree = |paths: &[&str]| Tree {
            root: "/r".into(),
            entries: paths.iter().map(|p| dir(p)).collect(),
        };
        let c = Checkout::new(&tree(&["usr", "usr/etc"])).unwrap();
        assert_eq!(c.path(Path::new("usr/etc/passwd")), Path::new("etc/passwd"));
        assert_eq!(c.path(Path::new("usr/etcetera")), Path::new("usr/etcetera"));
        let c = Checkout::new(&tree(&["etc", "usr"])).unwrap();
        assert_eq!(c.path(Path::new("etc/passwd")), Path::new("etc/passwd"));
        assert!(Checkout::new(&tree(&["etc", "usr", "usr/etc"])).is_err());
        let err = Checkout::new(&tree(&["sysroot", "sysroot/x"]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/r/sysroot/x"), "{err}");
        assert!(Checkout::new(&tree(&["sysroot"])).is_ok());
    }

    #[test]
    fn kernel_version_from_the_modules_directory() {
        let mut k = dir("usr/lib/modules/6.9.7-200.fc40.x86_64/vmlinuz");
        k.kind = EntryKind::Regular;
        let tree = Tree {
            root: "/r".into(),
            entries: vec![k],
        };
        assert_eq!(
            kernel_version(&tree).as_deref(),
            Some("6.9.7-200.fc40.x86_64")
        );
        assert_eq!(kernel_version(&Tree::default()), None);
        let keep = WriteRules {
            clamp_mtime: Some(5),
            selinux: rechunk_tree::SelinuxMode::Keep,
        };
        let rules = ostree_rules(keep);
        assert_eq!(rules.clamp_mtime, Some(0));
        assert_eq!(rules.selinux, keep.selinux, "only mtimes change");
    }
}
