//! A history from a directory of `rpm -qa` dumps, one file per image version.
//!
//! Make each dump inside the image (or with `--root`/`--dbpath`) with exactly:
//!
//! ```sh
//! rpm -qa --queryformat '%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\t%{SIZE}\t%{SOURCERPM}\t%{INSTALLTIME}\n' > VERSION.txt
//! ```
//!
//! The file name without its extension is the version id; the version's date is the newest
//! `INSTALLTIME` in it (when the image was composed), and versions are replayed by date (ties by
//! file name). Hidden files and subdirectories are ignored. A name installed more than once
//! (multilib, install-only kernels, gpg-pubkey) becomes `NAME.ARCH`, or `NAME-EVRA` when the
//! arch does not tell the copies apart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rechunk_model::{Component, ComponentKind, History, SizeTotal, Snapshot, Timestamp};

use crate::contentmeta::source_name;

/// The queryformat the dumps must be made with (see the module doc).
pub const QUERYFORMAT: &str = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\\t%{SIZE}\\t%{SOURCERPM}\\t%{INSTALLTIME}\\n";

/// Largest dump read (one of 3,000 packages is about 300 KB).
pub const MAX_DUMP: u64 = 64 << 20;

/// One line of a dump.
struct Installed {
    name: String,
    evra: String,
    size: u64,
    source: Option<String>,
    install_time: Timestamp,
}

/// Reads every dump in `dir` into a history named after the directory.
pub fn load_dir(dir: &Path) -> Result<History> {
    let dir = &crate::absolute(dir);
    let mut files: Vec<PathBuf> = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let is_file = entry
            .file_type()
            .with_context(|| format!("reading {}", entry.path().display()))?
            .is_file();
        if is_file && !hidden {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{}: no rpm -qa dumps in this directory", dir.display());
    }
    let mut snapshots = files
        .iter()
        .map(|f| load_dump(f))
        .collect::<Result<Vec<_>>>()?;
    // Stable sort: equal dates keep file-name order.
    snapshots.sort_by_key(|s| s.date);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rpm-qa".into());
    let history = History { name, snapshots };
    if let Err((v, c, e)) = history.check_sizes() {
        let s = &history.snapshots[v];
        bail!(
            "{}: version {:?}, package {:?}: over all the dumps, {e}",
            dir.display(),
            s.id,
            s.components[c].name
        );
    }
    Ok(history)
}

/// Reads one dump as a snapshot.
pub fn load_dump(path: &Path) -> Result<Snapshot> {
    let bytes = rechunk_fsio::read_capped(
        path,
        rechunk_fsio::Links::NoFollow,
        MAX_DUMP,
        "an rpm -qa dump",
    )
    .with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("reading {}: not UTF-8 text", path.display()))?;
    let mut installed = Vec::new();
    let mut total = SizeTotal::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = parse_line(line).with_context(|| {
            format!(
                "{}: line {}: expected the output of rpm -qa --queryformat '{QUERYFORMAT}'",
                path.display(),
                i + 1
            )
        })?;
        total
            .add(row.size)
            .with_context(|| format!("{}: line {}: size of {}", path.display(), i + 1, row.name))?;
        installed.push(row);
    }
    let Some(date) = installed.iter().map(|p| p.install_time).max() else {
        bail!("{}: no packages", path.display());
    };
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Snapshot::new(id, date, to_components(installed)))
}

fn parse_line(line: &str) -> Result<Installed> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [name, evra, size, source, install_time] = fields[..] else {
        bail!("{} tab-separated fields instead of 5", fields.len());
    };
    let size = size
        .parse()
        .with_context(|| format!("size {size:?} is not a number"))?;
    let install_time = install_time
        .parse()
        .with_context(|| format!("install time {install_time:?} is not a number"))?;
    let source = match source {
        "" | "(none)" => None,
        s => Some(source_name(s)),
    };
    Ok(Installed {
        name: name.to_string(),
        evra: evra.to_string(),
        size,
        source,
        install_time,
    })
}

fn to_components(installed: Vec<Installed>) -> Vec<Component> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut arch_count: HashMap<(&str, &str), usize> = HashMap::new();
    for p in &installed {
        *count.entry(&p.name).or_default() += 1;
        *arch_count.entry((&p.name, arch(&p.evra))).or_default() += 1;
    }
    installed
        .iter()
        .map(|p| {
            let name = match (
                count[p.name.as_str()],
                arch_count[&(p.name.as_str(), arch(&p.evra))],
            ) {
                (1, _) => p.name.clone(),
                (_, 1) => format!("{}.{}", p.name, arch(&p.evra)),
                _ => format!("{}-{}", p.name, p.evra),
            };
            let mut c = Component::new(name, ComponentKind::Package, p.evra.clone(), p.size);
            c.source = p.source.clone();
            c
        })
        .collect()
}

fn arch(evra: &str) -> &str {
    evra.rsplit_once('.').map_or("", |(_, a)| a)
}
