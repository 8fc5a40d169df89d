//! Where an update's download goes: for each layer a client fetches, which component changes
//! made it fetch the layer, and which of its bytes were fetched only because unchanged
//! components share the layer with them (the price of the plan). One rule, used by
//! `rechunk changelog` on real images and by the simulator for `compare`'s attribution.csv.
//!
//! Which layers are fetched is [`fetched_layers`], the rule behind [`crate::update_cost`], so
//! the attributed bytes of an update add up to its `download_bytes` exactly.
//!
//! A fetched layer's bytes are split among its components in proportion to their weights
//! (uncompressed sizes; in a real image the layer's compressed bytes are split by its
//! components' uncompressed sizes), rounded by largest remainder so that a layer's shares add up
//! to its bytes. Each component gets a [`Role`]:
//! - `added` / `changed`: not in the old image / at another version there. These trigger the
//!   fetch.
//! - `shared`: unchanged, in a layer that was fetched because of a trigger.
//! - `regrouped`: unchanged, in a layer with no trigger whose components differ from every old
//!   layer's: the plan moved components, and moving is what made the layer new.
//! - `rebuilt`: unchanged, in a layer holding exactly what an old layer held, yet with another
//!   identity: the build is not reproducible.
//! - `unknown`: the image does not say whether the component changed (rpm-ostree layers name
//!   their components but carry no versions).
//!
//! A component removed from the image triggers the layer(s) holding what used to share its old
//! layer: the old layer lost a member, so its successor is new. When the image does not give
//! the components' weights, or what a layer holds, its bytes stay `unattributed`.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::metrics::fetched_layers;

/// What happened to one component of the new image since the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Not in the old image.
    Added,
    /// In the old image at another version.
    Changed,
    Unchanged,
    /// The images do not say (no versions).
    Unknown,
}

/// One component of a layer of the new image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInput<'a> {
    pub name: &'a str,
    /// Uncompressed bytes, when known.
    pub weight: Option<u64>,
    pub change: Change,
}

/// One layer of the new image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInput<'a, K> {
    /// Identity: the blob digest of a real image, the layer key of a planned one.
    pub key: K,
    /// Bytes a client fetches for it.
    pub bytes: u64,
    /// Its components; `None` when the image does not say.
    pub members: Option<Vec<MemberInput<'a>>>,
}

/// An update: what the client holds, what the old image held per layer, the new image.
#[derive(Clone, Debug)]
pub struct UpdateInput<'a, K> {
    /// Layer identities the client holds.
    pub held: Vec<K>,
    /// Components of each old layer (`None` where the image does not say).
    pub old_layers: Vec<Option<Vec<&'a str>>>,
    /// The new image's layers, bottom first.
    pub new_layers: Vec<LayerInput<'a, K>>,
    /// Components of the old image that the new one no longer has.
    pub removed: BTreeSet<&'a str>,
}

/// What a component's share of a fetched layer counts as (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Added,
    Changed,
    Shared,
    Regrouped,
    Rebuilt,
    Unknown,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Added,
        Role::Changed,
        Role::Shared,
        Role::Regrouped,
        Role::Rebuilt,
        Role::Unknown,
    ];

    /// The name reports use, the same as its serde name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Added => "added",
            Role::Changed => "changed",
            Role::Shared => "shared",
            Role::Regrouped => "regrouped",
            Role::Rebuilt => "rebuilt",
            Role::Unknown => "unknown",
        }
    }

    /// True for the roles that trigger a fetch.
    pub fn triggers(self) -> bool {
        matches!(self, Role::Added | Role::Changed)
    }
}

/// Why a layer was fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A component in it was added or changed, or one that shared its old layer was removed.
    Changed,
    /// Nothing in it changed; the plan moved components in or out.
    Regrouped,
    /// Same components at the same versions as an old layer, another identity.
    Rebuilt,
    /// The images do not say enough to tell.
    Unknown,
}

impl Cause {
    pub const ALL: [Cause; 4] = [
        Cause::Changed,
        Cause::Regrouped,
        Cause::Rebuilt,
        Cause::Unknown,
    ];

    /// The name reports use, the same as its serde name.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Changed => "changed",
            Cause::Regrouped => "regrouped",
            Cause::Rebuilt => "rebuilt",
            Cause::Unknown => "unknown",
        }
    }
}

/// One component's share of a fetched layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberShare {
    /// Index into the layer's [`LayerInput::members`].
    pub member: usize,
    pub role: Role,
    /// Its share of the layer's bytes (0 when the layer's bytes are unattributed).
    pub bytes: u64,
}

