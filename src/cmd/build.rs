//! `rechunk build` (also the default action): load a root filesystem or an existing image,
//! plan its layers with a strategy (keeping a previous image's plan stable when given), and
//! write a reproducible OCI image.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use rechunk_model::PLAN_RECORD_VERSION;
use rechunk_model::{ChangeHistory, Component, Plan, PlanInput, PlanRecord, Snapshot, Timestamp};
use rechunk_oci::{
    build_image, build_ostree_image, component_versions, default_tmpdir, interrupt, jobs,
    open_image, ostree_rules, previous_plan, BuildReport, BuildRequest, Compression, ImageRef,
    LateVersions, PreviousPlan, Progress,
};
use rechunk_rootfs::LoadedRoot;
use rechunk_strategies::{parse_param, Strategy};
use rechunk_tree::{ContentSource, WriteRules};
use serde_json::Value;

use super::common::{
    build_date, human_bytes, load_input_with, progress_bar, write_rules, Input, LoadArgs, LoadFor,
    Loaded,
};

/// Docker and most registries refuse images with more layers than this.
const DOCKER_LAYER_LIMIT: usize = 127;

/// Options of `rechunk build`. All optional at the clap level because they are also the
/// top-level options of the default action; the input and `--output` are checked in `run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Root filesystem to re-layer (this or --from is required).
    #[arg(long, value_name = "DIR", conflicts_with = "from")]
    pub rootfs: Option<PathBuf>,
    /// Existing image to re-layer, read without root or podman: oci:DIR[:TAG],
    /// oci-archive:FILE[:TAG] or docker-archive:FILE (what `podman save` writes). Its config
    /// (env, cmd, entrypoint, labels, architecture) is carried over unless --config is given.
    /// Or an ostree commit, ostree:REPO:REF (read in place; needs the `ostree` build feature).
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<String>,
    /// Where --from copies the files of compressed layers while building (one copy of what
    /// survives, removed at the end) [default: the directory the output is written in].
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,
    /// Where to write the image (required): oci:DIR[:TAG] or oci-archive:FILE[:TAG]. TAG
    /// defaults to `latest`; an existing OCI layout DIR gets the tag added.
    #[arg(long, short = 'o', value_name = "REF")]
    pub output: Option<String>,
    /// Layering strategy (see `rechunk strategies`).
    #[arg(long, default_value = "cluster")]
    pub strategy: String,
    /// Strategy parameter KEY=VALUE (repeatable; see `rechunk strategies`).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Most layers the image may have (warns above 127, the Docker limit).
    #[arg(long, default_value_t = 64)]
    pub max_layers: usize,
    /// Image layout: `oci` (the components' files in plain layers) or `ostree` (the chunked
    /// ostree-container layout bootc and rpm-ostree import: a commit layer first, then the
    /// same layers holding the files as ostree objects; file mtimes are 0).
    #[arg(long, value_enum, default_value_t = Format::Oci)]
    pub format: Format,
    /// Layer compression: gzip[:LEVEL] (0-9, default 6), zstd[:LEVEL] (1-22, default 3), none.
    #[arg(long, default_value = "gzip", value_parser = parse_compression)]
    pub compression: Compression,
    /// Layers written in parallel [default: number of CPUs; at most 4 per CPU and 256]. The
    /// output does not depend on it.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Config label KEY=VALUE (repeatable); applied after carried-over labels.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub labels: Vec<(String, String)>,
    /// Config to carry over (env, cmd, entrypoint, labels, architecture): an OCI image config
    /// JSON file, or an image (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE)
    /// whose config is used;
    /// replaces the --from image's config.
    #[arg(long, value_name = "FILE|IMAGE")]
    pub config: Option<String>,
    /// The image this one updates (oci:, oci-archive:, docker-archive: or a
    /// manifest/config/`skopeo inspect` JSON): its plan (ours, rpm-ostree's `ostree.components`, or hhd-dev/rechunk's label) is
    /// handed to the strategy to keep unchanged layers identical. Or an ostree ref,
    /// ostree:REPO:REF: its commit log's package versions become the change history (no plan).
    #[arg(long, value_name = "IMAGE")]
    pub previous: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// `--format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Oci,
    Ostree,
}

