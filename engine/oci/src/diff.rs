//! `rechunk diff`: what a client holding one image downloads to get another, through the one
//! shared definition [`rechunk_model::update_cost`] with the blob digest as layer identity.

use rechunk_model::{update_cost, UpdateCost};

use crate::read::ImageInfo;

/// Cost of fetching `new` for a client that holds `old`'s layers. Config and manifest bytes
/// of `new` are reported apart, as `metadata_bytes`.
pub fn image_diff(old: &ImageInfo, new: &ImageInfo) -> UpdateCost {
    update_cost(
        old.layers.iter().map(|l| l.digest.as_str()),
        new.layers.iter().map(|l| (l.digest.as_str(), l.size)),
        new.metadata_bytes,
    )
}
