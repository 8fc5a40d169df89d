//! The update metrics, defined once: what a client holding one image downloads to get another.
//! The simulator applies them to planned layers (identity = [`crate::layer_key`]) and
//! `rechunk diff` to real manifests (identity = blob digest).

use std::collections::HashSet;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// Cost of going from the layers a client holds to a new image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateCost {
    /// Σ size of the new image's layers the client does not hold. Layers only: this is the
    /// figure ostree-ext's `ManifestDiff` reports (170,472,856 for its two FCOS manifests).
    pub download_bytes: u64,
    /// Config and manifest bytes, always fetched; reported apart so layer figures compare with
    /// other tools.
    pub metadata_bytes: u64,
    pub layers_fetched: usize,
    pub layers_total: usize,
    /// Σ size of all of the new image's layers.
    pub image_bytes: u64,
    /// Bytes of the new image already held / `image_bytes` (1.0 for an empty image).
    pub reuse_ratio: f64,
}

/// Which layers of `new` (by position) a client holding `held` fetches: those whose identity it
/// does not hold, each identity once (a layer repeated within `new` is fetched at its first
/// position). The one rule behind [`update_cost`] and [`crate::attribute`].
pub fn fetched_layers<K: Eq + Hash>(
    held: impl IntoIterator<Item = K>,
    new: impl IntoIterator<Item = K>,
) -> Vec<usize> {
    let held: HashSet<K> = held.into_iter().collect();
    let mut seen = HashSet::new();
    new.into_iter()
        .enumerate()
        .filter(|(_, key)| !held.contains(key))
        .filter_map(|(i, key)| seen.insert(key).then_some(i))
        .collect()
}

/// The cost of fetching `new` (layer identity, size) for a client already holding `held`.
/// A layer repeated within `new` is fetched once.
pub fn update_cost<K: Eq + Hash>(
    held: impl IntoIterator<Item = K>,
    new: impl IntoIterator<Item = (K, u64)>,
    metadata_bytes: u64,
) -> UpdateCost {
    let (keys, sizes): (Vec<K>, Vec<u64>) = new.into_iter().unzip();
    let mut cost = UpdateCost {
        metadata_bytes,
        layers_total: sizes.len(),
        image_bytes: sizes.iter().sum(),
        ..UpdateCost::default()
    };
    for i in fetched_layers(held, keys) {
        cost.layers_fetched += 1;
        cost.download_bytes += sizes[i];
    }
    cost.reuse_ratio = if cost.image_bytes == 0 {
        1.0
    } else {
        1.0 - cost.download_bytes as f64 / cost.image_bytes as f64
    };
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_layers_not_held_and_each_once() {
        let c = update_cost(["a", "b"], [("a", 10), ("c", 30), ("c", 30), ("d", 60)], 7);
        assert_eq!(c.download_bytes, 90);
        assert_eq!(c.layers_fetched, 2);
        assert_eq!(c.layers_total, 4);
        assert_eq!(c.image_bytes, 130);
        assert_eq!(c.metadata_bytes, 7);
        assert!((c.reuse_ratio - 40.0 / 130.0).abs() < 1e-12);
    }

    #[test]
    fn fresh_install_downloads_everything() {
        let c = update_cost(Vec::<&str>::new(), [("a", 10), ("b", 5)], 0);
        assert_eq!((c.download_bytes, c.reuse_ratio), (15, 0.0));
    }
}
