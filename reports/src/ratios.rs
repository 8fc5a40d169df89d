//! The ratio file: compression ratios measured on built images, per strategy × layer budget ×
//! client, which `rechunk compare --build` writes (`compression-ratios.csv`, next to
//! `agreement.md`) and `rechunk compare` reads (`--ratios FILE`, default the shipped
//! `datasets/data/compression-ratios.csv`) to turn uncompressed download bytes into compressed
//! ones ([`rechunk_sim::compression`] has the rule).
//!
//! CSV with a header line, `strategy,max_layers,client,compression,ratio,updates,source`;
//! lines starting with `#` before it say where the file comes from (command, date, versions).

use std::io::Write;

use anyhow::{Context, Result};
use rechunk_sim::{MeasuredRatio, RatioTable};

/// Header of the CSV part.
pub const HEADER: [&str; 7] = [
    "strategy",
    "max_layers",
    "client",
    "compression",
    "ratio",
    "updates",
    "source",
];

/// Writes `rows` after `comments` (each written as `# LINE`).
pub fn write(rows: &[MeasuredRatio], comments: &[String], mut out: impl Write) -> Result<()> {
    for c in comments {
        for line in c.lines() {
            writeln!(out, "# {line}")?;
        }
    }
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for r in rows {
        w.write_record([
            r.strategy.as_str(),
            &r.max_layers.to_string(),
            r.client.name(),
            &r.compression,
            // Rust prints the shortest text that reads back as the same f64.
            &r.ratio.to_string(),
            &r.updates.to_string(),
            &r.source,
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Reads a ratio file's text; `origin` names it in the reports and in errors.
pub fn read(text: &str, origin: &str) -> Result<RatioTable> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header = r.headers().with_context(|| format!("{origin}: header"))?;
    if header.iter().ne(HEADER) {
        anyhow::bail!(
            "{origin}: header is {:?}, expected {}",
            header.iter().collect::<Vec<_>>(),
            HEADER.join(",")
        );
    }
    let mut rows = Vec::new();
    for (i, row) in r.deserialize::<MeasuredRatio>().enumerate() {
        // Line numbers are not counted past comments: name the data row.
        rows.push(row.with_context(|| format!("{origin}: data row {}", i + 1))?);
    }
    RatioTable::new(rows, origin).with_context(|| format!("{origin}: unusable ratios"))
}

/// Comment lines of a ratio file (without `# `), to show where it comes from.
pub fn comments(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect()
}
