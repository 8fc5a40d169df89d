//! What changed between two inventories, component by component: added, upgraded, downgraded,
//! changed at the same version, removed; biggest first.

use std::cmp::Ordering;

use rechunk_model::Change;
use serde::Serialize;

use crate::evr::{compare_evr, display_change, magnitude, Magnitude};
use crate::inventory::{Inventory, Record};

/// How a component changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Upgraded,
    Downgraded,
    /// Other content at the same version (files modified after install, another arch), or a
    /// component whose versions do not parse, so no order is known.
    Changed,
    Removed,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 5] = [
        ChangeKind::Added,
        ChangeKind::Upgraded,
        ChangeKind::Downgraded,
        ChangeKind::Changed,
        ChangeKind::Removed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Upgraded => "upgraded",
            ChangeKind::Downgraded => "downgraded",
            ChangeKind::Changed => "changed",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One component's change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentChange {
    pub name: String,
    pub change: ChangeKind,
    /// The component in the old version (`None` when added).
    pub old: Option<Record>,
    /// The component in the new version (`None` when removed).
    pub new: Option<Record>,
    /// The versions as a person reads the change (see [`display_change`]); for an added or
    /// removed package, its version alone.
    pub old_shown: Option<String>,
    pub new_shown: Option<String>,
}

impl ComponentChange {
    /// The size it is sorted by: in the new version, or in the old one when removed.
    pub fn size(&self) -> Option<u64> {
        self.new.as_ref().or(self.old.as_ref()).and_then(|r| r.size)
    }

    pub fn is_package(&self) -> bool {
        self.new
            .as_ref()
            .or(self.old.as_ref())
            .is_some_and(Record::is_package)
    }

    fn magnitude(&self) -> Magnitude {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => match (&o.evr, &n.evr) {
                (Some(a), Some(b)) => magnitude(a, b),
                _ => Magnitude::Content,
            },
            _ => Magnitude::Epoch,
        }
    }
}

/// Every component that was added, removed, or whose identity differs, sorted by kind (in
/// [`ChangeKind::ALL`] order), then biggest first: size (unknown sizes last), then how far the
/// version moved, then name. Components whose identity is unknown on either side are left out:
/// nothing says they changed.
pub fn component_changes(old: &Inventory, new: &Inventory) -> Vec<ComponentChange> {
    let mut out = Vec::new();
    for (name, n) in &new.components {
        match old.get(name) {
            None => out.push(added(n)),
            Some(o) => {
                if let Some(c) = changed(o, n) {
                    out.push(c);
                }
            }
        }
    }
    for (name, o) in &old.components {
        if new.get(name).is_none() {
            out.push(removed(o));
        }
    }
    out.sort_by(order);
    out
}

/// What happened to component `name` of the new version, for attribution.
pub fn member_change(old: &Inventory, new: &Inventory, name: &str) -> Change {
    match (old.get(name), new.get(name)) {
        (None, Some(_)) => Change::Added,
        (Some(o), Some(n)) => match (&o.identity, &n.identity) {
            (Some(a), Some(b)) if a == b => Change::Unchanged,
            (Some(_), Some(_)) => Change::Changed,
            _ => Change::Unknown,
        },
        // A layer member the inventory does not list (hhd-dev/rechunk's meta groups).
        (_, None) => Change::Unknown,
    }
}

fn added(n: &Record) -> ComponentChange {
    ComponentChange {
        name: n.name.clone(),
        change: ChangeKind::Added,
        old: None,
        new: Some(n.clone()),
        old_shown: None,
        new_shown: Some(single(n)),
    }
}

fn removed(o: &Record) -> ComponentChange {
    ComponentChange {
        name: o.name.clone(),
        change: ChangeKind::Removed,
        old: Some(o.clone()),
        new: None,
        old_shown: Some(single(o)),
        new_shown: None,
    }
}

fn changed(o: &Record, n: &Record) -> Option<ComponentChange> {
    let (Some(a), Some(b)) = (&o.identity, &n.identity) else {
        return None;
    };
    if a == b {
        return None;
    }
    let (change, shown) = match (&o.evr, &n.evr) {
        (Some(x), Some(y)) => {
            let kind = match compare_evr(x, y) {
                Ordering::Less => ChangeKind::Upgraded,
                Ordering::Greater => ChangeKind::Downgraded,
                Ordering::Equal => ChangeKind::Changed,
            };
            (kind, display_change(x, y))
        }
        _ => (ChangeKind::Changed, (o.shown_version(), n.shown_version())),
    };
    Some(ComponentChange {
        name: n.name.clone(),
        change,
        old: Some(o.clone()),
        new: Some(n.clone()),
        old_shown: Some(shown.0),
        new_shown: Some(shown.1),
    })
}

