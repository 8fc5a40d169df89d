//! Image versions over time: [`Snapshot`], [`History`], and the per-component change record
//! ([`ChangeHistory`]) that strategies learn from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Component, Timestamp};

/// One image version: its components, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Version id (an FCOS release like `40.20241006.3.0`, a commit, an image digest).
    pub id: String,
    /// When this version was built or published.
    pub date: Timestamp,
    pub components: Vec<Component>,
}

impl Snapshot {
    /// Builds a snapshot, sorting components by name so every consumer sees one order.
    pub fn new(id: impl Into<String>, date: Timestamp, mut components: Vec<Component>) -> Self {
        components.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            id: id.into(),
            date,
            components,
        }
    }

    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.components[i])
    }

    pub fn total_size(&self) -> u64 {
        self.components.iter().map(|c| c.size).sum()
    }
}

/// Ordered snapshots of one image stream, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub name: String,
    pub snapshots: Vec<Snapshot>,
}

/// What was observed build to build: when each component's content changed.
///
/// Built incrementally (one [`ChangeHistory::observe`] per build) so that a replay never sees the
/// future, and serialisable so that an image's plan label carries it to the next build.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeHistory {
    /// Dates of the builds observed, oldest first.
    pub builds: Vec<Timestamp>,
    /// Per component: the build dates at which its version differed from the build before.
    /// A component's first appearance is not a change.
    pub changes: BTreeMap<String, Vec<Timestamp>>,
    /// Per component: the date of the first observed build that held it.
    pub first_seen: BTreeMap<String, Timestamp>,
    /// Per component: the version held by the last observed build.
    pub last_version: BTreeMap<String, String>,
}

impl ChangeHistory {
    /// Replays `snapshots` in order.
    pub fn from_snapshots<'a>(snapshots: impl IntoIterator<Item = &'a Snapshot>) -> Self {
        let mut history = ChangeHistory::default();
        for snapshot in snapshots {
            history.observe(snapshot);
        }
        history
    }

    /// Records one more build. Components absent from it keep their record (they may return).
    pub fn observe(&mut self, snapshot: &Snapshot) {
        self.builds.push(snapshot.date);
        for c in &snapshot.components {
            match self.last_version.get(&c.name) {
                Some(v) if *v == c.version => {}
                Some(_) => {
                    self.changes
                        .entry(c.name.clone())
                        .or_default()
                        .push(snapshot.date);
                    self.last_version.insert(c.name.clone(), c.version.clone());
                }
                None => {
                    self.first_seen.insert(c.name.clone(), snapshot.date);
                    self.last_version.insert(c.name.clone(), c.version.clone());
                }
            }
        }
    }

    /// Change dates of one component (empty when it never changed or was never seen).
    pub fn changes_of(&self, name: &str) -> &[Timestamp] {
        self.changes.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Observed builds from `since` (inclusive) on: the denominator of a change rate.
    pub fn builds_since(&self, since: Timestamp) -> usize {
        self.builds.iter().filter(|&&d| d >= since).count()
    }

    /// True when at least two builds were observed, i.e. there is anything to learn from.
    pub fn is_informative(&self) -> bool {
        self.builds.len() >= 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ComponentKind;

    fn snap(date: Timestamp, pkgs: &[(&str, &str)]) -> Snapshot {
        let comps = pkgs
            .iter()
            .map(|(n, v)| Component::new(*n, ComponentKind::Package, *v, 10))
            .collect();
        Snapshot::new(format!("v{date}"), date, comps)
    }

    #[test]
    fn records_only_version_changes_after_first_sight() {
        let h = ChangeHistory::from_snapshots(&[
            snap(1, &[("a", "1"), ("b", "1")]),
            snap(2, &[("a", "2"), ("b", "1")]),
            snap(3, &[("a", "2"), ("b", "2"), ("c", "1")]),
            snap(4, &[("a", "3"), ("c", "1")]),
        ]);
        assert_eq!(h.changes_of("a"), &[2, 4]);
        assert_eq!(h.changes_of("b"), &[3]);
        assert_eq!(h.changes_of("c"), &[] as &[Timestamp]);
        assert_eq!(h.first_seen["c"], 3);
        assert_eq!(h.builds_since(3), 2);
    }

    #[test]
    fn snapshot_lookup_is_by_name_after_sorting() {
        let s = snap(1, &[("zz", "1"), ("aa", "2")]);
        assert_eq!(s.components[0].name, "aa");
        assert_eq!(s.component("zz").map(|c| c.version.as_str()), Some("1"));
        assert!(s.component("nope").is_none());
    }
}
