//! rpm-ostree's `--write-contentmeta-json` format: what rpm-ostree's chunker sees for a build.
//!
//! A JSON array (optionally gzip-compressed) of objects
//! `{identifier, name, srcid, change_time_offset, change_frequency?, size}`, one per binary
//! package plus the synthetic `initramfs (kernel …)` and `rpmostree-unpackaged-content`
//! components. `change_time_offset` is hours since the oldest build in the image, and
//! `u32::MAX` marks the synthetic components. Older files (FCOS 35) put the NEVRA in `name`
//! and have no `change_frequency`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use rechunk_fsio::{read_to_end_capped, Links};
use rechunk_model::{Component, ComponentKind, SizeTotal};
use serde::Deserialize;

/// Largest contentmeta file read (rpm-ostree's for a 3,000-package desktop: about 1 MiB).
pub const MAX_FILE: u64 = 64 << 20;
/// Largest contentmeta JSON after decompression: a gzip bomb stops here.
pub const MAX_JSON: u64 = 256 << 20;

/// Marks components that are not packages (initramfs, unpackaged content).
const SYNTHETIC_OFFSET: u64 = u32::MAX as u64;

/// One entry of the file, as written by rpm-ostree.
#[derive(Clone, Debug, Deserialize)]
pub struct ContentMetaEntry {
    pub identifier: String,
    pub name: String,
    pub srcid: String,
    pub change_time_offset: u64,
    #[serde(default)]
    pub change_frequency: Option<u32>,
    pub size: u64,
}

/// Reads a contentmeta file (plain or gzip JSON) into its entries.
pub fn read_entries(path: &Path) -> Result<Vec<ContentMetaEntry>> {
    let bytes = rechunk_fsio::read_capped(path, Links::Follow, MAX_FILE, "a contentmeta file")
        .with_context(|| format!("reading {}", path.display()))?;
    parse_entries(&bytes, &path.display().to_string())
}

/// Parses contentmeta bytes (plain or gzip JSON); `origin` names them in errors (a path, or
/// the name of data embedded in the binary).
pub fn parse_entries(bytes: &[u8], origin: &str) -> Result<Vec<ContentMetaEntry>> {
    let json;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        json = read_to_end_capped(GzDecoder::new(bytes), MAX_JSON, "decompressed contentmeta")
            .with_context(|| format!("decompressing {origin}"))?;
        json.as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(json)
        .with_context(|| format!("{origin}: not rpm-ostree contentmeta JSON"))
}

/// Reads a contentmeta file as components sorted by name.
///
/// `build_time` holds `change_time_offset` in seconds, i.e. relative to the oldest build in
/// the image (0 = oldest): enough for ordering, which is all rpm-ostree uses it for.
pub fn load(path: &Path) -> Result<Vec<Component>> {
    to_components(read_entries(path)?, &path.display().to_string())
}

/// [`load`] for bytes already in memory; `origin` names them in errors.
pub fn load_bytes(bytes: &[u8], origin: &str) -> Result<Vec<Component>> {
    to_components(parse_entries(bytes, origin)?, origin)
}

fn to_components(entries: Vec<ContentMetaEntry>, origin: &str) -> Result<Vec<Component>> {
    let mut total = SizeTotal::default();
    for (i, e) in entries.iter().enumerate() {
        total
            .add(e.size)
            .with_context(|| format!("{origin}: entry {} ({:?}): size", i + 1, e.identifier))?;
    }
    let mut components: Vec<Component> = entries.into_iter().map(to_component).collect();
    components.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = components.windows(2).find(|w| w[0].name == w[1].name) {
        bail!("{origin}: component {:?} appears twice", w[0].name);
    }
    Ok(components)
}

fn to_component(entry: ContentMetaEntry) -> Component {
    let synthetic = entry.change_time_offset >= SYNTHETIC_OFFSET;
    let (name, version) = if synthetic {
        (entry.name.clone(), entry.identifier.clone())
    } else {
        split_nevra(&entry.identifier, &entry.name)
    };
    let kind = match () {
        _ if !synthetic => ComponentKind::Package,
        _ if name == "initramfs" => ComponentKind::Initramfs,
        _ => ComponentKind::Other,
    };
    let mut c = Component::new(name, kind, version, entry.size);
    if !synthetic {
        c.source = Some(source_name(&entry.srcid));
        c.build_time = Some(entry.change_time_offset as i64 * 3600);
        c.change_frequency = entry.change_frequency;
    }
    c
}

/// Splits `name-[epoch:]version-release.arch` into (name, rest). When `name` is the whole
/// NEVRA (FCOS 35 files) the name is what precedes the last two dashes.
fn split_nevra(identifier: &str, name: &str) -> (String, String) {
    if name != identifier {
        if let Some(rest) = identifier
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix('-'))
        {
            return (name.to_string(), rest.to_string());
        }
    }
    let mut parts = identifier.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(release), Some(version), Some(n)) => (n.to_string(), format!("{version}-{release}")),
        _ => (identifier.to_string(), identifier.to_string()),
    }
}

/// `systemd-254.5-2.fc39.src.rpm` → `systemd`.
pub fn source_name(srcid: &str) -> String {
    let base = srcid.strip_suffix(".src.rpm").unwrap_or(srcid);
    let mut parts = base.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(n)) => n.to_string(),
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nevra_and_source_names() {
        assert_eq!(
            split_nevra("kernel-core-6.0.7-301.fc37.x86_64", "kernel-core"),
            ("kernel-core".into(), "6.0.7-301.fc37.x86_64".into())
        );
        let nevra = "NetworkManager-1:1.32.12-2.fc35.x86_64";
        assert_eq!(
            split_nevra(nevra, nevra),
            ("NetworkManager".into(), "1:1.32.12-2.fc35.x86_64".into())
        );
        assert_eq!(source_name("systemd-251.8-586.fc37.src.rpm"), "systemd");
        assert_eq!(
            source_name("python-dateutil-2.8.2-4.fc37.src.rpm"),
            "python-dateutil"
        );
    }
}
