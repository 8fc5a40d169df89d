//! `rechunk changelog`: release notes between two images (or two versions of a history): the
//! major components, every package change, and what the update costs to download, layer by
//! layer, with the changes that made each layer be fetched.
//!
//! This file only gathers the inputs: images through `rechunk_oci` (manifest, config, labels;
//! never a layer blob), histories through the simulator's replay; the model, the rules and the
//! rendering are `rechunk_changelog`'s.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use rechunk_changelog::{
    default_major, Changelog, Download, Inventory, Layout, LayoutLayer, MajorSpec, Record, Unit,
};
use rechunk_model::{Component, History};
use rechunk_oci::{image_diff, image_inventory, open_image, ImageInfo, ImageRef, InventoryFormat};
use rechunk_sim::{replay_images, Contender};
use rechunk_strategies::{by_name, parse_param, Params};

use super::common::{load_input, print_stdout, Input, LoadArgs};

/// Largest `--template` read.
const MAX_TEMPLATE: u64 = 16 << 20;

/// The image version label a release is usually known by.
const VERSION_LABEL: &str = "org.opencontainers.image.version";

/// Options of `rechunk changelog`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["old", "history"])))]
#[command(after_help = "Examples:\n  \
    rechunk changelog oci:out.oci:v1 oci:out.oci:v2 > RELEASE.md\n  \
    rechunk changelog prev.json oci:out.oci:latest --major Kernel=kernel --major Mesa=mesa-dri-drivers\n  \
    rechunk changelog OLD NEW --json | jq .download.totals\n  \
    rechunk changelog OLD NEW --template notes.tmpl --output notes.md\n  \
    rechunk changelog --history fcos-stable --from-version 40.20240906.3.0 --to-version 40.20240920.3.0\n\n\
    Images: oci:DIR[:TAG], oci-archive:FILE[:TAG], or a manifest / config / `skopeo inspect` JSON.\n\
    Template placeholders, JSON schema: README, \"Release notes\".")]
pub struct Args {
    /// The image a client holds.
    #[arg(value_name = "OLD", requires = "new", conflicts_with = "history")]
    pub old: Option<String>,
    /// The image it updates to.
    #[arg(value_name = "NEW")]
    pub new: Option<String>,
    /// A history instead of two images: anything `rechunk compare --history` accepts.
    #[arg(long, value_name = "NAME|FILE|DIR", requires_all = ["from_version", "to_version"])]
    pub history: Option<String>,
    /// The version of --history a client holds.
    #[arg(long, value_name = "ID", requires = "history")]
    pub from_version: Option<String>,
    /// The version of --history it updates to.
    #[arg(long, value_name = "ID", requires = "history")]
    pub to_version: Option<String>,
    /// With --history: the strategy whose planned layers give the download cost.
    #[arg(long, default_value = "cluster", requires = "history")]
    pub strategy: String,
    /// With --history: the layer budget of that plan.
    #[arg(long, default_value_t = 64, value_name = "N", requires = "history")]
    pub max_layers: usize,
    /// With --history: strategy parameter KEY=VALUE (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param, requires = "history")]
    pub params: Vec<(String, String)>,
    /// A major component: PACKAGE or LABEL=PACKAGE[,PACKAGE...] (first present wins).
    /// Repeatable; replaces the default set (kernel, firmware, systemd, Mesa, NVIDIA, GNOME,
    /// KDE Plasma, Gamescope, bootc, rpm-ostree, Podman).
    #[arg(long, value_name = "LABEL=PKG", value_parser = parse_major)]
    pub major: Vec<MajorSpec>,
    /// Leave out the major components block.
    #[arg(long, conflicts_with = "major")]
    pub no_major: bool,
    /// Print JSON (schema: README, "Release notes") instead of Markdown.
    #[arg(long, conflicts_with = "template")]
    pub json: bool,
    /// Fill this template's {{placeholders}} instead of printing Markdown.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Write to FILE (replaced atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read each image's rpm database from its layers, as `--from` reads an image, for exact
    /// package versions and sizes whatever its labels carry (rpm-ostree and podman-built
    /// images carry none). Images: oci:, oci-archive: or docker-archive:.
    #[arg(long, conflicts_with = "history")]
    pub read_layers: bool,
    /// With --read-layers: where compressed layers' files are staged while they are read
    /// (default: the system's temporary directory).
    #[arg(long, value_name = "DIR", requires = "read_layers")]
    pub tmpdir: Option<PathBuf>,
}

fn parse_major(spec: &str) -> Result<MajorSpec, String> {
    spec.parse()
}

