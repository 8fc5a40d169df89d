//! Release notes between two versions of an image: the major components, every package added,
//! upgraded, downgraded or removed, and what the update costs to download, layer by layer, with
//! the changes that made each layer be fetched. Rendered as Markdown, JSON or a user template.
//!
//! A crate of its own rather than a module of `rechunk-reports`: it needs only the model (no
//! simulator, no plotting), does no I/O, and is fed by every source alike: an [`Inventory`]
//! comes from a history snapshot, an image's labels or annotations, or the components of a
//! scanned tree, and a [`Layout`] from an image's manifest or a simulated plan. The bytes rule
//! is the model's ([`rechunk_model::update_cost`], [`rechunk_model::attribute`]), shared with
//! `rechunk diff` and the simulator.

mod changes;
mod download;
mod evr;
mod inventory;
mod major;
mod render;

pub use changes::{component_changes, member_change, ChangeKind, ComponentChange};
pub use download::{ComponentShare, Download, DownloadLayer, Layout, LayoutLayer, Unit};
pub use evr::{compare_evr, display_change, magnitude, rpmvercmp, Evr, Magnitude};
pub use inventory::{Inventory, Record};
pub use major::{default_major, major_entries, MajorEntry, MajorSpec, DEFAULT_MAJOR};
pub use render::{human_bytes, json, markdown, template, TemplateError, PLACEHOLDERS};

use std::collections::BTreeMap;

use serde::Serialize;

/// Which version a side of the changelog is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub id: String,
    /// What its components were read from.
    pub source: String,
}

/// Everything the release notes say.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Changelog {
    pub from: VersionInfo,
    pub to: VersionInfo,
    pub major: Vec<MajorEntry>,
    /// Every changed component, packages and the rest (see [`Changelog::packages`]), in
    /// [`component_changes`] order.
    pub changes: Vec<ComponentChange>,
    /// False when either version carries no component list at all: then no change can be
    /// listed, and an empty list means nothing.
    pub packages_known: bool,
    /// What the sources cannot tell.
    pub notes: Vec<String>,
    pub download: Option<Download>,
    /// `version-release` of each component present in both versions and not in `changes`, for
    /// the `{{version:PKG}}` placeholders.
    #[serde(skip)]
    pub unchanged: BTreeMap<String, String>,
}

impl Changelog {
    /// The changes from `old` to `new`, with the major block for `major`.
    pub fn new(old: &Inventory, new: &Inventory, major: &[MajorSpec]) -> Changelog {
        let mut notes: Vec<String> = Vec::new();
        for inv in [old, new] {
            for note in &inv.notes {
                if !notes.contains(note) {
                    notes.push(note.clone());
                }
            }
            let unversioned = inv
                .components
                .values()
                .filter(|r| r.identity.is_none())
                .count();
            if unversioned > 0 {
                notes.push(format!(
                    "{} ({}) names {unversioned} of its {} components without a version: they \
                     are listed only when added or removed",
                    inv.id,
                    inv.source,
                    inv.components.len()
                ));
            }
        }
        let changes = component_changes(old, new);
        let changed: std::collections::BTreeSet<&str> =
            changes.iter().map(|c| c.name.as_str()).collect();
        let unchanged = new
            .components
            .values()
            .filter(|r| old.get(&r.name).is_some())
            .filter(|r| !changed.contains(r.name.as_str()))
            .map(|r| (r.name.clone(), r.shown_version()))
            .collect();
        Changelog {
            from: VersionInfo {
                id: old.id.clone(),
                source: old.source.clone(),
            },
            to: VersionInfo {
                id: new.id.clone(),
                source: new.source.clone(),
            },
            major: major_entries(major, old, new),
            changes,
            packages_known: !old.components.is_empty() && !new.components.is_empty(),
            notes,
            download: None,
            unchanged,
        }
    }

    /// Package changes (packages and source-package groups).
    pub fn packages(&self) -> impl Iterator<Item = &ComponentChange> {
        self.changes.iter().filter(|c| c.is_package())
    }

    /// Changes of everything else: unowned files, the rpmdb, the initramfs, xattr components.
    pub fn others(&self) -> impl Iterator<Item = &ComponentChange> {
        self.changes.iter().filter(|c| !c.is_package())
    }

    /// `version-release` of a component present, unchanged, in both versions.
    pub fn unchanged_version(&self, name: &str) -> Option<String> {
        self.unchanged.get(name).cloned()
    }

    /// Number of package changes of one kind.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.packages().filter(|c| c.change == kind).count()
    }
}
