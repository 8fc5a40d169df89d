//! `rechunk compare`: replay an image history through strategies and report, side by side, what
//! each client downloads (CSV, SVG plots, summary table; `--json` for machines).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rechunk_datasets::synth::Scale;
use rechunk_model::History;
use rechunk_oci::Compression;
use rechunk_sim::{contenders, simulate, Client, CompressionModel, SimConfig, Sweep};

use super::common::print_stdout;

/// Budgets the default run sweeps so the budget plot is not empty.
const DEFAULT_SWEEP: &str = "max-layers=16,32,64,127";

/// Options of `rechunk compare`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    rechunk compare                                  # FCOS stable, every strategy, 64 layers\n  \
    rechunk compare --strategies cluster,rpm-ostree --sweep cluster.half_life_builds=4,8,16\n  \
    rechunk compare --history my-history.csv --client weekly --json\n\n\
    per-package (the oracle) and every peer as deployed (rpm-ostree, rpm-ostree+prior, \
    hhd-rechunk, chunkah) always run, so that the ratios to the oracle and to the best peer can \
    be reported.")]
pub struct Args {
    /// History to replay: fcos-stable, fcos-testing (shipped), a generic history CSV file, a
    /// directory of `rpm -qa --queryformat` dumps, or a series of built images:
    /// `images:REF1,REF2,...` (oci:DIR[:TAG], oci-archive:FILE[:TAG], manifest JSON), ordered by
    /// creation date, or an ostree ref's commit log, `ostree:REPO:REF` (needs the `ostree`
    /// build feature; formats: README "Bring your own history").
    #[arg(long, default_value = "fcos-stable", value_name = "NAME|FILE|DIR")]
    pub history: String,
    /// Strategies to compare, comma-separated (default: every registered strategy).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub strategies: Vec<String>,
    /// Layer budget of the main comparison.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_layers: usize,
    /// Sweep a layer budget or a strategy parameter: max-layers=16,32,64,127 or
    /// STRATEGY.PARAM=V1,V2 (repeatable). Default: max-layers=16,32,64,127.
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_sweep)]
    pub sweep: Vec<Sweep>,
    /// Run only the --max-layers budget, without the default budget sweep.
    #[arg(long, conflicts_with = "sweep")]
    pub no_sweep: bool,
    /// Clients to measure, comma-separated: every, weekly, monthly, fresh (default: all).
    #[arg(long, value_delimiter = ',', value_name = "CLIENT",
        value_parser = ["every", "weekly", "monthly", "fresh"])]
    pub client: Vec<String>,
    /// First version reported (strategies still plan every earlier version, unless --cold).
    #[arg(long, value_name = "ID")]
    pub from_version: Option<String>,
    /// Last version replayed and reported.
    #[arg(long, value_name = "ID")]
    pub to_version: Option<String>,
    /// Directory for updates.csv, attribution.csv, summary.md and the SVG plots.
    #[arg(long, default_value = "reports/out", value_name = "DIR")]
    pub output: PathBuf,
    /// Also write the loaded history (every version) to FILE in the generic history CSV format,
    /// e.g. to start your own from the shipped one.
    #[arg(long, value_name = "FILE")]
    pub export_history: Option<PathBuf>,
    /// Print one JSON object per strategy × client × layer budget on stdout instead of the table
    /// (fields as in the table, plus `best_peer_ratio`: mean / the best peer's mean, and
    /// `best_peer`: that peer's label).
    #[arg(long)]
    pub json: bool,
    /// Compression ratios for the compressed column: the ratio file `compare --build` writes
    /// (compression-ratios.csv). Default: the shipped one (datasets/data/compression-ratios.csv,
    /// zstd:3, measured on 5 FCOS stable versions built with every strategy).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fixed_ratio", "build"])]
    pub ratios: Option<PathBuf>,
    /// Compressed column = uncompressed × 0.516 for every strategy (the gzip ratio of one real
    /// FCOS image), instead of each strategy's measured ratio.
    #[arg(long, conflicts_with = "build")]
    pub fixed_ratio: bool,
    /// Build the images too: synthesize each version's tree (as `rechunk synth`), build it
    /// with every strategy as `rechunk build` does (each build given the strategy's previous
    /// image as --previous), and report the built images' downloads next to the simulator's
    /// (agreement.md, agreement-updates.csv), with the measured compression ratios as
    /// compression-ratios.csv, the file --ratios reads. Needs root and rpm. Default clients:
    /// every, weekly, monthly (their schedules over the built versions; fresh is measured as
    /// the whole images); no budget sweep unless --sweep max-layers=... is given.
    #[arg(long)]
    pub build: bool,
    /// The last N versions up to --to-version are reported (with --build: built; default 5).
    #[arg(long, value_name = "N", conflicts_with = "from_version")]
    pub last: Option<usize>,
    /// Start every strategy cold at the first reported version (--from-version or --last): it
    /// sees no earlier version, no plan and no change history, as a new image's first build
    /// does and as --build always does.
    #[arg(long, conflicts_with = "build")]
    pub cold: bool,
    /// Replay the history that `rechunk synth` trees of it realise (packages with changelogs
    /// instead of contentmeta's counts, the scan's non-package components, rpm database sizes
    /// as planned): what --build's simulator replays, without building anything.
    #[arg(long, conflicts_with = "build")]
    pub synthesized: bool,
    /// With --build: size of the synthesized trees (real, desktop or a factor N, as `rechunk
    /// synth --scale`).
    #[arg(long, default_value = "real", value_name = "real|desktop|N",
        value_parser = super::synth::parse_scale, requires = "build")]
    pub scale: Scale,
    /// With --build: where one tree and one image at a time are written (removed at the end)
    /// [default: OUTPUT/.build].
    #[arg(long, value_name = "DIR", requires = "build")]
    pub workdir: Option<PathBuf>,
    /// With --build: the package cache, kept between runs [default: OUTPUT/.rpm-cache].
    #[arg(long, value_name = "DIR", requires = "build")]
    pub cache: Option<PathBuf>,
    /// With --build: layer compression, as `rechunk build --compression`.
    #[arg(long, default_value = "gzip", value_parser = super::build::parse_compression,
        requires = "build")]
    pub compression: Compression,
    /// With --build: layers written in parallel [default: number of CPUs].
    #[arg(long, short = 'j', requires = "build")]
    pub jobs: Option<usize>,
}