pub fn run(args: Args) -> Result<()> {
    // Ctrl-C removes a staged --output file (the previous one stays) and exits.
    rechunk_oci::interrupt::install_exit_handlers();
    // Read the template first: a bad path should fail before any image is opened.
    let template =
        match &args.template {
            Some(path) => {
                let bytes = rechunk_fsio::read_capped(
                    path,
                    rechunk_fsio::Links::Follow,
                    MAX_TEMPLATE,
                    "a template",
                )
                .with_context(|| format!("reading template {}", path.display()))?;
                Some(String::from_utf8(bytes).with_context(|| {
                    format!("reading template {}: not UTF-8 text", path.display())
                })?)
            }
            None => None,
        };
    let major = if args.no_major {
        Vec::new()
    } else if args.major.is_empty() {
        default_major()
    } else {
        args.major.clone()
    };
    let changelog = match (&args.old, &args.new, &args.history) {
        (Some(old), Some(new), None) => {
            let layers = args
                .read_layers
                .then(|| args.tmpdir.clone().unwrap_or_else(std::env::temp_dir));
            from_images(old, new, &major, layers.as_deref())?
        }
        (None, None, Some(history)) => from_history(history, &args, &major)?,
        _ => bail!(
            "give two images (rechunk changelog OLD NEW) or a history (--history H \
             --from-version A --to-version B)"
        ),
    };
    let text = match (&template, args.json) {
        (Some(t), _) => rechunk_changelog::template(t, &changelog).with_context(|| {
            format!(
                "template {}",
                args.template.as_deref().unwrap_or(Path::new("")).display()
            )
        })?,
        (None, true) => rechunk_changelog::json(&changelog)?,
        (None, false) => rechunk_changelog::markdown(&changelog),
    };
    match &args.output {
        Some(path) => write_atomically(path, &text),
        None => print_stdout(&text),
    }
}

/// `read_layers`: the directory to stage layer contents in, when the package lists come from
/// each image's rpm database rather than its labels.
fn from_images(
    old: &str,
    new: &str,
    major: &[MajorSpec],
    read_layers: Option<&Path>,
) -> Result<Changelog> {
    let open = |s: &str| -> Result<(ImageRef, ImageInfo)> {
        let r = ImageRef::parse(s)?;
        let info = open_image(&r).with_context(|| format!("reading image {r}"))?;
        Ok((r, info))
    };
    let ((old_ref, old_image), (new_ref, new_image)) = (open(old)?, open(new)?);
    let (mut old_inv, old_layout) = image_side(&old_image)?;
    let (mut new_inv, new_layout) = image_side(&new_image)?;
    if let Some(tmpdir) = read_layers {
        old_inv = with_rpmdb(old_inv, &old_ref, tmpdir)?;
        new_inv = with_rpmdb(new_inv, &new_ref, tmpdir)?;
    }
    let mut changelog = Changelog::new(&old_inv, &new_inv, major);
    let download = Download::between(
        (&old_inv, &old_layout),
        (&new_inv, &new_layout),
        new_image.metadata_bytes,
        Unit::Compressed,
    );
    // `rechunk diff`'s figure, computed by its own code: the two must agree.
    let diff = image_diff(&old_image, &new_image);
    ensure!(
        diff == download.cost,
        "internal error: the changelog's download ({}) differs from rechunk diff's ({})",
        download.cost.download_bytes,
        diff.download_bytes
    );
    if !new_image.layers.is_empty() {
        changelog.download = Some(download);
    }
    Ok(changelog)
}

/// `inv` with its components as a scan of the image's merged layers finds them (packages from
/// its rpm database, with exact versions and sizes); names only the metadata knows (rpm-ostree's
/// `rpmostree-unpackaged-content`, ...) are kept as they were.
fn with_rpmdb(inv: Inventory, reference: &ImageRef, tmpdir: &Path) -> Result<Inventory> {
    let input = Input::Image {
        reference: reference.clone(),
        tmpdir: tmpdir.to_path_buf(),
    };
    let loaded = load_input(&input, &LoadArgs::default(), false)
        .with_context(|| format!("--read-layers: reading the layers of {reference}"))?;
    let source = "the rpm database in its layers";
    let mut read = Inventory::from_components(inv.id.clone(), &loaded.root.components, source);
    if loaded.root.packages.is_empty() {
        read.notes.push(format!(
            "{}: no rpm database in its layers: only unowned content is listed",
            inv.id
        ));
    }
    for (name, record) in inv.components {
        read.components.entry(name).or_insert(record);
    }
    Ok(read)
}

