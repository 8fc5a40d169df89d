//! `rechunk synth`: turn a history into a chain of real root filesystems, one per version, with
//! genuine rpm packages installed by real `rpm` (the generator is `rechunk_datasets::synth`).
//! Writes `OUTPUT/VERSION/` per version, `OUTPUT/history.csv` (the history the trees realise,
//! in the generic format) and keeps built packages in `OUTPUT/.rpm-cache/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rechunk_datasets::synth::{self, Chain, Progress, RpmCache, Scale, Stage};
use serde::Serialize;

use super::common::print_stdout;

/// Options of `rechunk synth`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    rechunk synth --output /var/tmp/chain --last 3                   # the last 3 FCOS stable versions\n  \
    rechunk synth --history my-history.csv --output chain --from-version v5 --to-version v9\n  \
    rechunk synth --output chain --scale desktop --last 2 --dry-run  # sizes only\n\n\
    Needs root and Debian's rpm (rpm sets owners and file capabilities). Versions already in \
    OUTPUT are an error unless --force replaces them; packages already in the cache are reused.")]
pub struct Args {
    /// History to synthesize: fcos-stable, fcos-testing (shipped), a generic history CSV
    /// file or a directory of `rpm -qa --queryformat` dumps (README "Bring your own history").
    #[arg(long, default_value = "fcos-stable", value_name = "NAME|FILE|DIR")]
    pub history: String,
    /// Directory for the trees (OUTPUT/VERSION), history.csv and the package cache.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// First version written.
    #[arg(long, value_name = "ID")]
    pub from_version: Option<String>,
    /// Last version written.
    #[arg(long, value_name = "ID")]
    pub to_version: Option<String>,
    /// Only the last N versions of the range.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    /// Size of the trees: `real` (as the history says), `desktop` (every package cloned until
    /// the last version has ≥ 2,000 packages, ≥ 150,000 files and ≥ 6 GB) or a factor N.
    #[arg(long, default_value = "real", value_name = "real|desktop|N", value_parser = parse_scale)]
    pub scale: Scale,
    /// Package cache (default: OUTPUT/.rpm-cache); share it between outputs to build less.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Replace versions that already exist in OUTPUT.
    #[arg(long)]
    pub force: bool,
    /// Print what each version would hold, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object per version on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn parse_scale(s: &str) -> Result<Scale, String> {
    match s {
        "real" => Ok(Scale::Real),
        "desktop" => Ok(Scale::Desktop),
        n => match n.parse::<u32>() {
            Ok(k) if k >= 1 => Ok(Scale::Factor(k)),
            _ => Err(format!("{s:?}: expected real, desktop or a factor ≥ 1")),
        },
    }
}

/// One line of the report.
#[derive(Serialize)]
struct Row {
    version: String,
    path: Option<PathBuf>,
    packages: usize,
    /// Packages built for this version (not in the cache before).
    built: usize,
    package_files: u64,
    package_bytes: u64,
    unowned_bytes: u64,
    build_seconds: f64,
    install_seconds: f64,
    total_seconds: f64,
}

pub fn run(args: Args) -> Result<()> {
    let input = rechunk_datasets::open_history(&args.history)
        .with_context(|| format!("loading history {}", args.history))?;
    let mut chain = Chain::new(&input, args.scale)
        .with_context(|| format!("planning the chain of history {}", args.history))?;
    let range = selection(&chain, &args)?;
    if args.dry_run {
        return report(&chain, &args, range.map(|i| dry_row(&chain, i)));
    }
    synth::tree::check_root()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let cache_dir = args
        .cache
        .clone()
        .unwrap_or_else(|| args.output.join(".rpm-cache"));
    let cache = RpmCache::open(&cache_dir)?;
    write_history(&chain, &args.output)?;
    let progress = Bar::new();
    let mut rows = Vec::new();
    for i in range {
        let plan = &chain.versions[i];
        let dest = args.output.join(version_dir(&plan.id)?);
        if std::fs::symlink_metadata(&dest).is_ok() {
            if !args.force {
                bail!(
                    "{}: already exists (pass --force to replace it)",
                    dest.display()
                );
            }
            std::fs::remove_dir_all(&dest)
                .with_context(|| format!("removing {}", dest.display()))?;
        }
        let s = synth::write_version(&chain, i, &cache, &dest, &progress)?;
        // The rpm database's real size replaces the planned one.
        chain.record_written(i, &s.unowned)?;
        write_history(&chain, &args.output)?;
        rows.push(Row {
            version: s.id,
            path: Some(dest),
            packages: s.packages,
            built: s.built,
            package_files: s.package_files,
            package_bytes: s.package_bytes,
            unowned_bytes: s.unowned_bytes,
            build_seconds: s.build_seconds,
            install_seconds: s.install_seconds,
            total_seconds: s.total_seconds,
        });
    }
    progress.bar.finish_and_clear();
    report(&chain, &args, rows.into_iter())
}