/// Clients `compare --build` measures when --client is not given: every one that updates (a
/// fresh install's ratio is the whole images', measured whatever the clients).
const BUILD_CLIENTS: [Client; 3] = [Client::Every, Client::Weekly, Client::Monthly];

/// Versions `compare --build` builds when neither --last nor --from-version is given.
const DEFAULT_BUILD_VERSIONS: usize = 5;

pub fn run(args: Args) -> Result<()> {
    // Ctrl-C removes the reports staged so far (the previous ones stay) and exits.
    rechunk_oci::interrupt::install_exit_handlers();
    if args.max_layers == 0 {
        bail!("--max-layers must be at least 1");
    }
    let history =
        open_history(&args.history).with_context(|| format!("loading history {}", args.history))?;
    if let Some(path) = &args.export_history {
        export(&history, path)?;
    }
    if args.build {
        return run_build(&args, &history);
    }
    let history = match args.synthesized {
        true => {
            rechunk_datasets::synth::Chain::new(&history, Scale::Real)
                .with_context(|| format!("planning the synthesized chain of {}", history.name))?
                .history
        }
        false => history,
    };
    let (first, last) = match args.last {
        Some(_) => build_window(&history, &args)?,
        None => window(&history, &args)?,
    };
    // Cold: the strategies are shown only the reported versions.
    let (history, first, last) = match args.cold {
        true => (
            History {
                name: history.name.clone(),
                snapshots: history.snapshots[first..=last].to_vec(),
            },
            0,
            last - first,
        ),
        false => (history, first, last),
    };
    let clients = clients(&args.client)?;
    let sweeps = sweeps(&args)?;
    let names = strategy_names(&args.strategies);
    let contenders = contenders(&names, args.max_layers, &sweeps)?;
    let compression = compression_model(&args)?;

    let versions = (last + 1) as u64;
    let bar = ProgressBar::new(versions);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} versions ({eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(format!(
        "replaying {} × {} plans",
        history.name,
        contenders.len()
    ));
    let config = SimConfig {
        clients: clients.clone(),
        first,
        last,
        compression,
    };
    let sim = simulate(&history, &contenders, &config, &|| bar.inc(1))?;
    bar.finish_and_clear();

    // Every report is staged first and renamed into place together: a failure (a full disk, a
    // symlink planted at a report's name) leaves the previous reports as they were.
    let mut staged = rechunk_fsio::StagedSet::new();
    let mut written =
        rechunk_reports::stage_all(&sim, &clients, args.max_layers, &args.output, &mut staged)?;
    written.files.push(stage_attribution(
        &sim,
        &history,
        args.max_layers,
        &args.output,
        &mut staged,
    )?);
    rechunk_reports::commit(staged)?;
    // A closed pipe (`| head -1`) is not an error, as for every other command.
    if args.json {
        print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&written.rows)?
        ))
    } else {
        let files: Vec<String> = written
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        print_stdout(&format!(
            "{}\nwrote {}\n",
            written.summary,
            files.join(", ")
        ))
    }
}