pub(crate) fn parse_compression(s: &str) -> Result<Compression, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let Some(output) = args.output.as_deref() else {
        bail!("--output oci:DIR[:TAG] or oci-archive:FILE[:TAG] is required");
    };
    let output = ImageRef::parse_output(output)?;
    let tmpdir = args
        .tmpdir
        .clone()
        .unwrap_or_else(|| default_tmpdir(&output));
    let input = Input::new(args.rootfs.as_deref(), args.from.as_deref(), tmpdir)?;
    let params = args.params.iter().cloned().collect();
    let jobs = capped_jobs(args.jobs)?;
    for (key, _) in &args.labels {
        if let Err(why) = rechunk_oci::check_user_label(key) {
            bail!("--label {key}: {why}");
        }
    }
    if args.max_layers == 0 {
        bail!("--max-layers must be at least 1");
    }
    if args.max_layers > DOCKER_LAYER_LIMIT {
        tracing::warn!(
            "--max-layers {} is above {DOCKER_LAYER_LIMIT}: Docker refuses such images \
             (podman accepts up to 500)",
            args.max_layers
        );
    }
    let strategy = rechunk_strategies::by_name(&args.strategy, &params)?;
    // What is written for each entry, which the component versions hash.
    let rules = match args.format {
        Format::Oci => write_rules(&args.load)?,
        Format::Ostree => ostree_rules(write_rules(&args.load)?),
    };
    let created = build_date()?;
    let base_config = args.config.as_deref().map(read_config).transpose()?;
    let previous = match args.previous.as_deref() {
        Some(p) => read_previous(p)?,
        None => None,
    };

    // Without a previous plan no strategy reads versions, so the OCI writer finishes the ones
    // that hash file contents from the bytes it streams (each file read once).
    let late = previous.is_none() && args.format == Format::Oci;
    let purpose = LoadFor {
        verify_digests: false,
        rules,
        late_content_versions: late,
    };
    let Loaded {
        root: loaded,
        content,
        image,
        commit,
    } = load_input_with(&input, &args.load, &purpose)?;
    let base_config = base_config.or_else(|| image.as_ref().map(|(config, _)| config.clone()));
    for w in &loaded.warnings {
        tracing::warn!("{}: {}", w.path.display(), w.message);
    }
    let (plan, record) = plan_for(
        &loaded.components,
        strategy.as_ref(),
        &args.strategy,
        args.max_layers,
        previous.as_ref(),
        created,
    )?;

    let bar =
        progress_bar("{msg:>8} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} ({eta})");
    let (layers_total, layers_done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let on_progress = |p: Progress| match p {
        Progress::Start { layers, bytes } => {
            bar.set_length(bytes);
            layers_total.store(layers, Ordering::Relaxed);
            bar.set_message(format!("0/{layers} layers"));
        }
        Progress::Content { bytes } => bar.inc(bytes),
        Progress::LayerDone { .. } => {
            let done = layers_done.fetch_add(1, Ordering::Relaxed) + 1;
            let total = layers_total.load(Ordering::Relaxed);
            bar.set_message(format!("{done}/{total} layers"));
        }
    };
    // Only now: until the first layer is staged there is nothing to clean up, and Ctrl-C during
    // a long scan should stop it at once rather than wait for the writer to notice.
    interrupt::install_handlers();
    let wanted = if late {
        rechunk_rootfs::content_wanted(&loaded.tree, &loaded.owner, &loaded.components)
    } else {
        Vec::new()
    };
    let finish = |digests| {
        let mut components = loaded.components.clone();
        rechunk_rootfs::finish_content_versions(
            &loaded.tree,
            content.as_ref(),
            rules,
            &loaded.owner,
            &mut components,
            digests,
        )
        .map_err(|e| rechunk_oci::Error::Versions(e.to_string()))?;
        let record = plan_record(
            &plan,
            &components,
            &args.strategy,
            args.max_layers,
            previous.as_ref(),
            created,
        );
        Ok((components, record))
    };
    let request = BuildRequest {
        tree: &loaded.tree,
        content: content.as_ref(),
        components: &loaded.components,
        owner: &loaded.owner,
        plan: &plan,
        record: &record,
        output: &output,
        compression: args.compression,
        jobs,
        created,
        rules,
        labels: &args.labels,
        base_config: base_config.as_ref(),
        progress: Some(&on_progress),
        late_versions: late.then_some(LateVersions {
            wanted: &wanted,
            finish: &finish,
        }),
    };
    let (report, ostree_commit) = match args.format {
        Format::Oci => (build_image(&request), None),
        Format::Ostree => match build_ostree_image(&request) {
            Ok(b) => (Ok(b.report), Some((b.commit, b.commit_layer))),
            Err(e) => (Err(e), None),
        },
    };
    let report = report.with_context(|| format!("writing {output}"))?;
    bar.finish_and_clear();

    let content: u64 = report.layers.iter().map(|l| l.content_bytes).sum();
    let largest = report.layers.iter().map(|l| l.size).max().unwrap_or(0);
    eprintln!("wrote {}", report.reference);
    eprintln!("  input       {}", input.describe());
    if let Some((_, staged)) = &image {
        eprintln!(
            "  staged      {} copied out of compressed layers{}, {} read in place from \
             uncompressed ones; compressed layers read twice {}, read once {}",
            human_bytes(staged.staged_bytes),
            staged.dir.as_ref().map_or(String::new(), |d| format!(
                " (into {}, removed)",
                d.display()
            )),
            human_bytes(staged.in_place_bytes),
            staged.layers_read_twice,
            staged.layers_read_once
        );
    }
    if let Some(c) = &commit {
        eprintln!(
            "  commit      {}{}",
            c.checksum,
            c.version
                .as_ref()
                .map_or(String::new(), |v| format!(" (version {v})"))
        );
    }
    eprintln!("  manifest    {}", report.manifest_digest);
    if let Some((commit, layer)) = &ostree_commit {
        eprintln!(
            "  ostree      commit {commit} in layer 1 ({}); plan layers follow{}",
            human_bytes(layer.size),
            if report.bootable {
                ""
            } else {
                "; the tree is not bootable (no /usr/lib/bootc, no kernel): bootc will refuse it"
            }
        );
    }
    eprintln!(
        "  layers      {} of at most {} ({} plan layers), strategy {}{}",
        report.layers.len() + usize::from(ostree_commit.is_some()),
        args.max_layers + usize::from(ostree_commit.is_some()),
        plan.len(),
        args.strategy,
        previous.as_ref().map_or(String::new(), |p| format!(
            ", previous plan from {:?}",
            p.format
        ))
    );
    eprintln!(
        "  size        {} compressed ({}), {} of files; largest layer {}",
        human_bytes(report.compressed_bytes),
        args.compression,
        human_bytes(content),
        human_bytes(largest)
    );
    eprintln!(
        "  components  {} from {} entries; {} warnings{}",
        loaded.components.len(),
        loaded.tree.entries.len(),
        loaded.warnings.len(),
        if report.bootable {
            "; bootable (containers.bootc=1)"
        } else {
            ""
        }
    );
    eprintln!(
        "  time        {:.1}s with {jobs} jobs",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Plans the components with the strategy (the previous plan and change history handed on)
/// and makes the plan record the image carries: one home for `rechunk build` and
/// `compare --build`, so the images it measures are the images users build.
pub(crate) fn plan_for(
    components: &[Component],
    strategy: &dyn Strategy,
    strategy_name: &str,
    max_layers: usize,
    previous: Option<&PreviousPlan>,
    created: Timestamp,
) -> anyhow::Result<(Plan, PlanRecord)> {
    let history = history_with(previous, components, created);
    let plan = strategy
        .plan_checked(&PlanInput {
            components,
            now: created,
            history: &history,
            // A commit log gives a change history but no plan to keep.
            previous: previous.map(|p| &p.plan).filter(|p| !p.layers.is_empty()),
            max_layers,
        })
        .with_context(|| format!("planning with strategy {strategy_name}"))?;
    if plan.len() > max_layers {
        tracing::warn!(
            "strategy {strategy_name} ignores the layer budget (an oracle): the plan has {} layers",
            plan.len()
        );
    }
    let record = record_with(&plan, components, strategy_name, max_layers, history);
    Ok((plan, record))
}

/// The plan record an image carries: the plan, the components' versions and the change
/// history (the previous record's, then this build's components observed).
fn plan_record(
    plan: &Plan,
    components: &[Component],
    strategy_name: &str,
    max_layers: usize,
    previous: Option<&PreviousPlan>,
    created: Timestamp,
) -> PlanRecord {
    let history = history_with(previous, components, created);
    record_with(plan, components, strategy_name, max_layers, history)
}

fn record_with(
    plan: &Plan,
    components: &[Component],
    strategy_name: &str,
    max_layers: usize,
    history: ChangeHistory,
) -> PlanRecord {
    PlanRecord {
        version: PLAN_RECORD_VERSION,
        strategy: strategy_name.to_owned(),
        max_layers,
        plan: plan.clone(),
        components: component_versions(components),
        // Bounded: the label travels with every image (see ChangeHistory::recent).
        history: history.recent(),
    }
}

/// One OCI build as `rechunk build` makes it, from a loaded tree (for `compare --build`).
pub(crate) struct Job<'a> {
    pub loaded: &'a LoadedRoot,
    pub content: &'a dyn ContentSource,
    pub strategy: &'a dyn Strategy,
    /// As recorded in the plan label.
    pub strategy_name: &'a str,
    pub max_layers: usize,
    /// What `--previous` read.
    pub previous: Option<&'a PreviousPlan>,
    /// The build date (`SOURCE_DATE_EPOCH` or now).
    pub created: Timestamp,
    pub output: &'a ImageRef,
    pub compression: Compression,
    pub jobs: usize,
    pub rules: WriteRules,
    pub labels: &'a [(String, String)],
    pub base_config: Option<&'a Value>,
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
}

/// Plans the tree ([`plan_for`]) and writes the OCI image.
pub(crate) fn plan_and_write(job: &Job) -> anyhow::Result<(Plan, BuildReport)> {
    let (plan, record) = plan_for(
        &job.loaded.components,
        job.strategy,
        job.strategy_name,
        job.max_layers,
        job.previous,
        job.created,
    )?;
    let report = build_image(&BuildRequest {
        tree: &job.loaded.tree,
        content: job.content,
        components: &job.loaded.components,
        owner: &job.loaded.owner,
        plan: &plan,
        record: &record,
        output: job.output,
        compression: job.compression,
        jobs: job.jobs,
        created: job.created,
        rules: job.rules,
        labels: job.labels,
        base_config: job.base_config,
        progress: job.progress,
        late_versions: None,
    })
    .with_context(|| format!("writing {}", job.output))?;
    Ok((plan, report))
}

/// `--jobs` (default: the CPUs), at most [`jobs::max_jobs`] with a warning.
fn capped_jobs(requested: Option<usize>) -> anyhow::Result<usize> {
    let max = jobs::max_jobs();
    match requested {
        None => Ok(jobs::cpus().min(max)),
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) if n > max => {
            tracing::warn!(
                "--jobs {n} is more than {max} ({} per CPU on {} CPUs, at most {}): using {max}",
                jobs::JOBS_PER_CPU,
                jobs::cpus(),
                jobs::MAX_JOBS
            );
            Ok(max)
        }
        Some(n) => Ok(n),
    }
}

