//! Turning a built image into a [`Snapshot`], so that a history can be imported from a series
//! of images (`rechunk compare` over real builds).
//!
//! Components and versions come from our plan record label when present (kinds and sizes from
//! [`COMPONENTS_LABEL`]). Otherwise from the layers' `ostree.components` annotations, which
//! name components but carry no versions: there a component's version is the digest of the
//! layer holding it (the layer changed ⇔ something in it changed) and its size is an even share
//! of that layer's compressed size.

use std::collections::BTreeMap;

use rechunk_fsio::shown::excerpt;
use rechunk_model::{Component, ComponentKind, PlanRecord, SizeTotal, Snapshot, PLAN_LABEL};

use crate::config::{ComponentMeta, COMPONENTS_LABEL};
use crate::previous::OSTREE_COMPONENTS;
use crate::read::ImageInfo;
use crate::{Error, Result};

/// The snapshot an image represents: id = manifest digest (or the reference), date = config
/// `created` (0 when absent).
pub fn image_snapshot(image: &ImageInfo) -> Result<Snapshot> {
    let id = image
        .manifest_digest
        .clone()
        .unwrap_or_else(|| image.source.clone());
    let date = image.created_timestamp().unwrap_or(0);
    if let Some(json) = image.labels.get(PLAN_LABEL) {
        let record: PlanRecord = serde_json::from_str(json).map_err(|e| {
            Error::invalid(
                &image.source,
                format!("label {PLAN_LABEL} is not a valid plan record: {e}"),
            )
        })?;
        let meta: BTreeMap<String, ComponentMeta> = image
            .labels
            .get(COMPONENTS_LABEL)
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let mut total = SizeTotal::default();
        let mut components = Vec::with_capacity(record.components.len());
        for (name, version) in &record.components {
            let (kind, size) = meta
                .get(name)
                .map_or((ComponentKind::Package, 0), |m| (m.kind, m.size));
            total.add(size).map_err(|e| {
                Error::invalid(
                    &image.source,
                    format!("label {COMPONENTS_LABEL}: component {}: {e}", excerpt(name)),
                )
            })?;
            components.push(Component::new(name.clone(), kind, version.clone(), size));
        }
        return Ok(Snapshot::new(id, date, components));
    }
    let mut components = Vec::new();
    for layer in &image.layers {
        let Some(names) = layer.annotations.get(OSTREE_COMPONENTS) else {
            continue;
        };
        let names: Vec<&str> = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let share = layer.size / names.len().max(1) as u64;
        for name in names {
            let kind = if name.starts_with("rpmostree-") {
                ComponentKind::Other
            } else {
                ComponentKind::Package
            };
            components.push(Component::new(name, kind, layer.digest.clone(), share));
        }
    }
    if components.is_empty() {
        return Err(Error::invalid(
            &image.source,
            format!(
                "names no components: neither a {PLAN_LABEL} label nor {OSTREE_COMPONENTS} \
                 layer annotations"
            ),
        ));
    }
    components.sort_by(|a, b| a.name.cmp(&b.name));
    components.dedup_by(|a, b| a.name == b.name);
    Ok(Snapshot::new(id, date, components))
}