/// `compare --build`: build the versions, measure, write agreement.md and
/// agreement-updates.csv, print the report (or the rows as JSON).
fn run_build(args: &Args, history: &History) -> Result<()> {
    let (first, last) = build_window(history, args)?;
    let clients = match args.client.is_empty() {
        true => BUILD_CLIENTS.to_vec(),
        false => clients(&args.client)?,
    };
    let names = strategy_names(&args.strategies);
    let contenders = contenders(&names, args.max_layers, &args.sweep)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    rechunk_datasets::synth::tree::check_root()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let workdir = args
        .workdir
        .clone()
        .unwrap_or_else(|| args.output.join(".build"));
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| args.output.join(".rpm-cache"));
    rechunk_oci::interrupt::install_handlers();
    let measured = super::compare_build::run(&super::compare_build::Request {
        history,
        first,
        last,
        scale: args.scale,
        contenders: &contenders,
        clients: &clients,
        workdir: &workdir,
        cache: &cache,
        compression: args.compression,
        jobs,
    })?;
    for m in &measured.mismatches {
        tracing::warn!("the realised history does not describe the built tree: {m}");
    }
    for d in &measured.plan_differences {
        tracing::warn!("a build planned otherwise than the simulator: {d}");
    }
    let ctx = rechunk_reports::agreement::Context {
        history: measured.history.name.clone(),
        versions: measured.sim.versions.clone(),
        scale: scale_name(args.scale),
        compression: args.compression.to_string(),
        same_plans: measured.same_plans,
        clients: clients.clone(),
    };
    let report =
        rechunk_reports::agreement::markdown(&ctx, &measured.rows, &measured.built, &measured.sim);
    let md = args.output.join("agreement.md");
    write_staged(&md, report.as_bytes())?;
    let mut csv = Vec::new();
    rechunk_reports::agreement::write_updates_csv(
        &measured.sim,
        &measured.built,
        &measured.file_level,
        &mut csv,
    )?;
    let updates = args.output.join("agreement-updates.csv");
    write_staged(&updates, &csv)?;
    let ratios = args.output.join(RATIO_FILE);
    write_staged(&ratios, &ratio_file(&ctx, &measured)?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&measured.rows)?);
    } else {
        print!("{report}");
        println!(
            "\nwrote {}, {}, {}",
            md.display(),
            updates.display(),
            ratios.display()
        );
    }
    Ok(())
}

/// Largest ratio file read.
const MAX_RATIO_FILE: u64 = 16 << 20;

/// How the compressed column is estimated: `--fixed-ratio`, `--ratios FILE` or the shipped
/// ratios.
fn compression_model(args: &Args) -> Result<CompressionModel> {
    if args.fixed_ratio {
        return Ok(CompressionModel::Fixed);
    }
    let table = match &args.ratios {
        Some(path) => {
            let bytes = rechunk_fsio::read_capped(
                path,
                rechunk_fsio::Links::Follow,
                MAX_RATIO_FILE,
                "a ratio file",
            )
            .with_context(|| format!("reading --ratios {}", path.display()))?;
            let text = String::from_utf8(bytes)
                .with_context(|| format!("--ratios {}: not UTF-8", path.display()))?;
            rechunk_reports::ratios::read(&text, &format!("`{}`", path.display()))?
        }
        None => rechunk_reports::ratios::read(
            rechunk_datasets::COMPRESSION_RATIOS,
            &format!("`{}`", rechunk_datasets::COMPRESSION_RATIOS_PATH),
        )?,
    };
    Ok(CompressionModel::Measured(table))
}