/// One fetched layer and where its bytes go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FetchedLayer<'a> {
    /// Index into [`UpdateInput::new_layers`].
    pub layer: usize,
    pub bytes: u64,
    pub cause: Cause,
    /// Every member of the layer, in input order.
    pub members: Vec<MemberShare>,
    /// Removed components that shared an old layer with one of this layer's members.
    pub removed: Vec<&'a str>,
    /// Bytes not split among members: their weights, or the members, are not known.
    pub unattributed: u64,
}

/// Σ over the fetched layers, by what the bytes count as. [`Totals::total`] is the update's
/// download bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Bytes of added and changed components.
    pub changed: u64,
    /// Bytes of unchanged components fetched because they share a layer with a trigger.
    pub shared: u64,
    pub regrouped: u64,
    pub rebuilt: u64,
    /// Bytes the images do not let us attribute (`unknown` roles and unsplit layers).
    pub unattributed: u64,
}

impl Totals {
    pub fn total(&self) -> u64 {
        self.changed + self.shared + self.regrouped + self.rebuilt + self.unattributed
    }

    fn add(&mut self, role: Role, bytes: u64) {
        match role {
            Role::Added | Role::Changed => self.changed += bytes,
            Role::Shared => self.shared += bytes,
            Role::Regrouped => self.regrouped += bytes,
            Role::Rebuilt => self.rebuilt += bytes,
            Role::Unknown => self.unattributed += bytes,
        }
    }
}

/// The attribution of one update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attribution<'a> {
    /// Fetched layers, in the new image's order.
    pub layers: Vec<FetchedLayer<'a>>,
    pub totals: Totals,
}

/// Attributes the download of `update` (see the module doc).
pub fn attribute<'a, K: Eq + Hash + Clone>(update: &UpdateInput<'a, K>) -> Attribution<'a> {
    let keys = update.new_layers.iter().map(|l| l.key.clone());
    let fetched = fetched_layers(update.held.iter().cloned(), keys);
    let old = OldLayout::new(&update.old_layers);
    let mut totals = Totals::default();
    let layers: Vec<FetchedLayer<'a>> = fetched
        .into_iter()
        .map(|i| attribute_layer(i, &update.new_layers[i], &old, &update.removed))
        .collect();
    for layer in &layers {
        totals.unattributed += layer.unattributed;
        for share in &layer.members {
            totals.add(share.role, share.bytes);
        }
    }
    Attribution { layers, totals }
}

/// The old image's layers, indexed by component.
struct OldLayout<'a, 'b> {
    layers: &'b [Option<Vec<&'a str>>],
    layer_of: HashMap<&'a str, usize>,
}

impl<'a, 'b> OldLayout<'a, 'b> {
    fn new(layers: &'b [Option<Vec<&'a str>>]) -> Self {
        let mut layer_of = HashMap::new();
        for (i, members) in layers.iter().enumerate() {
            for name in members.iter().flatten() {
                layer_of.insert(*name, i);
            }
        }
        OldLayout { layers, layer_of }
    }
}

fn attribute_layer<'a, K>(
    index: usize,
    layer: &LayerInput<'a, K>,
    old: &OldLayout<'a, '_>,
    removed: &BTreeSet<&'a str>,
) -> FetchedLayer<'a> {
    let Some(members) = layer.members.as_ref().filter(|m| !m.is_empty()) else {
        return FetchedLayer {
            layer: index,
            bytes: layer.bytes,
            cause: Cause::Unknown,
            members: Vec::new(),
            removed: Vec::new(),
            unattributed: layer.bytes,
        };
    };
    let old_homes: BTreeSet<usize> = members
        .iter()
        .filter_map(|m| old.layer_of.get(m.name).copied())
        .collect();
    let removed_mates: Vec<&'a str> = removed
        .iter()
        .filter(|r| {
            old.layer_of
                .get(*r)
                .is_some_and(|home| old_homes.contains(home))
        })
        .copied()
        .collect();
    let cause = layer_cause(members, &removed_mates, &old_homes, old);
    let split = split_bytes(layer.bytes, members);
    let shares = members
        .iter()
        .enumerate()
        .map(|(i, m)| MemberShare {
            member: i,
            role: role(m.change, cause),
            bytes: split.as_ref().map_or(0, |s| s[i]),
        })
        .collect();
    FetchedLayer {
        layer: index,
        bytes: layer.bytes,
        cause,
        members: shares,
        removed: removed_mates,
        unattributed: if split.is_some() { 0 } else { layer.bytes },
    }
}

