//! What the commands take from an ostree ref's commit log: a history to replay (`compare
//! --history ostree:REPO:REF`, `changelog --history`) and what the build before this one
//! leaves for `build --previous ostree:REPO:REF`: when the commit is an imported container
//! image (bootc's and rpm-ostree's `ostree container` import records the image's manifest and
//! config in the merge commit's metadata), that image's plan, read as from the image itself;
//! else the change history of the log, without a plan.
//!
//! Each commit is a version (id: its `version` metadata, else its checksum; date: its
//! timestamp) holding its packages: from its own rpm database when its files are in the
//! repository (sizes, source packages, changelogs), else from rpm-ostree's
//! `rpmostree.rpmdb.pkglist` metadata, whose packages take their sizes from a commit whose
//! database was read with the same NEVRA (0 when none was). A commit with neither is left
//! out with a warning. Only packages: unpackaged content, the rpmdb and the initramfs are not
//! components here (they need every file of every commit read).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{bail, Context, Result};
use rechunk_model::{ChangeHistory, History, Snapshot};
use rechunk_oci::{ImageInfo, LayerInfo, PreviousFormat, PreviousPlan};
use rechunk_ostree::{CommitInfo, OstreeRef, PackageSource};
use rechunk_rootfs::package_components;
use serde_json::Value;

/// The ref's commits as a history, oldest first.
pub fn history(spec: &str) -> Result<History> {
    let r = OstreeRef::parse(spec)?;
    let log = rechunk_ostree::commit_log(&r, true, &std::env::temp_dir())
        .with_context(|| format!("reading the commit log of {r}"))?;
    let snapshots = snapshots(&r, log)?;
    Ok(History {
        name: r.rev.clone(),
        snapshots,
    })
}

/// The previous build, when it is an ostree commit (see the module doc).
pub fn previous(spec: &str) -> Result<PreviousPlan> {
    let r = OstreeRef::parse(spec)?;
    let log = rechunk_ostree::commit_log(&r, false, &std::env::temp_dir())
        .with_context(|| format!("reading the commit log of {r}"))?;
    if let Some(image) = log.first().and_then(|c| imported_image(&r, c).transpose()) {
        let image = image?;
        if let Some(plan) = rechunk_oci::previous_plan(&image)? {
            return Ok(plan);
        }
    }
    let h = history(spec)?;
    let versions = h
        .snapshots
        .last()
        .map(|s| {
            s.components
                .iter()
                .map(|c| (c.name.clone(), c.version.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(PreviousPlan {
        format: PreviousFormat::OstreeLog,
        plan: Default::default(),
        history: ChangeHistory::from_snapshots(&h.snapshots),
        versions,
        record: None,
    })
}

/// The image an ostree-container import made `c` from, as its metadata records it.
fn imported_image(r: &OstreeRef, c: &CommitInfo) -> Result<Option<ImageInfo>> {
    let (Some(manifest), Some(config)) = (&c.image_manifest, &c.image_config) else {
        return Ok(None);
    };
    let what = |key: &str| format!("{r}: commit {} metadata {key}", c.checksum);
    let manifest: Value =
        serde_json::from_str(manifest).with_context(|| what(rechunk_ostree::MANIFEST_KEY))?;
    let config: Value =
        serde_json::from_str(config).with_context(|| what(rechunk_ostree::IMAGE_CONFIG_KEY))?;
    let strings = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let layers = manifest["layers"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| LayerInfo {
                    digest: l["digest"].as_str().unwrap_or_default().to_string(),
                    size: l["size"].as_u64().unwrap_or(0),
                    media_type: l["mediaType"].as_str().unwrap_or_default().to_string(),
                    annotations: strings(&l["annotations"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(ImageInfo {
        source: format!("{r} (imported image)"),
        manifest_digest: c.image_manifest_digest.clone(),
        metadata_bytes: 0,
        layers,
        labels: strings(&config["config"]["Labels"]),
        created: config["created"].as_str().map(str::to_string),
        config: Some(config),
    }))
}

fn snapshots(r: &OstreeRef, mut log: Vec<CommitInfo>) -> Result<Vec<Snapshot>> {
    log.reverse();
    // NEVRA → (size, source rpm, build time, changelog) from the databases read.
    let mut known: HashMap<String, rechunk_rpmdb::Package> = HashMap::new();
    for c in &log {
        if let Some(p) = c
            .packages
            .as_ref()
            .filter(|p| p.source == PackageSource::Rpmdb)
        {
            for pkg in &p.packages {
                known.entry(pkg.nevra()).or_insert_with(|| pkg.clone());
            }
        }
    }
    let mut out = Vec::with_capacity(log.len());
    let mut without_size: BTreeSet<String> = BTreeSet::new();
    for c in log {
        let Some(p) = c.packages else {
            tracing::warn!(
                "{r}: commit {} has neither its rpm database in the repository nor \
                 rpmostree.rpmdb.pkglist metadata: left out of the history",
                c.checksum
            );
            continue;
        };
        let packages: Vec<rechunk_rpmdb::Package> = p
            .packages
            .into_iter()
            .map(|pkg| match known.get(&pkg.nevra()) {
                Some(full) if p.source == PackageSource::Pkglist => full.clone(),
                _ => {
                    if p.source == PackageSource::Pkglist {
                        without_size.insert(pkg.nevra());
                    }
                    pkg
                }
            })
            .collect();
        let id = c.version.clone().unwrap_or_else(|| c.checksum.clone());
        out.push(Snapshot::new(
            id,
            c.timestamp,
            package_components(&packages, false),
        ));
    }
    if !without_size.is_empty() {
        tracing::warn!(
            "{r}: {} packages known only from rpmostree.rpmdb.pkglist metadata count 0 bytes \
             (no commit with their files is in the repository)",
            without_size.len()
        );
    }
    if out.is_empty() {
        bail!("{r}: no commit of its log lists its packages");
    }
    Ok(out)
}