/// Name of the ratio file `--build` writes in --output.
const RATIO_FILE: &str = "compression-ratios.csv";

/// The ratio file of a `--build` run: its measured ratios, after comment lines saying what was
/// built, by which command, when and with which rechunk.
fn ratio_file(
    ctx: &rechunk_reports::agreement::Context,
    measured: &super::compare_build::Measured,
) -> Result<Vec<u8>> {
    let (first, last) = (
        ctx.versions.first().map_or("", String::as_str),
        ctx.versions.last().map_or("", String::as_str),
    );
    let source = format!("{} {first}..{last} (scale {})", ctx.history, ctx.scale);
    let rows = rechunk_sim::agreement::measured_ratios(
        &measured.rows,
        &measured.built,
        &ctx.compression,
        &source,
    );
    // The command as typed, named `rechunk` whatever path ran it.
    let command: Vec<String> = std::iter::once("rechunk".to_owned())
        .chain(std::env::args().skip(1))
        .collect();
    let comments = [
        "Compression ratios measured on built images by `rechunk compare --build`: blob bytes / \
         tar bytes of what each strategy's clients downloaded (client fresh: of every layer of \
         its images); read by `rechunk compare` (--ratios)."
            .to_owned(),
        format!("Run: {}", command.join(" ")),
        format!(
            "Written {} by rechunk {}; history {}, versions {first} .. {last} ({} versions, \
             synthesized at scale {}), compression {}.",
            rechunk_reports::date(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64)
            ),
            env!("CARGO_PKG_VERSION"),
            ctx.history,
            ctx.versions.len(),
            ctx.scale,
            ctx.compression
        ),
    ];
    let mut out = Vec::new();
    rechunk_reports::ratios::write(&rows, &comments, &mut out)?;
    Ok(out)
}

/// `real`, `desktop` or `xN`, for the report.
fn scale_name(scale: Scale) -> String {
    match scale {
        Scale::Real => "real".to_owned(),
        Scale::Desktop => "desktop".to_owned(),
        Scale::Factor(k) => format!("x{k}"),
    }
}