fn layer_cause(
    members: &[MemberInput],
    removed_mates: &[&str],
    old_homes: &BTreeSet<usize>,
    old: &OldLayout,
) -> Cause {
    let triggered = members
        .iter()
        .any(|m| matches!(m.change, Change::Added | Change::Changed));
    if triggered || !removed_mates.is_empty() {
        return Cause::Changed;
    }
    if members.iter().any(|m| m.change == Change::Unknown) {
        return Cause::Unknown;
    }
    // Every member is unchanged, so each was in the old image; where the old image does not
    // say which layer held it, nothing can be told.
    if members.iter().any(|m| !old.layer_of.contains_key(m.name)) {
        return Cause::Unknown;
    }
    let same_as_old = match old_homes.iter().collect::<Vec<_>>().as_slice() {
        [home] => old.layers[**home].as_ref().is_some_and(|names| {
            let was: BTreeSet<&str> = names.iter().copied().collect();
            let is: BTreeSet<&str> = members.iter().map(|m| m.name).collect();
            was == is
        }),
        _ => false,
    };
    if same_as_old {
        Cause::Rebuilt
    } else {
        Cause::Regrouped
    }
}

fn role(change: Change, cause: Cause) -> Role {
    match (change, cause) {
        (Change::Added, _) => Role::Added,
        (Change::Changed, _) => Role::Changed,
        (Change::Unknown, _) | (Change::Unchanged, Cause::Unknown) => Role::Unknown,
        (Change::Unchanged, Cause::Changed) => Role::Shared,
        (Change::Unchanged, Cause::Regrouped) => Role::Regrouped,
        (Change::Unchanged, Cause::Rebuilt) => Role::Rebuilt,
    }
}

