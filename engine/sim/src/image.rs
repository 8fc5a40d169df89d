//! The image a plan makes of one snapshot, as far as the metrics need it: each layer's identity
//! ([`rechunk_model::layer_key`], the key the image writer's blobs follow) and size, and for each
//! component which layer-mates it has, to tell re-planning apart from content change.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use rechunk_model::{layer_key, update_cost, LayerKey, Plan, Snapshot, UpdateCost};

/// Compressed bytes per uncompressed byte, estimated from the one FCOS build for which both are
/// known: the real 51-layer gzip FCOS image in `tests/data/manifest1.json` has 697,035,775 layer
/// bytes, and the FCOS 37 contentmeta (same tool, same era) counts 1,351,235,724 content bytes.
/// Applied to every layer alike: per-package compressibility is not known for the histories.
pub const COMPRESSION_RATIO: f64 = 697_035_775.0 / 1_351_235_724.0;

/// Manifest + config bytes per layer: the real FCOS image's manifest (8,261 bytes) and config
/// (9,301 bytes) for 51 layers, rounded up.
pub const METADATA_BYTES_PER_LAYER: u64 = 345;

/// One version as planned: its non-empty layers and each component's placement.
#[derive(Clone, Debug)]
pub struct Image {
    /// (identity, uncompressed size) of each non-empty layer, bottom first. Empty layers are
    /// not emitted by the image writer, so they do not exist for a client either.
    pub layers: Vec<(LayerKey, u64)>,
    /// Per component, aligned with the snapshot's (sorted) components: a digest of the names of
    /// the components sharing its layer.
    membership: Vec<u64>,
}

impl Image {
    /// Lays out `snapshot` by `plan`, which must have been validated against it.
    pub fn new(snapshot: &Snapshot, plan: &Plan) -> Image {
        let mut membership = vec![0; snapshot.components.len()];
        let mut layers = Vec::with_capacity(plan.len());
        for layer in plan.layers.iter().filter(|l| !l.components.is_empty()) {
            let mut names: Vec<&str> = layer.components.iter().map(String::as_str).collect();
            names.sort_unstable();
            let mut hasher = DefaultHasher::new();
            names.hash(&mut hasher);
            let mates = hasher.finish();
            let mut size = 0;
            let mut members = Vec::with_capacity(names.len());
            for name in names {
                if let Ok(i) = snapshot
                    .components
                    .binary_search_by(|c| c.name.as_str().cmp(name))
                {
                    let c = &snapshot.components[i];
                    membership[i] = mates;
                    size += c.size;
                    members.push((c.name.as_str(), c.version.as_str()));
                }
            }
            layers.push((layer_key(members), size));
        }
        Image { layers, membership }
    }

    /// What a client holding `held` (nothing for a fresh install) downloads to get this image.
    pub fn cost_from(&self, held: Option<&Image>) -> UpdateCost {
        let held_keys = held
            .into_iter()
            .flat_map(|h| h.layers.iter().map(|(k, _)| k));
        let new = self.layers.iter().map(|(k, s)| (k, *s));
        let metadata = METADATA_BYTES_PER_LAYER * self.layers.len() as u64;
        update_cost(held_keys, new, metadata)
    }
}

/// Bytes moved by re-planning from `old` to `new`: Σ size of the components whose content is
/// unchanged but whose layer-mates differ, i.e. bytes fetched again only because the plan
/// regrouped them.
pub fn replanned_bytes(old: (&Snapshot, &Image), new: (&Snapshot, &Image)) -> u64 {
    let (old_snap, old_image) = old;
    let (new_snap, new_image) = new;
    let mut moved = 0;
    let mut j = 0;
    for (i, c) in new_snap.components.iter().enumerate() {
        while j < old_snap.components.len() && old_snap.components[j].name < c.name {
            j += 1;
        }
        let Some(o) = old_snap.components.get(j).filter(|o| o.name == c.name) else {
            continue;
        };
        if o.version == c.version && old_image.membership[j] != new_image.membership[i] {
            moved += c.size;
        }
    }
    moved
}

/// Estimated compressed bytes for `uncompressed` bytes of layers.
pub fn compressed(uncompressed: u64) -> u64 {
    (uncompressed as f64 * COMPRESSION_RATIO).round() as u64
}
