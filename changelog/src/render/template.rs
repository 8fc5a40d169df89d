//! User templates: any text with `{{placeholder}}`s, for projects with their own release-notes
//! format. Lists come out as the same Markdown lines as the default output; an unknown
//! placeholder or a `{{` without `}}` is an error naming the line, so a typo never ships.

use std::fmt::Write as _;

use super::{human_bytes, markdown};
use crate::{ChangeKind, Changelog};

/// Every placeholder with what it becomes (`PKG` stands for a package name).
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("from", "id of the old version"),
    ("to", "id of the new version"),
    ("major", "the major components, one `- **Label**: version` line each"),
    ("packages", "the package changes: a count line, then a sub-list per kind"),
    ("added", "one line per added package (empty when none)"),
    ("upgraded", "one line per upgraded package"),
    ("downgraded", "one line per downgraded package"),
    ("changed", "one line per package changed at the same version"),
    ("removed", "one line per removed package"),
    ("added_count", "number of added packages (also upgraded_count, downgraded_count, changed_count, removed_count)"),
    ("other", "non-package content that changed (unowned files, rpmdb, initramfs)"),
    ("download", "the download paragraph and per-layer table (empty when unknown)"),
    ("download_bytes", "bytes downloaded (empty when unknown)"),
    ("download_size", "the same, human-readable (`12.3 MiB`)"),
    ("layers_fetched", "layers downloaded"),
    ("layers_total", "layers in the new version"),
    ("changed_bytes", "bytes of the added and changed components (also shared_bytes, regrouped_bytes, rebuilt_bytes, unattributed_bytes)"),
    ("notes", "what the images could not tell, one line each"),
    ("version:PKG", "`version-release` of PKG in the new version (empty if removed)"),
    ("old_version:PKG", "`version-release` of PKG in the old version (empty if added)"),
];

/// Why a template could not be filled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("line {line}: `{{{{` without a closing `}}}}`")]
    Unclosed { line: usize },
    #[error("line {line}: unknown placeholder {{{{{name}}}}} (known: {known})")]
    Unknown {
        line: usize,
        name: String,
        known: String,
    },
    #[error("line {line}: {{{{{name}}}}}: no package {package:?} in either version")]
    NoPackage {
        line: usize,
        name: String,
        package: String,
    },
}

/// Fills `text`'s placeholders from `cl`.
pub fn template(text: &str, cl: &Changelog) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let line = text[..text.len() - rest.len() + start]
            .matches('\n')
            .count()
            + 1;
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed { line })?;
        let name = after[..end].trim();
        out.push_str(&value(name, cl, line)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn value(name: &str, cl: &Changelog, line: usize) -> Result<String, TemplateError> {
    if let Some((which, package)) = name.split_once(':') {
        return package_version(which.trim(), package.trim(), cl, line, name);
    }
    let count = |kind| Ok(cl.count(kind).to_string());
    let download = |f: &dyn Fn(&crate::Download) -> String| {
        Ok(cl.download.as_ref().map(f).unwrap_or_default())
    };
    match name {
        "from" => Ok(cl.from.id.clone()),
        "to" => Ok(cl.to.id.clone()),
        "major" => Ok(markdown::major(cl)),
        "packages" => Ok(markdown::packages(cl)),
        "added" => Ok(markdown::kind_list(cl, ChangeKind::Added)),
        "upgraded" => Ok(markdown::kind_list(cl, ChangeKind::Upgraded)),
        "downgraded" => Ok(markdown::kind_list(cl, ChangeKind::Downgraded)),
        "changed" => Ok(markdown::kind_list(cl, ChangeKind::Changed)),
        "removed" => Ok(markdown::kind_list(cl, ChangeKind::Removed)),
        "added_count" => count(ChangeKind::Added),
        "upgraded_count" => count(ChangeKind::Upgraded),
        "downgraded_count" => count(ChangeKind::Downgraded),
        "changed_count" => count(ChangeKind::Changed),
        "removed_count" => count(ChangeKind::Removed),
        "other" => Ok(markdown::others(cl)),
        "download" => Ok(markdown::download(cl)),
        "download_bytes" => download(&|d| d.cost.download_bytes.to_string()),
        "download_size" => download(&|d| human_bytes(d.cost.download_bytes)),
        "layers_fetched" => download(&|d| d.cost.layers_fetched.to_string()),
        "layers_total" => download(&|d| d.cost.layers_total.to_string()),
        "changed_bytes" => download(&|d| d.totals.changed.to_string()),
        "shared_bytes" => download(&|d| d.totals.shared.to_string()),
        "regrouped_bytes" => download(&|d| d.totals.regrouped.to_string()),
        "rebuilt_bytes" => download(&|d| d.totals.rebuilt.to_string()),
        "unattributed_bytes" => download(&|d| d.totals.unattributed.to_string()),
        "notes" => Ok(markdown::notes(cl)),
        _ => Err(unknown(name, line)),
    }
}

fn package_version(
    which: &str,
    package: &str,
    cl: &Changelog,
    line: usize,
    name: &str,
) -> Result<String, TemplateError> {
    let pick_new = match which {
        "version" => true,
        "old_version" => false,
        _ => return Err(unknown(name, line)),
    };
    if let Some(c) = cl.changes.iter().find(|c| c.name == package) {
        let side = if pick_new { &c.new } else { &c.old };
        return Ok(side.as_ref().map(|r| r.shown_version()).unwrap_or_default());
    }
    // Unchanged packages are not in the change list: the version is the same on both sides.
    cl.unchanged_version(package)
        .ok_or_else(|| TemplateError::NoPackage {
            line,
            name: name.to_string(),
            package: package.to_string(),
        })
}

fn unknown(name: &str, line: usize) -> TemplateError {
    let mut known = String::new();
    for (i, (p, _)) in PLACEHOLDERS.iter().enumerate() {
        if i > 0 {
            known.push_str(", ");
        }
        let _ = write!(known, "{p}");
    }
    TemplateError::Unknown {
        line,
        name: name.to_string(),
        known,
    }
}
