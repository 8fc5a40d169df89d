//! `rechunk plan`: the plan a strategy makes for a root filesystem, an image or an rpm-ostree
//! contentmeta file (layers, their components and sizes), without writing an image.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rechunk_model::{ChangeHistory, Component, Plan, PlanInput, Snapshot, Timestamp};
use rechunk_strategies::{by_name, parse_param, Params};
use serde::Serialize;

use super::common::{build_date, human_bytes, load_input, print_stdout, Input, LoadArgs};

/// Options of `rechunk plan`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["rootfs", "from", "contentmeta"])))]
#[command(after_help = "Examples:\n  \
    rechunk plan --rootfs /rootfs --strategy cluster --max-layers 64\n  \
    rechunk plan --from oci-archive:built.tar --json\n  \
    rechunk plan --contentmeta contentmeta.json.gz --strategy rpm-ostree --json\n  \
    rechunk plan --contentmeta contentmeta.json --strategy chunkah --param size_threshold=2")]
pub struct Args {
    /// Root filesystem to plan (its rpm database gives the packages).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Image to plan: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE; or an
    /// ostree commit, ostree:REPO:REF (needs the `ostree` build feature).
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<String>,
    /// Where --from copies the files of compressed layers while it runs [default: the system's
    /// temporary directory].
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,
    /// rpm-ostree contentmeta JSON (`--write-contentmeta-json`, optionally gzip) instead of a
    /// root filesystem.
    #[arg(long, value_name = "FILE")]
    pub contentmeta: Option<PathBuf>,
    /// Layering strategy (see `rechunk strategies`).
    #[arg(long, default_value = "cluster")]
    pub strategy: String,
    /// Most layers the plan may have.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_layers: usize,
    /// Strategy parameter KEY=VALUE (repeatable; see `rechunk strategies`).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Print JSON: {"layers": [{"components": [...], "size": N}, ...], ...}.
    #[arg(long)]
    pub json: bool,
    /// How --rootfs or --from is loaded.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// The JSON form of a plan.
#[derive(Serialize)]
struct PlanJson<'a> {
    strategy: &'a str,
    params: &'a Params,
    max_layers: usize,
    /// Total bytes of the components.
    size: u64,
    layers: Vec<LayerJson<'a>>,
}

#[derive(Serialize)]
struct LayerJson<'a> {
    components: &'a [String],
    size: u64,
}

pub fn run(args: Args) -> Result<()> {
    if args.max_layers == 0 {
        bail!("--max-layers must be at least 1");
    }
    let params: Params = args.params.iter().cloned().collect();
    let strategy = by_name(&args.strategy, &params)?;
    let (components, now) = match &args.contentmeta {
        Some(file) => from_contentmeta(file)?,
        None => {
            let tmpdir = args.tmpdir.clone().unwrap_or_else(std::env::temp_dir);
            let input = Input::new(args.rootfs.as_deref(), args.from.as_deref(), tmpdir)?;
            from_input(&input, &args)?
        }
    };
    let mut history = ChangeHistory::default();
    history.observe(&Snapshot::new("plan", now, components.clone()));
    let input = PlanInput {
        components: &components,
        now,
        history: &history,
        previous: None,
        max_layers: args.max_layers,
    };
    let plan = strategy
        .plan_checked(&input)
        .with_context(|| format!("planning with strategy {}", args.strategy))?;
    let sizes = layer_sizes(&plan, &components);
    if args.json {
        let json = PlanJson {
            strategy: &args.strategy,
            params: &params,
            max_layers: args.max_layers,
            size: components.iter().map(|c| c.size).sum(),
            layers: plan
                .layers
                .iter()
                .zip(&sizes)
                .map(|(l, &size)| LayerJson {
                    components: &l.components,
                    size,
                })
                .collect(),
        };
        print_stdout(&(serde_json::to_string_pretty(&json)? + "\n"))
    } else {
        print_stdout(&render(&args, &plan, &sizes, &components))
    }
}

/// Components of a contentmeta file; "now" is its newest build (what rpm-ostree counts from).
fn from_contentmeta(file: &Path) -> Result<(Vec<Component>, Timestamp)> {
    let components = rechunk_datasets::contentmeta::load(file)?;
    let now = components
        .iter()
        .filter_map(|c| c.build_time)
        .max()
        .unwrap_or(0);
    Ok((components, now))
}

/// Components of a root filesystem or an image; "now" is SOURCE_DATE_EPOCH or the current
/// time.
fn from_input(input: &Input, args: &Args) -> Result<(Vec<Component>, Timestamp)> {
    let loaded = load_input(input, &args.load, false)?.root;
    for w in &loaded.warnings {
        tracing::warn!("{}: {}", w.path.display(), w.message);
    }
    Ok((loaded.components, build_date()?))
}

/// Bytes per layer of `plan`.
fn layer_sizes(plan: &Plan, components: &[Component]) -> Vec<u64> {
    plan.layers
        .iter()
        .map(|l| {
            l.components
                .iter()
                .filter_map(|n| {
                    components
                        .binary_search_by(|c| c.name.as_str().cmp(n))
                        .ok()
                        .map(|i| components[i].size)
                })
                .sum()
        })
        .collect()
}

fn render(args: &Args, plan: &Plan, sizes: &[u64], components: &[Component]) -> String {
    use std::fmt::Write;
    let total: u64 = components.iter().map(|c| c.size).sum();
    let empty = plan
        .layers
        .iter()
        .filter(|l| l.components.is_empty())
        .count();
    let mut out = format!(
        "strategy {}: {} layers ({empty} empty), budget {}, {} components, {}\n",
        args.strategy,
        plan.len(),
        args.max_layers,
        components.len(),
        human_bytes(total)
    );
    out.push_str("layer        size     n  components\n");
    for (i, (layer, &size)) in plan.layers.iter().zip(sizes).enumerate() {
        let names = if layer.components.is_empty() {
            "(empty)".to_string()
        } else {
            layer.components.join(", ")
        };
        let _ = writeln!(
            out,
            "{i:>5}  {:>10}  {:>4}  {names}",
            human_bytes(size),
            layer.components.len()
        );
    }
    out
}
