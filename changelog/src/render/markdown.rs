//! The Markdown release notes, ready to paste into a release: major components, package changes
//! by kind, other content, the download cost per layer, notes. Each section is a function the
//! template placeholders reuse.

use std::fmt::Write as _;

use rechunk_model::{Cause, Role};

use super::{human_bytes, md};
use crate::{ChangeKind, Changelog, ComponentChange, Download, DownloadLayer, Unit};

/// Names shown per table cell before "+N more".
const MAX_NAMES: usize = 8;

/// The whole document.
pub fn markdown(cl: &Changelog) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Changes from `{}` to `{}`\n",
        cl.from.id.replace('`', "'"),
        cl.to.id.replace('`', "'")
    );
    let major = major(cl);
    if !major.is_empty() {
        let _ = writeln!(s, "### Major components\n\n{major}");
    }
    let _ = writeln!(s, "### Package changes\n\n{}", packages(cl));
    let others = others(cl);
    if !others.is_empty() {
        let _ = writeln!(s, "### Other content\n\n{others}");
    }
    if cl.download.is_some() {
        let _ = writeln!(s, "### Download\n\n{}", download(cl));
    }
    let notes = notes(cl);
    if !notes.is_empty() {
        let _ = writeln!(s, "### Notes\n\n{notes}");
    }
    while s.ends_with("\n\n") {
        s.pop();
    }
    s
}

/// `- **Kernel**: 6.9.9-1.fc40 → 6.9.10-1.fc40` per entry.
pub(crate) fn major(cl: &Changelog) -> String {
    let mut s = String::new();
    for e in &cl.major {
        let shown = match (&e.old, &e.new) {
            (Some(o), Some(n)) if o == n => md(n),
            (Some(o), Some(n)) => format!("{} → {}", md(o), md(n)),
            (None, Some(n)) => format!("{} (added)", md(n)),
            (Some(o), None) => format!("removed (was {})", md(o)),
            (None, None) => continue,
        };
        let _ = writeln!(s, "- **{}**: {shown}", md(&e.label));
    }
    s
}

/// The summary line, then one sub-list per kind that has changes.
pub(crate) fn packages(cl: &Changelog) -> String {
    if !cl.packages_known {
        return "Unknown: an image does not list its packages (see the notes).\n".to_string();
    }
    let mut s = String::new();
    let counts: Vec<String> = ChangeKind::ALL
        .iter()
        .map(|&k| format!("{} {}", cl.count(k), k.name()))
        .collect();
    let _ = writeln!(s, "{}.\n", counts.join(", "));
    for kind in ChangeKind::ALL {
        let list = kind_list(cl, kind);
        if !list.is_empty() {
            let _ = writeln!(s, "#### {}\n\n{list}", heading(kind));
        }
    }
    // One trailing newline, like every section, whatever the last sub-list was.
    let end = s.trim_end().len();
    s.truncate(end);
    s.push('\n');
    s
}

fn heading(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "Added",
        ChangeKind::Upgraded => "Upgraded",
        ChangeKind::Downgraded => "Downgraded",
        ChangeKind::Changed => "Changed at the same version",
        ChangeKind::Removed => "Removed",
    }
}

/// One line per package change of `kind`.
pub(crate) fn kind_list(cl: &Changelog, kind: ChangeKind) -> String {
    let mut s = String::new();
    for c in cl.packages().filter(|c| c.change == kind) {
        let _ = writeln!(s, "- **{}** {}", md(&c.name), shown(c));
    }
    s
}

fn shown(c: &ComponentChange) -> String {
    let old = c.old_shown.as_deref().map(md).unwrap_or_default();
    let new = c.new_shown.as_deref().map(md).unwrap_or_default();
    match c.change {
        ChangeKind::Added => new,
        ChangeKind::Removed => old,
        ChangeKind::Changed if old == new => {
            let modified = c.new.as_ref().is_some_and(|r| r.modified);
            let why = if modified {
                "files modified after install"
            } else {
                "other content, same version"
            };
            format!("{new} ({why})")
        }
        _ => format!("{old} → {new}"),
    }
}

/// Non-package components by kind of change: `- changed: \`initramfs\`, \`rpmdb\``.
pub(crate) fn others(cl: &Changelog) -> String {
    let mut s = String::new();
    for kind in ChangeKind::ALL {
        let names: Vec<String> = cl
            .others()
            .filter(|c| c.change == kind)
            .map(|c| format!("`{}`", c.name.replace('`', "'")))
            .collect();
        if !names.is_empty() {
            let _ = writeln!(s, "- {}: {}", kind.name(), names.join(", "));
        }
    }
    s
}

