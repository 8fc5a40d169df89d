//! Attribution of each simulated update: which component changes made each fetched layer be
//! fetched, and the bytes fetched along with them, by the model's one rule
//! ([`rechunk_model::attribute`], also used by `rechunk changelog` on real images). Kept compact
//! (indices into the snapshots) because a comparison holds one per update × contender × client.
//!
//! Also [`replay_images`]: the planned images of chosen versions under one contender, replayed
//! exactly as [`crate::simulate`] does, for release notes between two versions of a history.

use rechunk_model::{
    attribute, Cause, Change, ChangeHistory, History, LayerInput, MemberInput, Role, Snapshot,
    Totals, UpdateInput,
};
use serde::Serialize;

use crate::image::Image;
use crate::{Contender, Replayer, SimError};

/// Where one update's download goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpdateAttribution {
    /// Σ over the fetched layers; `totals.total()` is the update's `download_bytes`.
    pub totals: Totals,
    pub layers: Vec<AttributedLayer>,
}

/// One fetched layer of the new version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttributedLayer {
    /// Index into the new image's (non-empty) layers.
    pub layer: u32,
    pub bytes: u64,
    pub cause: Cause,
    pub members: Vec<AttributedComponent>,
    /// Removed components (indices into the old snapshot's components) that shared an old
    /// layer with a member: they trigger the layer too.
    pub removed: Vec<u32>,
}

/// One component's share of a fetched layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AttributedComponent {
    /// Index into the new snapshot's components.
    pub component: u32,
    pub role: Role,
    pub bytes: u64,
}

impl AttributedComponent {
    /// True when this component's change triggered the fetch.
    pub fn triggered(&self) -> bool {
        self.role.triggers()
    }
}

/// Attributes the update from `old` to `new` (each a snapshot and its planned image).
pub fn attribute_update(old: (&Snapshot, &Image), new: (&Snapshot, &Image)) -> UpdateAttribution {
    let (old_snap, old_image) = old;
    let (new_snap, new_image) = new;
    let old_members = old_image.layer_members();
    let new_members = new_image.layer_members();
    let change = |i: usize| {
        let c = &new_snap.components[i];
        match old_snap.component(&c.name) {
            None => Change::Added,
            Some(o) if o.version == c.version => Change::Unchanged,
            Some(_) => Change::Changed,
        }
    };
    let input = UpdateInput {
        held: old_image.layers.iter().map(|(k, _)| k).collect(),
        old_layers: old_members
            .iter()
            .map(|m| Some(m.iter().map(|&i| component_name(old_snap, i)).collect()))
            .collect(),
        new_layers: new_image
            .layers
            .iter()
            .zip(&new_members)
            .map(|((key, bytes), members)| LayerInput {
                key,
                bytes: *bytes,
                members: Some(
                    members
                        .iter()
                        .map(|&i| MemberInput {
                            name: component_name(new_snap, i),
                            weight: Some(new_snap.components[i].size),
                            change: change(i),
                        })
                        .collect(),
                ),
            })
            .collect(),
        removed: old_snap
            .components
            .iter()
            .filter(|c| new_snap.component(&c.name).is_none())
            .map(|c| c.name.as_str())
            .collect(),
    };
    let attribution = attribute(&input);
    let old_index = |name: &str| {
        old_snap
            .components
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .map_or(u32::MAX, |i| i as u32)
    };
    UpdateAttribution {
        totals: attribution.totals,
        layers: attribution
            .layers
            .iter()
            .map(|f| AttributedLayer {
                layer: f.layer as u32,
                bytes: f.bytes,
                cause: f.cause,
                members: f
                    .members
                    .iter()
                    .map(|s| AttributedComponent {
                        component: new_members[f.layer][s.member] as u32,
                        role: s.role,
                        bytes: s.bytes,
                    })
                    .collect(),
                removed: f.removed.iter().map(|r| old_index(r)).collect(),
            })
            .collect(),
    }
}

fn component_name(snapshot: &Snapshot, i: usize) -> &str {
    snapshot.components[i].name.as_str()
}

/// The images `contender` plans for the versions at indices `at` of `history` (in `at`'s
/// order), replaying every version up to the last of them as [`crate::simulate`] does.
pub fn replay_images(
    history: &History,
    contender: &Contender,
    at: &[usize],
) -> Result<Vec<Image>, SimError> {
    let snaps = &history.snapshots;
    let last = at.iter().copied().max().unwrap_or(0);
    if last >= snaps.len() {
        return Err(SimError::Window {
            history: history.name.clone(),
            first: at.iter().copied().min().unwrap_or(0),
            last,
            len: snaps.len(),
        });
    }
    let mut replayer = Replayer {
        contender,
        label: contender.label(),
        previous: None,
        images: Vec::new(),
        plans: None,
    };
    let mut kept = Vec::new();
    let mut changes = ChangeHistory::default();
    for (t, snapshot) in snaps.iter().enumerate().take(last + 1) {
        changes.observe(snapshot);
        let keep = at.contains(&t);
        replayer.step(snapshot, &changes, keep)?;
        if keep {
            kept.push(t);
        }
    }
    Ok(at
        .iter()
        .filter_map(|t| kept.iter().position(|k| k == t))
        .map(|i| replayer.images[i].clone())
        .collect())
}
