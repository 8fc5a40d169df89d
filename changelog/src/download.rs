//! The download cost of an update, layer by layer, with the component changes that made each
//! layer be fetched: [`rechunk_model::update_cost`] (what `rechunk diff` reports) and
//! [`rechunk_model::attribute`] (the simulator's rule too) applied to two versions' layers.

use std::collections::BTreeSet;

use rechunk_model::{
    attribute, update_cost, Cause, LayerInput, MemberInput, Role, Totals, UpdateCost, UpdateInput,
};
use serde::Serialize;

use crate::changes::member_change;
use crate::inventory::Inventory;

/// The layers of one version as a client fetches them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub layers: Vec<LayoutLayer>,
}

/// One layer: identity, bytes fetched, components (`None` when the image does not say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutLayer {
    /// The blob digest, or the layer key of a planned version.
    pub id: String,
    pub bytes: u64,
    pub members: Option<Vec<String>>,
}

/// What the bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Layer blobs as a registry serves them.
    Compressed,
    /// Simulated layers: uncompressed content bytes.
    Uncompressed,
}

/// The download of one update and where its bytes go.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Download {
    pub unit: Unit,
    pub cost: UpdateCost,
    /// Σ of the layers' attribution; `totals.total() == cost.download_bytes`.
    pub totals: Totals,
    /// The fetched layers, in the new version's order.
    pub layers: Vec<DownloadLayer>,
}

/// One fetched layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DownloadLayer {
    /// Position in the new version, bottom first, from 0.
    pub index: usize,
    pub id: String,
    pub bytes: u64,
    pub cause: Cause,
    /// The components whose change made the layer be fetched: added and changed members, then
    /// removed components that shared an old layer with a member.
    pub triggered_by: Vec<String>,
    /// Every member with its role and share of `bytes`.
    pub components: Vec<ComponentShare>,
    /// Bytes not split among the members (their sizes, or the members, are unknown).
    pub unattributed_bytes: u64,
}

/// One member's share of a fetched layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentShare {
    pub name: String,
    pub role: Role,
    pub bytes: u64,
}

impl Download {
    /// The update from `old` to `new`: the client holds `old`'s layers. Component changes come
    /// from the inventories, weights from the new inventory's sizes.
    pub fn between(
        old: (&Inventory, &Layout),
        new: (&Inventory, &Layout),
        metadata_bytes: u64,
        unit: Unit,
    ) -> Download {
        let (old_inv, old_layout) = old;
        let (new_inv, new_layout) = new;
        let held: Vec<&str> = old_layout.layers.iter().map(|l| l.id.as_str()).collect();
        let cost = update_cost(
            held.iter().copied(),
            new_layout.layers.iter().map(|l| (l.id.as_str(), l.bytes)),
            metadata_bytes,
        );
        let input = UpdateInput {
            held,
            old_layers: old_layout
                .layers
                .iter()
                .map(|l| {
                    l.members
                        .as_ref()
                        .map(|m| m.iter().map(String::as_str).collect())
                })
                .collect(),
            new_layers: new_layout
                .layers
                .iter()
                .map(|l| LayerInput {
                    key: l.id.as_str(),
                    bytes: l.bytes,
                    members: l.members.as_ref().map(|names| {
                        names
                            .iter()
                            .map(|name| MemberInput {
                                name,
                                weight: new_inv.get(name).and_then(|r| r.size),
                                change: member_change(old_inv, new_inv, name),
                            })
                            .collect()
                    }),
                })
                .collect(),
            removed: old_inv
                .components
                .keys()
                .filter(|n| new_inv.get(n).is_none())
                .map(String::as_str)
                .collect::<BTreeSet<_>>(),
        };
        let attribution = attribute(&input);
        let layers = attribution
            .layers
            .iter()
            .map(|f| {
                let layer = &input.new_layers[f.layer];
                let names = layer.members.as_deref().unwrap_or(&[]);
                let components: Vec<ComponentShare> = f
                    .members
                    .iter()
                    .map(|s| ComponentShare {
                        name: names[s.member].name.to_string(),
                        role: s.role,
                        bytes: s.bytes,
                    })
                    .collect();
                let triggered_by = components
                    .iter()
                    .filter(|c| matches!(c.role, Role::Added | Role::Changed))
                    .map(|c| c.name.clone())
                    .chain(f.removed.iter().map(|r| r.to_string()))
                    .collect();
                DownloadLayer {
                    index: f.layer,
                    id: new_layout.layers[f.layer].id.clone(),
                    bytes: f.bytes,
                    cause: f.cause,
                    triggered_by,
                    components,
                    unattributed_bytes: f.unattributed,
                }
            })
            .collect();
        Download {
            unit,
            cost,
            totals: attribution.totals,
            layers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Record;

    fn layout(layers: &[(&str, u64, &[&str])]) -> Layout {
        Layout {
            layers: layers
                .iter()
                .map(|(id, bytes, members)| LayoutLayer {
                    id: id.to_string(),
                    bytes: *bytes,
                    members: Some(members.iter().map(|m| m.to_string()).collect()),
                })
                .collect(),
        }
    }

    fn inv(pkgs: &[(&str, &str, u64)]) -> Inventory {
        Inventory::from_records(
            "v",
            pkgs.iter()
                .map(|(n, v, s)| Record::package(n, Some(v), Some(*s))),
            "t",
        )
    }

    #[test]
    fn removed_and_changed_components_trigger_their_layers() {
        let old_inv = inv(&[
            ("k", "1-1", 30),
            ("fw", "1-1", 10),
            ("vim", "1-1", 5),
            ("gone", "1-1", 5),
        ]);
        let new_inv = inv(&[("k", "2-1", 30), ("fw", "1-1", 10), ("vim", "1-1", 5)]);
        let old = layout(&[("a", 20, &["k", "fw"]), ("b", 5, &["vim", "gone"])]);
        let new = layout(&[("a2", 20, &["k", "fw"]), ("b2", 3, &["vim"])]);
        let d = Download::between((&old_inv, &old), (&new_inv, &new), 7, Unit::Compressed);
        assert_eq!(d.cost.download_bytes, 23);
        assert_eq!(d.cost.metadata_bytes, 7);
        assert_eq!(d.totals.total(), 23);
        assert_eq!(d.totals.changed, 15);
        assert_eq!(d.totals.shared, 8);
        assert_eq!(d.layers[0].triggered_by, ["k"]);
        assert_eq!(d.layers[1].triggered_by, ["gone"]);
        assert_eq!(
            d.layers[0].components,
            [
                ComponentShare {
                    name: "k".into(),
                    role: Role::Changed,
                    bytes: 15
                },
                ComponentShare {
                    name: "fw".into(),
                    role: Role::Shared,
                    bytes: 5
                },
            ]
        );
    }
}