/// The download paragraph, the byte breakdown and the per-layer table.
pub(crate) fn download(cl: &Changelog) -> String {
    let Some(d) = &cl.download else {
        return String::new();
    };
    let mut s = String::new();
    let unit = match d.unit {
        Unit::Compressed => "compressed",
        Unit::Uncompressed => "uncompressed, as simulated",
    };
    let _ = writeln!(
        s,
        "A client on `{}` downloads **{}** ({unit}) in {} of {} layers; {:.1}% of the {} image \
         is already held. Manifest and config add {}.\n",
        cl.from.id.replace('`', "'"),
        human_bytes(d.cost.download_bytes),
        d.cost.layers_fetched,
        d.cost.layers_total,
        d.cost.reuse_ratio * 100.0,
        human_bytes(d.cost.image_bytes),
        human_bytes(d.cost.metadata_bytes),
    );
    if d.layers.is_empty() {
        return s;
    }
    s.push_str(&breakdown(d));
    let _ = writeln!(
        s,
        "\n| # | bytes | triggered by | fetched along, unchanged |\n|---:|---:|---|---|"
    );
    for layer in &d.layers {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            layer.index + 1,
            human_bytes(layer.bytes),
            triggers(layer),
            along(layer)
        );
    }
    if d.unit == Unit::Compressed && d.totals.total() > d.totals.unattributed {
        s.push_str(
            "\nA layer's bytes are shared among its components in proportion to their \
             uncompressed sizes.\n",
        );
    }
    s
}

/// One line per non-zero kind of byte.
fn breakdown(d: &Download) -> String {
    let t = &d.totals;
    let rows = [
        (t.changed, "the added and changed components"),
        (
            t.shared,
            "unchanged components that share a layer with a changed one (the price of the plan)",
        ),
        (
            t.regrouped,
            "unchanged components in layers the plan regrouped",
        ),
        (
            t.rebuilt,
            "layers rebuilt with the same content (the build is not reproducible)",
        ),
        (
            t.unattributed,
            "not attributed: the images do not say what changed in these layers",
        ),
    ];
    let mut s = String::new();
    for (bytes, what) in rows {
        if bytes > 0 {
            let _ = writeln!(s, "- {}: {what}", human_bytes(bytes));
        }
    }
    s
}

fn triggers(layer: &DownloadLayer) -> String {
    match layer.cause {
        Cause::Changed => {
            let removed = |name: &String| {
                !layer
                    .components
                    .iter()
                    .any(|c| &c.name == name && matches!(c.role, Role::Added | Role::Changed))
            };
            let names: Vec<String> = layer
                .triggered_by
                .iter()
                .map(|n| {
                    if removed(n) {
                        format!("{} (removed)", md(n))
                    } else {
                        md(n)
                    }
                })
                .collect();
            cell(names)
        }
        Cause::Regrouped => "none: the plan regrouped it".to_string(),
        Cause::Rebuilt => "none: same content, new blob".to_string(),
        Cause::Unknown if layer.components.is_empty() => "unknown".to_string(),
        Cause::Unknown => format!(
            "unknown, one of: {}",
            cell(layer.components.iter().map(|c| md(&c.name)).collect())
        ),
    }
}

fn along(layer: &DownloadLayer) -> String {
    let mut shared: Vec<_> = layer
        .components
        .iter()
        .filter(|c| matches!(c.role, Role::Shared | Role::Regrouped | Role::Rebuilt))
        // Empty components (a directory of empty files) cost nothing: not worth a mention.
        .filter(|c| c.bytes > 0 || layer.unattributed_bytes > 0)
        .collect();
    if shared.is_empty() {
        return "-".to_string();
    }
    shared.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
    let attributed = layer.unattributed_bytes == 0;
    cell(
        shared
            .iter()
            .map(|c| {
                if attributed {
                    format!("{} {}", md(&c.name), human_bytes(c.bytes))
                } else {
                    md(&c.name)
                }
            })
            .collect(),
    )
}

fn cell(names: Vec<String>) -> String {
    if names.len() <= MAX_NAMES {
        return names.join(", ");
    }
    format!(
        "{}, +{} more",
        names[..MAX_NAMES].join(", "),
        names.len() - MAX_NAMES
    )
}

/// `- note` per note.
pub(crate) fn notes(cl: &Changelog) -> String {
    cl.notes.iter().map(|n| format!("- {n}\n")).collect()
}
