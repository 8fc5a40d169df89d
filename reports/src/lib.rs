//! Reports of a simulation: the per-update CSV, SVG plots (plotters) and the markdown summary
//! table that `rechunk compare` writes and prints.

pub mod agreement;
pub mod attribution_csv;
pub mod plots;
pub mod table;
pub mod updates_csv;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rechunk_model::Timestamp;
use rechunk_sim::{Client, Simulation};

pub use table::{markdown, summary_rows, SummaryRow};

/// The files [`write_all`] produced.
#[derive(Clone, Debug)]
pub struct Written {
    pub files: Vec<PathBuf>,
    /// The markdown summary (also in `summary.md`).
    pub summary: String,
    pub rows: Vec<SummaryRow>,
}

/// Writes `updates.csv`, `summary.md`, `cumulative.svg`, `distribution.svg` and `budget.svg`
/// into `dir` (created if missing). `budget` is the main layer budget of the comparison.
pub fn write_all(
    sim: &Simulation,
    clients: &[Client],
    budget: usize,
    dir: &Path,
) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let rows = summary_rows(sim, clients);
    let summary = markdown(sim, &rows, budget);
    let mut files = Vec::new();

    let csv_path = dir.join("updates.csv");
    let file = std::fs::File::create(&csv_path)
        .with_context(|| format!("creating {}", csv_path.display()))?;
    updates_csv::write(sim, std::io::BufWriter::new(file))
        .with_context(|| format!("writing {}", csv_path.display()))?;
    files.push(csv_path);

    let md_path = dir.join("summary.md");
    let md = format!("# rechunk compare: {}\n\n{summary}", sim.history);
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    files.push(md_path);

    if clients.contains(&Client::Every) {
        let path = dir.join("cumulative.svg");
        plots::cumulative(sim, budget, &path)?;
        files.push(path);
        let path = dir.join("distribution.svg");
        plots::distribution(sim, budget, &path)?;
        files.push(path);
        let path = dir.join("budget.svg");
        plots::budget(sim, &rows, &path)?;
        files.push(path);
    }
    Ok(Written {
        files,
        summary,
        rows,
    })
}

/// `YYYY-MM-DD` of a timestamp (UTC).
pub fn date(ts: Timestamp) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ts.to_string())
}
