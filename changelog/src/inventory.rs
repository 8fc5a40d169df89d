//! One image version as the changelog sees it: its components with whatever each source knows
//! (a parsed package version, a content identity, a size). Every source feeds this one type:
//! a history snapshot or our plan label ([`Inventory::from_snapshot`], through the components a
//! scan of a tree or an rpmdb makes too), hhd-dev/rechunk's package list, rpm-ostree's bare
//! component names ([`Inventory::from_records`]).

use std::collections::BTreeMap;

use rechunk_model::{Component, ComponentKind, Snapshot};
use serde::Serialize;

use crate::evr::Evr;

/// Length of the `+digest` a scan appends to a package version whose files differ from what
/// the rpmdb records (`rechunk_rootfs`: 8 bytes as hex).
const DRIFT_HEX: usize = 16;

/// One component of one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    pub name: String,
    pub kind: ComponentKind,
    /// The package version, when the source gives one that parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evr: Option<Evr>,
    /// Equal identities mean equal content; `None` when the source does not say (rpm-ostree's
    /// annotations name components only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// True when the package's files differ from what its rpmdb entry records (a scan marks the
    /// version with `+digest`: an edited config file, a chmod, ...).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub modified: bool,
    /// Uncompressed bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The components of one version and where they were read from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Version id shown to people (`40.20241006.3.0`, `oci:out.oci:v2`).
    pub id: String,
    /// What the components were read from (`rechunk plan label`, `history fcos-stable`, ...).
    pub source: String,
    pub components: BTreeMap<String, Record>,
    /// What this source cannot tell, said once per inventory in the changelog's notes.
    pub notes: Vec<String>,
}

impl Record {
    /// A record from a component version string as our scans, plan labels and histories write
    /// it: packages `[epoch:]version-release.arch[+digest]`, anything else a content digest.
    pub fn from_component(c: &Component) -> Record {
        let (version, modified) = split_drift(&c.version);
        let evr = match c.kind {
            ComponentKind::Package => Evr::parse(version),
            // A source group of several packages is versioned by a digest of their NEVRAs;
            // one of a single package keeps its EVR, which always has a release.
            ComponentKind::SourcePackage => Evr::parse(version).filter(|e| e.release.is_some()),
            _ => None,
        };
        Record {
            name: c.name.clone(),
            kind: c.kind,
            evr,
            identity: Some(c.version.clone()),
            modified: modified && evr_kind(c.kind),
            size: Some(c.size),
        }
    }

    /// A package known by name and, maybe, a version string (hhd-dev/rechunk's
    /// `version-release`); its identity is that string.
    pub fn package(name: &str, version: Option<&str>, size: Option<u64>) -> Record {
        Record {
            name: name.to_string(),
            kind: ComponentKind::Package,
            evr: version.and_then(Evr::parse),
            identity: version.map(str::to_string),
            modified: false,
            size,
        }
    }

    /// `version-release` for people, else the raw identity, else "?".
    pub fn shown_version(&self) -> String {
        match (&self.evr, &self.identity) {
            (Some(e), _) => e.version_release(),
            (None, Some(id)) => id.clone(),
            (None, None) => "?".to_string(),
        }
    }

    /// True for packages and source-package groups: what the package list shows.
    pub fn is_package(&self) -> bool {
        evr_kind(self.kind)
    }
}

fn evr_kind(kind: ComponentKind) -> bool {
    matches!(kind, ComponentKind::Package | ComponentKind::SourcePackage)
}

/// Splits a scan's `+<16 hex>` drift suffix off a version.
fn split_drift(version: &str) -> (&str, bool) {
    match version.rsplit_once('+') {
        Some((base, digest))
            if digest.len() == DRIFT_HEX
                && digest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            (base, true)
        }
        _ => (version, false),
    }
}

impl Inventory {
    /// The components of a snapshot (a history version, a built image's plan label, a scanned
    /// tree).
    pub fn from_snapshot(snapshot: &Snapshot, source: impl Into<String>) -> Inventory {
        Inventory::from_components(&snapshot.id, &snapshot.components, source)
    }

    pub fn from_components(
        id: impl Into<String>,
        components: &[Component],
        source: impl Into<String>,
    ) -> Inventory {
        Inventory::from_records(id, components.iter().map(Record::from_component), source)
    }

    /// Records built by the caller (hhd-dev/rechunk labels, rpm-ostree annotations). A name
    /// given twice keeps its first record.
    pub fn from_records(
        id: impl Into<String>,
        records: impl IntoIterator<Item = Record>,
        source: impl Into<String>,
    ) -> Inventory {
        let mut components = BTreeMap::new();
        for r in records {
            components.entry(r.name.clone()).or_insert(r);
        }
        Inventory {
            id: id.into(),
            source: source.into(),
            components,
            notes: Vec::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Record> {
        self.components.get(name)
    }

    /// True when this source gives component versions (else only names).
    pub fn has_versions(&self) -> bool {
        self.components.values().any(|r| r.identity.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_versions_parse_by_kind_and_drift_is_split_off() {
        let c = |name: &str, kind, version: &str| Component::new(name, kind, version, 10);
        let r = Record::from_component(&c(
            "setup",
            ComponentKind::Package,
            "2.14.5-1.fc40.noarch+0123456789abcdef",
        ));
        assert!(r.modified);
        assert_eq!(
            r.evr.as_ref().map(|e| e.to_string()).as_deref(),
            Some("2.14.5-1.fc40.noarch")
        );
        assert_eq!(
            r.identity.as_deref(),
            Some("2.14.5-1.fc40.noarch+0123456789abcdef")
        );
        let r = Record::from_component(&c("a", ComponentKind::Package, "1.0+git-1.x86_64"));
        assert!(!r.modified, "a + inside a version is not drift");
        assert_eq!(r.evr.map(|e| e.version), Some("1.0+git".to_string()));
        let group =
            Record::from_component(&c("sys", ComponentKind::SourcePackage, "0123456789abcdef"));
        assert_eq!(group.evr, None);
        let unowned =
            Record::from_component(&c("unpackaged:/etc", ComponentKind::Unpackaged, "1-2"));
        assert_eq!((&unowned.evr, unowned.is_package()), (&None, false));
    }
}
