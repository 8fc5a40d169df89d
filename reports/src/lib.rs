//! Reports of a simulation: the per-update CSV, SVG plots (plotters) and the markdown summary
//! table that `rechunk compare` writes and prints.

pub mod agreement;
pub mod attribution_csv;
pub mod plots;
pub mod ratios;
pub mod table;
pub mod updates_csv;

use std::path::{Path, PathBuf};

use std::io::Write;

use anyhow::{Context, Result};
use rechunk_fsio::{StagedFile, StagedSet};
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
/// into `dir` (created if missing), all or none: see [`stage_all`]. `budget` is the main layer
/// budget of the comparison.
pub fn write_all(
    sim: &Simulation,
    clients: &[Client],
    budget: usize,
    dir: &Path,
) -> Result<Written> {
    let mut staged = StagedSet::new();
    let written = stage_all(sim, clients, budget, dir, &mut staged)?;
    commit(staged)?;
    Ok(written)
}

/// Writes the files of [`write_all`] to temporary files in `dir` (created if missing), to be
/// renamed into place with the caller's other files by [`commit`]: nothing in `dir` changes
/// until every file is written, and a symlink at a report's name is refused, never written
/// through (`rechunk_fsio::output`).
pub fn stage_all(
    sim: &Simulation,
    clients: &[Client],
    budget: usize,
    dir: &Path,
    staged: &mut StagedSet,
) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let rows = summary_rows(sim, clients);
    let summary = markdown(sim, &rows, budget);
    let mut files = Vec::new();

    let csv_path = dir.join("updates.csv");
    updates_csv::write(sim, stage(staged, &csv_path)?)
        .with_context(|| format!("writing {}", csv_path.display()))?;
    files.push(csv_path);

    let md_path = dir.join("summary.md");
    let md = format!("# rechunk compare: {}\n\n{summary}", sim.history);
    stage(staged, &md_path)?
        .write_all(md.as_bytes())
        .with_context(|| format!("writing {}", md_path.display()))?;
    files.push(md_path);

    if clients.contains(&Client::Every) {
        type Plot<'a> = Box<dyn Fn(&Path) -> Result<String> + 'a>;
        let plots: [(&str, Plot); 3] = [
            (
                "cumulative.svg",
                Box::new(|p| plots::cumulative(sim, budget, p)),
            ),
            (
                "distribution.svg",
                Box::new(|p| plots::distribution(sim, budget, p)),
            ),
            ("budget.svg", Box::new(|p| plots::budget(sim, &rows, p))),
        ];
        for (name, draw) in plots {
            let path = dir.join(name);
            let svg = draw(&path)?;
            stage(staged, &path)?
                .write_all(svg.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            files.push(path);
        }
    }
    Ok(Written {
        files,
        summary,
        rows,
    })
}

/// Stages `path` in `staged`; the error names it.
pub fn stage<'a>(staged: &'a mut StagedSet, path: &Path) -> Result<&'a mut StagedFile> {
    staged
        .create(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Renames every staged file into place; the error names the file that failed.
pub fn commit(staged: StagedSet) -> Result<Vec<PathBuf>> {
    staged
        .commit()
        .map_err(|(path, e)| anyhow::Error::new(e).context(format!("writing {}", path.display())))
}

/// `YYYY-MM-DD` of a timestamp (UTC).
pub fn date(ts: Timestamp) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ts.to_string())
}