/// `bytes` split in proportion to the members' weights (evenly when they all weigh 0), by
/// largest remainder so the shares add up to `bytes`; `None` when a weight is unknown.
fn split_bytes(bytes: u64, members: &[MemberInput]) -> Option<Vec<u64>> {
    let weights: Vec<u128> = members
        .iter()
        .map(|m| m.weight.map(u128::from))
        .collect::<Option<_>>()?;
    let total: u128 = weights.iter().sum();
    let weights = if total == 0 {
        vec![1; weights.len()]
    } else {
        weights
    };
    let total: u128 = weights.iter().sum();
    let bytes128 = u128::from(bytes);
    let mut shares: Vec<u64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = bytes128 * w;
        // Each share is at most `bytes`, so it fits in u64.
        shares.push((exact / total) as u64);
        remainders.push((exact % total, i));
    }
    let given: u64 = shares.iter().sum();
    let left = (bytes - given) as usize;
    // Largest remainder first; ties go to the earlier member.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(left) {
        shares[i] += 1;
    }
    Some(shares)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update_cost;

    fn m(name: &str, weight: u64, change: Change) -> MemberInput<'_> {
        MemberInput {
            name,
            weight: Some(weight),
            change,
        }
    }

    fn layer<'a>(
        key: &'a str,
        bytes: u64,
        members: Vec<MemberInput<'a>>,
    ) -> LayerInput<'a, &'a str> {
        LayerInput {
            key,
            bytes,
            members: Some(members),
        }
    }

    fn roles(a: &Attribution, layer: usize) -> Vec<(Role, u64)> {
        a.layers[layer]
            .members
            .iter()
            .map(|s| (s.role, s.bytes))
            .collect()
    }

    #[test]
    fn shares_follow_weights_and_add_up_to_the_download() {
        use Change::*;
        let update = UpdateInput {
            held: vec!["A", "B", "C"],
            old_layers: vec![
                Some(vec!["kernel", "firmware"]),
                Some(vec!["bash"]),
                Some(vec!["vim", "gone"]),
            ],
            new_layers: vec![
                // kernel changed: firmware is fetched along with it. 100 compressed bytes split
                // 3:1 by uncompressed size.
                layer(
                    "A2",
                    100,
                    vec![m("kernel", 300, Changed), m("firmware", 100, Unchanged)],
                ),
                layer("B", 50, vec![m("bash", 10, Unchanged)]),
                // "gone" was removed: vim's layer is new although vim did not change.
                layer("C2", 7, vec![m("vim", 5, Unchanged)]),
                // A new package in a layer of its own.
                layer("D", 9, vec![m("htop", 1, Added)]),
                // The same layer twice is fetched once.
                layer("D", 9, vec![m("htop", 1, Added)]),
            ],
            removed: ["gone"].into(),
        };
        let a = attribute(&update);
        let fetched: Vec<usize> = a.layers.iter().map(|l| l.layer).collect();
        assert_eq!(fetched, [0, 2, 3]);
        assert_eq!(roles(&a, 0), [(Role::Changed, 75), (Role::Shared, 25)]);
        assert_eq!(a.layers[1].cause, Cause::Changed);
        assert_eq!(a.layers[1].removed, ["gone"]);
        assert_eq!(roles(&a, 1), [(Role::Shared, 7)]);
        assert_eq!(roles(&a, 2), [(Role::Added, 9)]);
        let cost = update_cost(
            update.held.iter().copied(),
            update.new_layers.iter().map(|l| (l.key, l.bytes)),
            0,
        );
        assert_eq!(a.totals.total(), cost.download_bytes);
        assert_eq!(
            a.totals,
            Totals {
                changed: 84,
                shared: 32,
                ..Totals::default()
            }
        );
    }

    #[test]
    fn layers_without_a_trigger_are_regrouped_rebuilt_or_unknown() {
        use Change::*;
        let update = UpdateInput {
            held: vec!["A", "B", "X"],
            old_layers: vec![Some(vec!["a", "b"]), Some(vec!["c"]), None],
            new_layers: vec![
                // b moved out of a's layer into c's: both layers are new, nothing changed.
                layer("A2", 10, vec![m("a", 1, Unchanged)]),
                layer("B2", 20, vec![m("b", 1, Unchanged), m("c", 1, Unchanged)]),
                // Exactly the old layer, another digest.
                layer("A3", 4, vec![m("a", 1, Unchanged), m("b", 1, Unchanged)]),
                // No versions: cannot tell.
                layer("U", 6, vec![m("x", 1, Unknown)]),
                // No member list.
                LayerInput {
                    key: "V",
                    bytes: 8,
                    members: None,
                },
                // Weights unknown: the trigger is known, the split is not.
                LayerInput {
                    key: "W",
                    bytes: 5,
                    members: Some(vec![
                        MemberInput {
                            name: "k",
                            weight: None,
                            change: Changed,
                        },
                        MemberInput {
                            name: "c",
                            weight: Some(3),
                            change: Unchanged,
                        },
                    ]),
                },
            ],
            removed: BTreeSet::new(),
        };
        let a = attribute(&update);
        let causes: Vec<Cause> = a.layers.iter().map(|l| l.cause).collect();
        assert_eq!(
            causes,
            [
                Cause::Regrouped,
                Cause::Regrouped,
                Cause::Rebuilt,
                Cause::Unknown,
                Cause::Unknown,
                Cause::Changed
            ]
        );
        assert_eq!(roles(&a, 1), [(Role::Regrouped, 10), (Role::Regrouped, 10)]);
        assert_eq!(roles(&a, 5), [(Role::Changed, 0), (Role::Shared, 0)]);
        assert_eq!(a.layers[5].unattributed, 5);
        assert_eq!(
            a.totals,
            Totals {
                regrouped: 30,
                rebuilt: 4,
                unattributed: 19,
                ..Totals::default()
            }
        );
    }

    #[test]
    fn names_are_the_serde_names() {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
        for c in Cause::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
    }

    #[test]
    fn split_is_exact_for_any_weights() {
        let members: Vec<MemberInput> = [3u64, 3, 3, 0, u64::MAX / 2]
            .iter()
            .map(|&w| m("x", w, Change::Unchanged))
            .collect();
        for bytes in [0, 1, 2, 7, 1000, u64::MAX] {
            for n in 1..=members.len() {
                let s = split_bytes(bytes, &members[..n]).unwrap();
                assert_eq!(
                    s.iter().map(|&b| u128::from(b)).sum::<u128>(),
                    u128::from(bytes)
                );
            }
        }
        // All weights zero: an even split, remainder to the first.
        let zeros = vec![m("a", 0, Change::Added), m("b", 0, Change::Added)];
        assert_eq!(split_bytes(3, &zeros), Some(vec![2, 1]));
        // Largest remainder: 10 split 1:1:1 gives 4, 3, 3.
        let thirds = vec![m("a", 1, Change::Added); 3];
        assert_eq!(split_bytes(10, &thirds), Some(vec![4, 3, 3]));
    }
}