/// The versions to write (indices into the chain).
fn selection(chain: &Chain, args: &Args) -> Result<std::ops::Range<usize>> {
    let find = |id: &Option<String>, default: usize| match id {
        None => Ok(default),
        Some(id) => chain
            .position(id)
            .with_context(|| format!("history {:?} has no version {id:?}", chain.history.name)),
    };
    let first = find(&args.from_version, 0)?;
    let last = find(&args.to_version, chain.versions.len() - 1)?;
    if first > last {
        bail!("--from-version comes after --to-version in the history");
    }
    let first = match args.last {
        Some(0) => bail!("--last must be at least 1"),
        Some(n) => first.max((last + 1).saturating_sub(n)),
        None => first,
    };
    Ok(first..last + 1)
}

/// A version id as a directory name; ids that are not one are refused.
fn version_dir(id: &str) -> Result<&str> {
    if id.is_empty() || id.starts_with('.') || id.contains('/') || id.contains('\0') {
        bail!("version {id:?} cannot be a directory name");
    }
    Ok(id)
}

/// The realised history, staged and renamed.
fn write_history(chain: &Chain, output: &Path) -> Result<()> {
    let path = output.join("history.csv");
    let mut file = rechunk_fsio::StagedFile::create(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    rechunk_datasets::generic::write(&chain.history, &mut file)
        .with_context(|| format!("writing {}", path.display()))?;
    file.commit()
        .with_context(|| format!("writing {}", path.display()))
}

fn dry_row(chain: &Chain, i: usize) -> Row {
    let plan = &chain.versions[i];
    let package_files = plan
        .packages
        .iter()
        .map(|p| synth::layout::count(&p.files()))
        .sum();
    Row {
        version: plan.id.clone(),
        path: None,
        packages: plan.packages.len(),
        built: 0,
        package_files,
        package_bytes: plan.packages.iter().map(|p| p.size).sum(),
        unowned_bytes: plan.unowned.iter().map(|u| u.component.size).sum(),
        build_seconds: 0.0,
        install_seconds: 0.0,
        total_seconds: 0.0,
    }
}

/// The table (or JSON lines) on stdout, through [`print_stdout`]: version ids come from the
/// history, escaped there.
fn report(chain: &Chain, args: &Args, rows: impl Iterator<Item = Row>) -> Result<()> {
    let mut out = Vec::new();
    if args.json {
        for row in rows {
            writeln!(out, "{}", serde_json::to_string(&row)?)?;
        }
        return print_stdout(&String::from_utf8_lossy(&out));
    }
    writeln!(
        out,
        "history {} (scale factor {}): {}",
        chain.history.name,
        chain.factor,
        args.output.display()
    )?;
    writeln!(
        out,
        "{:<24} {:>8} {:>6} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "version", "packages", "built", "files", "GB", "unowned", "build s", "rpm -i s", "total s"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<24} {:>8} {:>6} {:>9} {:>9.3} {:>9.3} {:>8.1} {:>8.1} {:>8.1}",
            r.version,
            r.packages,
            r.built,
            r.package_files,
            (r.package_bytes + r.unowned_bytes) as f64 / 1e9,
            r.unowned_bytes as f64 / 1e9,
            r.build_seconds,
            r.install_seconds,
            r.total_seconds
        )?;
    }
    print_stdout(&String::from_utf8_lossy(&out))
}

/// The progress display: one bar, re-labelled per stage; hidden when stderr is not a terminal.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            bar: ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()),
        }
    }
}

impl Progress for Bar {
    fn stage(&self, version: &str, stage: Stage, total: u64) {
        let (what, template) = match stage {
            Stage::Build => (
                "building packages",
                "{prefix} [{bar:30}] {bytes}/{total_bytes} ({eta})",
            ),
            Stage::Install => ("rpm -i", "{prefix} [{bar:30}] {pos}/{len} packages ({eta})"),
            Stage::Finish => ("unowned content", "{prefix}"),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_prefix(format!("{version}: {what}"));
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn advance(&self, units: u64) {
        self.bar.inc(units);
    }
}
