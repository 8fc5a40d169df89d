//! The changelog as text: Markdown ([`markdown`]), JSON ([`json`], the schema in the README)
//! and user templates ([`template`]). The Markdown sections are built once here and reused by
//! the template placeholders, so both say the same thing.

mod markdown;
mod template;

pub use markdown::markdown;
pub use template::{template, TemplateError, PLACEHOLDERS};

use crate::Changelog;

/// Version of the JSON document's layout; bumped on any incompatible change.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The changelog as one JSON object (see the README, "Release notes", for the schema).
pub fn json(cl: &Changelog) -> serde_json::Result<String> {
    #[derive(serde::Serialize)]
    struct Document<'a> {
        schema_version: u32,
        from: &'a crate::VersionInfo,
        to: &'a crate::VersionInfo,
        major: &'a [crate::MajorEntry],
        packages_known: bool,
        counts: std::collections::BTreeMap<&'static str, usize>,
        packages: Vec<&'a crate::ComponentChange>,
        other: Vec<&'a crate::ComponentChange>,
        notes: &'a [String],
        download: Option<&'a crate::Download>,
    }
    let doc = Document {
        schema_version: JSON_SCHEMA_VERSION,
        from: &cl.from,
        to: &cl.to,
        major: &cl.major,
        packages_known: cl.packages_known,
        counts: crate::ChangeKind::ALL
            .iter()
            .map(|k| (k.name(), cl.count(*k)))
            .collect(),
        packages: cl.packages().collect(),
        other: cl.others().collect(),
        notes: &cl.notes,
        download: cl.download.as_ref(),
    };
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    Ok(text)
}

/// `12.3 MiB`-style sizes (binary units, one decimal; plain bytes below 1 KiB).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Escapes what Markdown would read as markup in a name or version.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '`' | '|' | '<' | '>' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
