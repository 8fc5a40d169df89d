//! Image versions over time: [`Snapshot`], [`History`], and the per-component change record
//! ([`ChangeHistory`]) that strategies learn from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Component, Timestamp, DAY};

/// Days of builds a plan record keeps at least (see [`ChangeHistory::recent`]).
pub const RECORD_DAYS: Timestamp = 400;
/// Builds a plan record keeps at least (see [`ChangeHistory::recent`]).
pub const RECORD_BUILDS: usize = 128;

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

impl History {
    /// Checks the sum of every component size of every version ([`crate::size`]); on
    /// overflow, the version and component indices where it passed the bound.
    pub fn check_sizes(&self) -> Result<(), (usize, usize, crate::SizeOverflow)> {
        let mut total = crate::SizeTotal::default();
        for (v, s) in self.snapshots.iter().enumerate() {
            for (c, comp) in s.components.iter().enumerate() {
                total.add(comp.size).map_err(|e| (v, c, e))?;
            }
        }
        Ok(())
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

    /// The part of the history an image's plan record carries: the builds of the last
    /// [`RECORD_DAYS`] days or the last [`RECORD_BUILDS`] builds, whichever reaches further back.
    /// Bounded so the config label does not grow with every build, and still longer than any
    /// strategy looks back (a year of changelogs, 128 builds for `cluster`). Components first
    /// seen before the cut count as first seen at it.
    pub fn recent(&self) -> ChangeHistory {
        let Some(&newest) = self.builds.last() else {
            return self.clone();
        };
        let by_count = self.builds.len().saturating_sub(RECORD_BUILDS);
        let cutoff = self.builds[by_count].min(newest - RECORD_DAYS * DAY);
        let mut recent = self.clone();
        recent.builds.retain(|&d| d >= cutoff);
        for dates in recent.changes.values_mut() {
            dates.retain(|&d| d >= cutoff);
        }
        recent.changes.retain(|_, dates| !dates.is_empty());
        for first in recent.first_seen.values_mut() {
            *first = (*first).max(cutoff);
        }
        recent
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
    fn recent_keeps_the_longer_of_400_days_and_128_builds() {
        // Daily builds for three years: 400 days reach further back than 128 builds.
        let daily: Vec<Snapshot> = (0..1100)
            .map(|i| {
                snap(
                    i * DAY,
                    &[("a", if i % 10 == 0 { "x" } else { "y" }), ("b", "1")],
                )
            })
            .collect();
        let h = ChangeHistory::from_snapshots(&daily).recent();
        let cutoff = 1099 * DAY - RECORD_DAYS * DAY;
        assert_eq!(h.builds.len(), 401);
        assert!(h.changes_of("a").iter().all(|&d| d >= cutoff));
        assert_eq!(h.changes_of("a").len(), 80, "two changes every ten days");
        assert_eq!(h.first_seen["b"], cutoff);
        assert_eq!(h.last_version["a"], "y");
        // Monthly builds for 20 years: the last 128 builds reach further back.
        let monthly: Vec<Snapshot> = (0..240)
            .map(|i| snap(i * 30 * DAY, &[("a", "1")]))
            .collect();
        let h = ChangeHistory::from_snapshots(&monthly).recent();
        assert_eq!(h.builds.len(), RECORD_BUILDS);
        assert_eq!(h.builds[0], 112 * 30 * DAY);
        assert_eq!(ChangeHistory::default().recent(), ChangeHistory::default());
    }

    #[test]
    fn snapshot_lookup_is_by_name_after_sorting() {
        let s = snap(1, &[("zz", "1"), ("aa", "2")]);
        assert_eq!(s.components[0].name, "aa");
        assert_eq!(s.component("zz").map(|c| c.version.as_str()), Some("1"));
        assert!(s.component("nope").is_none());
    }
}