/// Writes `path` through a temporary file in the same directory, renamed into place.
fn write_staged(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// The versions `--build` builds (and `--last` reports): --from-version .. --to-version, or the
/// last --last (default 5) up to --to-version.
fn build_window(history: &History, args: &Args) -> Result<(usize, usize)> {
    let (first, last) = window(history, args)?;
    if args.from_version.is_some() {
        return Ok((first, last));
    }
    let n = args.last.unwrap_or(DEFAULT_BUILD_VERSIONS);
    if n < 2 {
        bail!("--last {n}: at least 2 versions are needed for one update");
    }
    Ok((last.saturating_sub(n - 1), last))
}

/// `attribution.csv` in `dir`: which component changes triggered each fetched layer.
fn stage_attribution(
    sim: &rechunk_sim::Simulation,
    history: &History,
    budget: usize,
    dir: &std::path::Path,
    staged: &mut rechunk_fsio::StagedSet,
) -> Result<PathBuf> {
    let path = dir.join("attribution.csv");
    let file = rechunk_reports::stage(staged, &path)?;
    rechunk_reports::attribution_csv::write(sim, history, budget, file)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A shipped history, a file or directory (see `rechunk_datasets::open_history`),
/// `images:REF,...` (one snapshot per built image) or `ostree:REPO:REF` (one per commit).
pub(crate) fn open_history(spec: &str) -> Result<History> {
    if rechunk_ostree::OstreeRef::is_ostree(spec) {
        return super::ostree_log::history(spec);
    }
    let Some(refs) = spec.strip_prefix("images:") else {
        return rechunk_datasets::open_history(spec);
    };
    let mut snapshots = Vec::new();
    for reference in refs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let image = rechunk_oci::ImageRef::parse(reference)
            .and_then(|r| rechunk_oci::open_image(&r))
            .and_then(|image| rechunk_oci::image_snapshot(&image))
            .with_context(|| format!("reading image {reference}"))?;
        snapshots.push(image);
    }
    if snapshots.is_empty() {
        bail!("images: names no image (expected images:REF1,REF2,...)");
    }
    // Stable: images with equal (or unknown) creation dates keep the order given.
    snapshots.sort_by_key(|s| s.date);
    let history = History {
        name: "images".to_string(),
        snapshots,
    };
    if let Err((v, c, e)) = history.check_sizes() {
        let s = &history.snapshots[v];
        bail!(
            "image {}, component {:?}: over all the images, {e}",
            s.id,
            s.components[c].name
        );
    }
    Ok(history)
}

/// `--export-history`: staged and renamed, never written through a symlink.
fn export(history: &History, path: &std::path::Path) -> Result<()> {
    let mut file = rechunk_fsio::StagedFile::create(path)
        .with_context(|| format!("writing {}", path.display()))?;
    rechunk_datasets::generic::write(history, &mut file)
        .with_context(|| format!("writing {}", path.display()))?;
    file.commit()
        .with_context(|| format!("writing {}", path.display()))
}

/// Indices of the first reported and the last replayed version.
fn window(history: &History, args: &Args) -> Result<(usize, usize)> {
    let snaps = &history.snapshots;
    if snaps.is_empty() {
        bail!("history {} has no versions", args.history);
    }
    let find = |id: &str, flag: &str| {
        snaps.iter().position(|s| s.id == id).with_context(|| {
            format!(
                "{flag} {id:?}: no such version in {} (versions {} .. {}, {} in all)",
                history.name,
                snaps[0].id,
                snaps[snaps.len() - 1].id,
                snaps.len()
            )
        })
    };
    let first = match &args.from_version {
        Some(id) => find(id, "--from-version")?,
        None => 0,
    };
    let last = match &args.to_version {
        Some(id) => find(id, "--to-version")?,
        None => snaps.len() - 1,
    };
    if first > last {
        bail!(
            "--from-version {} comes after --to-version {} in {}",
            snaps[first].id,
            snaps[last].id,
            history.name
        );
    }
    Ok((first, last))
}

fn clients(names: &[String]) -> Result<Vec<Client>> {
    if names.is_empty() {
        return Ok(Client::ALL.to_vec());
    }
    let mut clients = Vec::new();
    for name in names {
        let client = Client::parse(name.trim()).with_context(|| {
            format!("--client {name:?}: expected every, weekly, monthly or fresh")
        })?;
        if !clients.contains(&client) {
            clients.push(client);
        }
    }
    Ok(clients)
}

fn sweeps(args: &Args) -> Result<Vec<Sweep>> {
    Ok(if args.no_sweep {
        Vec::new()
    } else if args.sweep.is_empty() {
        vec![DEFAULT_SWEEP.parse()?]
    } else {
        args.sweep.clone()
    })
}

/// clap parser for `--sweep`: a malformed spec is a usage error (exit 2).
fn parse_sweep(spec: &str) -> Result<Sweep, String> {
    spec.parse()
        .map_err(|e: rechunk_sim::SweepError| e.to_string())
}

/// The requested strategies, plus the oracle and every peer, which the ratios need.
fn strategy_names(requested: &[String]) -> Vec<String> {
    let registered = rechunk_strategies::names();
    let mut names: Vec<String> = if requested.is_empty() {
        registered.iter().map(|s| s.to_string()).collect()
    } else {
        requested.iter().map(|s| s.trim().to_string()).collect()
    };
    let peers = rechunk_strategies::registry()
        .into_iter()
        .filter(|s| s.is_peer())
        .map(|s| s.name());
    for reference in [rechunk_reports::table::ORACLE].into_iter().chain(peers) {
        if registered.contains(&reference) && !names.iter().any(|n| n == reference) {
            names.push(reference.to_string());
        }
    }
    names
}
