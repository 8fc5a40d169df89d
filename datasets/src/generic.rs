//! The generic history format: bring your own image history as one CSV file.
//!
//! One row per version × component, with a header naming the columns (any order):
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `version` | yes | version id (a release, a commit, an image digest) |
//! | `date` | yes | RFC 3339 date-time, `YYYY-MM-DD` (UTC midnight) or Unix seconds; one per version |
//! | `component` | yes | component name, unique within a version (a package name) |
//! | `evr` | yes | content identity: equal evr in two versions = unchanged content |
//! | `size` | yes | uncompressed bytes |
//! | `source` | no | source package name (empty = unknown) |
//! | `requires` | no | space-separated names of components this one requires |
//! | `kind` | no | `package` (default), `source-package`, `xattr`, `unpackaged`, `big-file`, `rpmdb`, `generated`, `initramfs`, `other` |
//! | `change_frequency` | no | rpm-ostree's count of changelog entries in the last year (empty = unknown) |
//!
//! Versions are replayed in the order they first appear; their dates must not go backwards.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use rechunk_model::{Component, ComponentKind, History, SizeTotal, Snapshot, Timestamp};
use serde::{Deserialize, Serialize};

use crate::time;

/// Largest history CSV read (the shipped FCOS history, exported: 7 MB).
pub const MAX_FILE: u64 = 1 << 30;

#[derive(Deserialize, Serialize)]
struct Row {
    version: String,
    date: String,
    component: String,
    evr: String,
    size: u64,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    requires: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    change_frequency: Option<u32>,
}

/// One version being collected.
struct Pending {
    id: String,
    date: Timestamp,
    components: Vec<Component>,
    names: HashMap<String, u64>,
}

/// Reads a generic history CSV file.
pub fn load(path: &Path) -> Result<History> {
    let path = &crate::absolute(path);
    let file = rechunk_fsio::open_regular(path, rechunk_fsio::Links::Follow)
        .with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_FILE {
        bail!(
            "{}: {len} bytes, more than the {} limit for a history",
            path.display(),
            rechunk_fsio::input::show_size(MAX_FILE)
        );
    }
    // Bounded again while it is read, should it grow meanwhile.
    let file = std::io::Read::take(file, MAX_FILE);
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "history".into());
    parse(file, &path.display().to_string(), name)
}

/// Reads the generic format from any reader; `origin` names it in errors.
pub fn parse(reader: impl std::io::Read, origin: &str, name: String) -> Result<History> {
    let mut csv = csv::Reader::from_reader(reader);
    let mut versions: Vec<Pending> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Over every row of every version: bounds every figure computed from the history.
    let mut total = SizeTotal::default();
    for (i, row) in csv.deserialize::<Row>().enumerate() {
        let line = i + 2; // header is line 1
        let row = row.with_context(|| format!("{origin}: line {line}"))?;
        total
            .add(row.size)
            .with_context(|| format!("{origin}: line {line}: size of {:?}", row.component))?;
        let date = time::parse(&row.date).with_context(|| format!("{origin}: line {line}"))?;
        let slot = *index.entry(row.version.clone()).or_insert_with(|| {
            versions.push(Pending {
                id: row.version.clone(),
                date,
                components: Vec::new(),
                names: HashMap::new(),
            });
            versions.len() - 1
        });
        let version = &mut versions[slot];
        if version.date != date {
            bail!(
                "{origin}: line {line}: version {:?} has date {:?} here but {} on its first row",
                row.version,
                row.date,
                time::rfc3339(version.date)
            );
        }
        if let Some(first) = version.names.insert(row.component.clone(), line as u64) {
            bail!(
                "{origin}: line {line}: component {:?} appears twice in version {:?} (first on line {first})",
                row.component,
                row.version
            );
        }
        let component = to_component(row).with_context(|| format!("{origin}: line {line}"))?;
        version.components.push(component);
    }
    let snapshots: Vec<Snapshot> = versions
        .into_iter()
        .map(|p| Snapshot::new(p.id, p.date, p.components))
        .collect();
    for w in snapshots.windows(2) {
        if w[1].date < w[0].date {
            bail!(
                "{origin}: version {:?} ({}) is dated before the version listed before it, {:?} ({})",
                w[1].id,
                time::rfc3339(w[1].date),
                w[0].id,
                time::rfc3339(w[0].date)
            );
        }
    }
    if snapshots.is_empty() {
        bail!("{origin}: no rows");
    }
    Ok(History { name, snapshots })
}

fn to_component(row: Row) -> Result<Component> {
    let kind = match row.kind.as_deref().map(str::trim) {
        None | Some("") => ComponentKind::Package,
        Some(k) => serde_json::from_value(serde_json::Value::String(k.to_string()))
            .map_err(|_| anyhow::anyhow!("unknown component kind {k:?}"))?,
    };
    let mut c = Component::new(row.component, kind, row.evr, row.size);
    c.source = row.source.filter(|s| !s.trim().is_empty());
    c.change_frequency = row.change_frequency;
    c.requires = row
        .requires
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok(c)
}

/// Writes `history` in the generic format (every column), so any loaded history can be
/// exported, edited and brought back.
pub fn write(history: &History, out: impl Write) -> Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    for s in &history.snapshots {
        for c in &s.components {
            let kind = serde_json::to_value(c.kind)?;
            csv.serialize(Row {
                version: s.id.clone(),
                date: time::rfc3339(s.date),
                component: c.name.clone(),
                evr: c.version.clone(),
                size: c.size,
                source: c.source.clone(),
                requires: Some(c.requires.join(" ")),
                kind: kind.as_str().map(str::to_string),
                change_frequency: c.change_frequency,
            })?;
        }
    }
    csv.flush()?;
    Ok(())
}