/// An image's components and layers as the changelog reads them.
fn image_side(image: &ImageInfo) -> Result<(Inventory, Layout)> {
    let found = image_inventory(image)
        .with_context(|| format!("reading the components of {}", image.source))?;
    let id = image
        .labels
        .get(VERSION_LABEL)
        .cloned()
        .unwrap_or_else(|| image.source.clone());
    let records = found.components.iter().map(|c| {
        let mut record = match (&c.version, found.format) {
            (Some(v), InventoryFormat::Record) => Record::from_component(&Component::new(
                c.name.clone(),
                c.kind,
                v.clone(),
                c.size.unwrap_or(0),
            )),
            (v, _) => Record::package(&c.name, v.as_deref(), None),
        };
        record.kind = c.kind;
        record.size = c.size;
        record
    });
    let mut inv = Inventory::from_records(id, records, found.format.describe());
    let id = inv.id.clone();
    match found.format {
        InventoryFormat::Hhd => inv.notes.push(format!(
            "{id} ({}) gives package versions as version-release, without epoch, arch or \
             sizes: layer bytes are not split among packages; its layers name meta groups \
             after their main package and do not list their other members",
            found.format.describe()
        )),
        InventoryFormat::None => inv.notes.push(format!(
            "{id} carries no component list (no dev.rechunk.plan or dev.hhd.rechunk.info label, \
             no ostree.components annotations): its package changes cannot be listed"
        )),
        InventoryFormat::Record | InventoryFormat::OstreeComponents => {}
    }
    if let Some(kernel) = &found.kernel {
        apply_kernel_label(&mut inv, kernel);
    }
    let layout = Layout {
        layers: image
            .layers
            .iter()
            .zip(found.layers)
            .map(|(l, members)| LayoutLayer {
                id: l.digest.clone(),
                bytes: l.size,
                members,
            })
            .collect(),
    };
    Ok((inv, layout))
}

/// rpm-ostree images name their kernel packages without versions; `ostree.linux` (`uname -r`:
/// `6.9.9-200.fc40.x86_64`) is the kernel packages' version-release.arch on Fedora.
fn apply_kernel_label(inv: &mut Inventory, kernel: &str) {
    let id = inv.id.clone();
    let mut used = false;
    for name in ["kernel", "kernel-core"] {
        if let Some(r) = inv
            .components
            .get_mut(name)
            .filter(|r| r.identity.is_none())
        {
            *r = Record {
                kind: r.kind,
                ..Record::package(name, Some(kernel), r.size)
            };
            used = true;
        }
    }
    if used {
        inv.notes.push(format!(
            "{id}: the kernel's version is its ostree.linux label ({kernel})"
        ));
    }
}

fn from_history(spec: &str, args: &Args, major: &[MajorSpec]) -> Result<Changelog> {
    if args.max_layers == 0 {
        bail!("--max-layers must be at least 1");
    }
    let history =
        super::compare::open_history(spec).with_context(|| format!("loading history {spec}"))?;
    let find = |id: &Option<String>, flag: &str| -> Result<usize> {
        let id = id.as_deref().unwrap_or_default();
        position(&history, id).with_context(|| format!("{flag} {id:?}"))
    };
    let from = find(&args.from_version, "--from-version")?;
    let to = find(&args.to_version, "--to-version")?;
    let params: Params = args.params.iter().cloned().collect();
    let contender = Contender {
        strategy: by_name(&args.strategy, &params)?,
        params,
        max_layers: args.max_layers,
    };
    let images = replay_images(&history, &contender, &[from, to])
        .with_context(|| format!("replaying {} with {}", history.name, contender.label()))?;
    let source = format!("history {}", history.name);
    let side = |t: usize, image: &rechunk_sim::Image| {
        let snapshot = &history.snapshots[t];
        let inv = Inventory::from_snapshot(snapshot, source.clone());
        let members = image.layer_members();
        let layout = Layout {
            layers: image
                .layers
                .iter()
                .zip(members)
                .map(|((key, bytes), members)| LayoutLayer {
                    id: key.0.clone(),
                    bytes: *bytes,
                    members: Some(
                        members
                            .iter()
                            .map(|&i| snapshot.components[i].name.clone())
                            .collect(),
                    ),
                })
                .collect(),
        };
        (inv, layout)
    };
    let (old_inv, old_layout) = side(from, &images[0]);
    let (new_inv, new_layout) = side(to, &images[1]);
    let cost = images[1].cost_from(Some(&images[0]));
    let download = Download::between(
        (&old_inv, &old_layout),
        (&new_inv, &new_layout),
        cost.metadata_bytes,
        Unit::Uncompressed,
    );
    ensure!(
        download.cost == cost,
        "internal error: the changelog's download differs from the simulator's"
    );
    let mut changelog = Changelog::new(&old_inv, &new_inv, major);
    changelog.notes.push(format!(
        "Download as planned by {} at {} layers, replayed from the first version of {} \
         (uncompressed bytes; manifest and config estimated)",
        contender.label(),
        args.max_layers,
        history.name
    ));
    changelog.download = Some(download);
    Ok(changelog)
}

fn position(history: &History, id: &str) -> Result<usize> {
    let snaps = &history.snapshots;
    snaps
        .iter()
        .position(|s| s.id == id)
        .with_context(|| match (snaps.first(), snaps.last()) {
            (Some(first), Some(last)) => format!(
                "no such version in {} (versions {} .. {}, {} in all)",
                history.name,
                first.id,
                last.id,
                snaps.len()
            ),
            _ => format!("history {} has no versions", history.name),
        })
}

/// Writes `text` next to `path` and renames it into place, so a reader never sees half a file,
/// a failure leaves the old one, and a symlink or device node at `path` is refused.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    rechunk_fsio::write_atomically(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