/// The change history to plan with: the previous record's, or (for formats that only know
/// versions) one seeded with the previous image's versions; then this build observed.
fn history_with(
    previous: Option<&PreviousPlan>,
    components: &[Component],
    now: Timestamp,
) -> ChangeHistory {
    let mut history = previous.map(|p| p.history.clone()).unwrap_or_default();
    if let Some(p) = previous {
        if history.builds.is_empty() && !p.versions.is_empty() {
            let comps = p
                .versions
                .iter()
                .map(|(n, v)| {
                    rechunk_model::Component::new(
                        n.clone(),
                        rechunk_model::ComponentKind::Package,
                        v.clone(),
                        0,
                    )
                })
                .collect();
            history.observe(&Snapshot::new("previous", now - 1, comps));
        }
    }
    history.observe(&Snapshot::new("build", now, components.to_vec()));
    history
}

fn read_previous(s: &str) -> anyhow::Result<Option<PreviousPlan>> {
    if rechunk_ostree::OstreeRef::is_ostree(s) {
        return super::ostree_log::previous(s).map(Some);
    }
    let reference = ImageRef::parse(s)?;
    let image =
        open_image(&reference).with_context(|| format!("reading previous image {reference}"))?;
    let previous = previous_plan(&image)?;
    if previous.is_none() {
        tracing::warn!(
            "{reference} carries no plan (no rechunk label, ostree.components annotations or \
             dev.hhd.rechunk.info label): planning from scratch"
        );
    }
    Ok(previous)
}

/// `--config`: an image reference, or a JSON file holding an image config (or just its
/// `config` section).
fn read_config(s: &str) -> anyhow::Result<Value> {
    if ["oci:", "oci-archive:", "docker-archive:"]
        .iter()
        .any(|p| s.starts_with(p))
    {
        let reference = ImageRef::parse(s)?;
        let image = open_image(&reference).with_context(|| format!("reading {reference}"))?;
        return image
            .config
            .with_context(|| format!("{reference} has no image config"));
    }
    let bytes = rechunk_fsio::read_capped(
        std::path::Path::new(s),
        rechunk_fsio::Links::Follow,
        rechunk_oci::MAX_JSON_BLOB,
        "an image config",
    )
    .with_context(|| format!("reading {s}"))?;
    let v: Value = serde_json::from_slice(&bytes).with_context(|| format!("parsing {s}"))?;
    if !v.is_object() {
        bail!("{s}: an image config must be a JSON object");
    }
    let is_full = ["config", "architecture", "os", "rootfs"]
        .iter()
        .any(|k| v.get(k).is_some());
    Ok(if is_full {
        v
    } else {
        serde_json::json!({ "config": v })
    })
}
