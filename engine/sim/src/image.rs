//! The image a plan makes of one snapshot, as far as the metrics need it: each layer's identity
//! ([`rechunk_model::layer_key`], the key the image writer's blobs follow) and size, and which
//! layer each component is in, to tell re-planning apart from content change.

use std::collections::HashMap;

use rechunk_model::{layer_key, update_cost, LayerKey, Plan, Snapshot, UpdateCost};

/// Compressed bytes per uncompressed byte, estimated from the one FCOS build for which both are
/// known: the real 51-layer gzip FCOS image in `tests/data/manifest1.json` has 697,035,775 layer
/// bytes, and the FCOS 37 contentmeta (same tool, same era) counts 1,351,235,724 content bytes.
/// gzip, over the whole image: the fallback for a strategy without a ratio measured on built
/// images, and the estimate `--fixed-ratio` asks for ([`crate::compression`]).
pub const COMPRESSION_RATIO: f64 = 697_035_775.0 / 1_351_235_724.0;

/// Manifest + config bytes per layer: the real FCOS image's manifest (8,261 bytes) and config
/// (9,301 bytes) for 51 layers, rounded up.
pub const METADATA_BYTES_PER_LAYER: u64 = 345;

/// One version as planned: its non-empty layers and each component's placement. A layer's size
/// is the tar bytes its components make ([`rechunk_model::Component::layer_bytes`]).
#[derive(Clone, Debug)]
pub struct Image {
    /// (identity, uncompressed size) of each non-empty layer, bottom first. Empty layers are
    /// not emitted by the image writer, so they do not exist for a client either.
    pub layers: Vec<(LayerKey, u64)>,
    /// Per component, aligned with the snapshot's (sorted) components: index into `layers`.
    layer_of: Vec<u32>,
}

impl Image {
    /// Lays out `snapshot` by `plan`, which must have been validated against it.
    pub fn new(snapshot: &Snapshot, plan: &Plan) -> Image {
        let mut layer_of = vec![u32::MAX; snapshot.components.len()];
        let mut layers = Vec::with_capacity(plan.len());
        for layer in plan.layers.iter().filter(|l| !l.components.is_empty()) {
            let index = layers.len() as u32;
            let mut size = 0;
            let mut members = Vec::with_capacity(layer.components.len());
            for name in &layer.components {
                let found = snapshot
                    .components
                    .binary_search_by(|c| c.name.as_str().cmp(name));
                if let Ok(i) = found {
                    let c = &snapshot.components[i];
                    layer_of[i] = index;
                    size += c.layer_bytes();
                    members.push((c.name.as_str(), c.version.as_str()));
                }
            }
            layers.push((layer_key(members), size));
        }
        Image { layers, layer_of }
    }

    /// Per layer, the indices of the snapshot's components it holds, in the snapshot's order.
    pub fn layer_members(&self) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.layers.len()];
        for (i, &layer) in self.layer_of.iter().enumerate() {
            if let Some(m) = members.get_mut(layer as usize) {
                m.push(i);
            }
        }
        members
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
/// unchanged but which were regrouped, i.e. whose layer-mates among the components present in
/// both versions differ. Components that arrive or leave do not count: placing a new package
/// is not re-planning, and a plan that keeps its groups moves nothing however the set changes.
pub fn replanned_bytes(old: (&Snapshot, &Image), new: (&Snapshot, &Image)) -> u64 {
    let common = common_components(old.0, new.0);
    // Groups are unchanged iff old layer ↔ new layer is one-to-one over the common components.
    let mut targets: HashMap<u32, Option<u32>> = HashMap::new();
    let mut sources: HashMap<u32, Option<u32>> = HashMap::new();
    let note = |map: &mut HashMap<u32, Option<u32>>, from: u32, to: u32| {
        let slot = map.entry(from).or_insert(Some(to));
        if *slot != Some(to) {
            *slot = None; // maps to more than one layer: split or merged
        }
    };
    for &(i, j) in &common {
        let (a, b) = (old.1.layer_of[i], new.1.layer_of[j]);
        note(&mut targets, a, b);
        note(&mut sources, b, a);
    }
    common
        .iter()
        .filter(|&&(i, j)| {
            let (a, b) = (old.1.layer_of[i], new.1.layer_of[j]);
            let regrouped = targets[&a].is_none() || sources[&b].is_none();
            regrouped && old.0.components[i].version == new.0.components[j].version
        })
        .map(|&(_, j)| new.0.components[j].size)
        .sum()
}

/// (index in old, index in new) of the components both snapshots hold (both are sorted).
fn common_components(old: &Snapshot, new: &Snapshot) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(new.components.len());
    let (mut i, mut j) = (0, 0);
    while i < old.components.len() && j < new.components.len() {
        match old.components[i].name.cmp(&new.components[j].name) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push((i, j));
                i += 1;
                j += 1;
            }
        }
    }
    out
}