/// An added or removed package's version alone (`0.9.0`), as release notes show it; other
/// components show nothing (their version is a digest).
fn single(r: &Record) -> String {
    match &r.evr {
        Some(e) => e.version.clone(),
        None if r.is_package() => r.shown_version(),
        None => String::new(),
    }
}

fn order(a: &ComponentChange, b: &ComponentChange) -> Ordering {
    a.change
        .cmp(&b.change)
        .then_with(|| match (a.size(), b.size()) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| a.magnitude().cmp(&b.magnitude()))
        .then_with(|| a.name.cmp(&b.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(pkgs: &[(&str, &str, u64)]) -> Inventory {
        Inventory::from_records(
            "v",
            pkgs.iter()
                .map(|(n, v, s)| Record::package(n, Some(v), Some(*s))),
            "test",
        )
    }

    #[test]
    fn kinds_and_order() {
        let old = inv(&[
            ("kernel", "6.9.9-1.fc40", 100),
            ("pydantic", "2.8.2-1.fc40", 5),
            ("tailscale", "1.70.0-1", 30),
            ("cups", "2.4.10-1.fc40", 10),
            ("joycond", "0.1-1", 1),
            ("same", "1-1", 1),
        ]);
        let new = inv(&[
            ("kernel", "6.10.1-1.fc40", 120),
            ("pydantic", "1.10.2-1.fc40", 4),
            ("tailscale", "1.70.0-1.fc40", 30),
            ("cups", "2.4.10-3.fc40", 10),
            ("typer", "0.9.0-1.fc40", 2),
            ("same", "1-1", 1),
        ]);
        let got: Vec<(String, ChangeKind, String, String)> = component_changes(&old, &new)
            .into_iter()
            .map(|c| {
                (
                    c.name,
                    c.change,
                    c.old_shown.unwrap_or_default(),
                    c.new_shown.unwrap_or_default(),
                )
            })
            .collect();
        let want = [
            ("typer", ChangeKind::Added, "", "0.9.0"),
            ("kernel", ChangeKind::Upgraded, "6.9.9", "6.10.1"),
            (
                "tailscale",
                ChangeKind::Upgraded,
                "1.70.0-1",
                "1.70.0-1.fc40",
            ),
            (
                "cups",
                ChangeKind::Upgraded,
                "2.4.10-1.fc40",
                "2.4.10-3.fc40",
            ),
            ("pydantic", ChangeKind::Downgraded, "2.8.2", "1.10.2"),
            ("joycond", ChangeKind::Removed, "0.1", ""),
        ];
        let want: Vec<(String, ChangeKind, String, String)> = want
            .iter()
            .map(|(a, k, b, c)| (a.to_string(), *k, b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unknown_versions_are_not_changes_and_sizes_may_be_unknown() {
        let names = |ns: &[&str]| {
            Inventory::from_records(
                "v",
                ns.iter().map(|n| Record::package(n, None, None)),
                "annotations",
            )
        };
        let old = names(&["a", "b"]);
        let new = names(&["b", "c"]);
        let got: Vec<(String, ChangeKind)> = component_changes(&old, &new)
            .into_iter()
            .map(|c| (c.name, c.change))
            .collect();
        assert_eq!(
            got,
            [
                ("c".into(), ChangeKind::Added),
                ("a".into(), ChangeKind::Removed)
            ]
        );
        assert_eq!(member_change(&old, &new, "b"), Change::Unknown);
        assert_eq!(member_change(&old, &new, "c"), Change::Added);
        // Without sizes, the bigger version move comes first.
        let old = inv(&[("x", "1.0-1", 0), ("y", "1.0-1", 0)]);
        let mut new = inv(&[("x", "1.0-2", 0), ("y", "2.0-1", 0)]);
        for r in new.components.values_mut() {
            r.size = None;
        }
        let order: Vec<String> = component_changes(&old, &new)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(order, ["y", "x"]);
    }
}
