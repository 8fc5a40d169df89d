//! `rechunk compare --build`: the simulator against built images. For K consecutive versions
//! of a history it synthesizes each version's tree (`rechunk synth`), builds it with every
//! contender exactly as `rechunk build` does (each build handed the contender's previous
//! image, as `--previous`, its plan read back from that image), measures what each client
//! downloads with `rechunk diff`'s rule, and replays the realised history of the same versions
//! through the simulator. Both start cold at the first version: no plan, no history but the
//! packages' changelogs.
//!
//! One version at a time: its tree is written, loaded once, built by every contender, each
//! image read back and removed, then the tree is removed; only the package cache stays.

mod files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use rechunk_datasets::synth::{self, Chain, NoProgress, RpmCache, Scale};
use rechunk_model::{History, Plan, Timestamp};
use rechunk_oci::{image_diff, open_image, previous_plan, Compression, ImageInfo, ImageRef};
use rechunk_rootfs::{load, LoadOptions};
use rechunk_sim::agreement::{agreement_rows, BuiltRun, BuiltUpdate, FileLevelUpdate};
use rechunk_sim::{replay_plans, simulate, Client, Contender, SimConfig, Simulation};
use rechunk_tree::{DirSource, WriteRules};

use super::build::{plan_and_write, Job};
use super::common::progress_bar;
use files::{FileSizes, VersionFiles};

/// What `compare --build` needs besides the comparison's own options.
pub struct Request<'a> {
    pub history: &'a History,
    /// Indices of the first and last version built.
    pub first: usize,
    pub last: usize,
    pub scale: Scale,
    pub contenders: &'a [Contender],
    pub clients: &'a [Client],
    /// Trees and images go here, one at a time; removed at the end.
    pub workdir: &'a Path,
    pub cache: &'a Path,
    pub compression: Compression,
    pub jobs: usize,
}

/// Everything measured.
pub struct Measured {
    /// The realised history of the built versions, as replayed.
    pub history: History,
    pub sim: Simulation,
    pub built: Vec<BuiltRun>,
    pub file_level: Vec<FileLevelUpdate>,
    pub rows: Vec<rechunk_sim::agreement::AgreementRow>,
    /// Components of a built tree that the realised history does not describe exactly (name,
    /// kind and size), per version: should be empty.
    pub mismatches: Vec<String>,
    /// Builds whose plan is the simulator's plan of the same version, and all builds.
    pub same_plans: (usize, usize),
    /// How the other builds' plans differ from the simulator's.
    pub plan_differences: Vec<String>,
}

/// One contender's chain of built images.
struct Chained {
    previous: Option<rechunk_oci::PreviousPlan>,
    /// Per version: the plan built.
    plans: Vec<Plan>,
    /// Per version: the image's manifest view with blob sizes, tar sizes and file bytes.
    images: Vec<Views>,
}

/// One built image as `rechunk diff` sees it, with each layer's size as blob bytes, as tar
/// bytes and as file bytes.
struct Views {
    compressed: ImageInfo,
    uncompressed: ImageInfo,
    content: ImageInfo,
}

/// Builds and measures; removes the work directory whatever happens (not the package cache).
pub fn run(req: &Request) -> Result<Measured> {
    std::fs::create_dir_all(req.workdir)
        .with_context(|| format!("creating {}", req.workdir.display()))?;
    let guard = Cleanup(req.workdir.to_path_buf());
    let result = measure(req);
    drop(guard);
    result
}

/// Removes the work directory on the way out.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn measure(req: &Request) -> Result<Measured> {
    if req.history.snapshots.is_empty() {
        bail!("history {} has no versions", req.history.name);
    }
    let mut chain = Chain::new(req.history, req.scale)
        .with_context(|| format!("planning the chain of history {}", req.history.name))?;
    let cache = RpmCache::open(req.cache)?;
    let mut chained: Vec<Chained> = req
        .contenders
        .iter()
        .map(|_| Chained {
            previous: None,
            plans: Vec::new(),
            images: Vec::new(),
        })
        .collect();
    let mut file_sizes = FileSizes::default();
    let mut version_files: Vec<VersionFiles> = Vec::new();
    let mut mismatches = Vec::new();
    let steps = (req.last - req.first + 1) * (req.contenders.len() + 1);
    let bar = progress_bar("{prefix} [{bar:30}] {pos}/{len} steps ({elapsed}) {msg}");
    bar.set_length(steps as u64);
    bar.set_prefix("compare --build");
    for i in req.first..=req.last {
        let id = chain.versions[i].id.clone();
        let date = chain.versions[i].date;
        bar.set_message(format!("{id}: synthesizing"));
        let tree = req.workdir.join("tree");
        let written = synth::write_version(&chain, i, &cache, &tree, &NoProgress)?;
        chain.record_written(i, &written.unowned)?;
        bar.inc(1);
        let rules = rules_for(date);
        let opts = LoadOptions {
            rules,
            ..LoadOptions::default()
        };
        let loaded = load(&tree, &opts).with_context(|| format!("scanning {}", tree.display()))?;
        let content = DirSource::open(&loaded.tree.root)
            .with_context(|| format!("opening {}", tree.display()))?;
        mismatches.extend(
            compare_components(&chain.history.snapshots[i].components, &loaded.components)
                .into_iter()
                .map(|m| format!("{id}: {m}")),
        );
        count_files_as_scanned(
            &mut chain.history.snapshots[i].components,
            &loaded.components,
        );
        version_files.push(file_sizes.add_version(&loaded, &content, req.compression)?);
        for (c, state) in req.contenders.iter().zip(chained.iter_mut()) {
            bar.set_message(format!("{id}: {}, {} layers", c.label(), c.max_layers));
            let (plan, image) = build_one(req, c, state, &loaded, &content, date, &id, &bar)?;
            state.plans.push(plan);
            state.images.push(image);
            bar.inc(1);
        }
        drop(content);
        drop(loaded);
        std::fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
    }
    bar.finish_and_clear();

    let history = History {
        name: chain.history.name.clone(),
        snapshots: chain.history.snapshots[req.first..=req.last].to_vec(),
    };
    let config = SimConfig {
        clients: req.clients.to_vec(),
        first: 0,
        last: history.snapshots.len() - 1,
        // The agreement report sets the built images' ratios against the fixed estimate.
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(&history, req.contenders, &config, &|| {})?;
    let replayed = replay_plans(&history, req.contenders)?;
    let mut same_plans = (0, 0);
    let mut plan_differences = Vec::new();
    for ((c, state), plans) in req.contenders.iter().zip(&chained).zip(&replayed) {
        for ((built, simulated), s) in state.plans.iter().zip(plans).zip(&history.snapshots) {
            same_plans.1 += 1;
            match plan_difference(built, simulated) {
                None => same_plans.0 += 1,
                Some(d) => plan_differences.push(format!(
                    "{} at {} layers, {}: {d}",
                    c.label(),
                    c.max_layers,
                    s.id
                )),
            }
        }
    }
    let dates: Vec<Timestamp> = history.snapshots.iter().map(|s| s.date).collect();
    let ids: Vec<&str> = history.snapshots.iter().map(|s| s.id.as_str()).collect();
    let built: Vec<BuiltRun> = req
        .contenders
        .iter()
        .zip(&chained)
        .map(|(c, state)| built_run(c, state, req.clients, &dates, &ids))
        .collect();
    let mut file_level = Vec::new();
    for &client in req.clients {
        for step in client.schedule(&dates, 0, dates.len() - 1) {
            let held = step.from.map(|f| &version_files[f]);
            let (bytes, compressed_bytes) = file_sizes.fetched(held, &version_files[step.to]);
            file_level.push(FileLevelUpdate {
                client,
                from: step.from.map(|f| ids[f].to_owned()),
                to: ids[step.to].to_owned(),
                bytes,
                compressed_bytes,
            });
        }
    }
    let rows = agreement_rows(&sim, &built, &file_level, req.clients)?;
    Ok(Measured {
        history,
        sim,
        built,
        file_level,
        rows,
        mismatches,
        same_plans,
        plan_differences,
    })
}

/// The first difference between a built plan and the simulator's (non-empty layers only:
/// empty ones are not written), if any.
fn plan_difference(built: &Plan, simulated: &Plan) -> Option<String> {
    let layers = |p: &Plan| -> Vec<Vec<String>> {
        p.layers
            .iter()
            .filter(|l| !l.components.is_empty())
            .map(|l| l.components.clone())
            .collect()
    };
    let (a, b) = (layers(built), layers(simulated));
    if a == b {
        return None;
    }
    if a.len() != b.len() {
        return Some(format!("{} layers built, {} simulated", a.len(), b.len()));
    }
    let (i, (x, y)) = a.iter().zip(&b).enumerate().find(|(_, (x, y))| x != y)?;
    let only = |p: &[String], q: &[String]| -> Vec<String> {
        p.iter()
            .filter(|n| !q.contains(n))
            .take(5)
            .cloned()
            .collect()
    };
    Some(format!(
        "layer {i}: only built {:?}, only simulated {:?}",
        only(x, y),
        only(y, x)
    ))
}

/// What the scan versions and the writer writes for a version built on `date`: `rechunk build`'s
/// defaults (`--selinux strip`) with `SOURCE_DATE_EPOCH` = the date.
fn rules_for(date: Timestamp) -> WriteRules {
    WriteRules {
        clamp_mtime: Some(date),
        ..WriteRules::default()
    }
}

/// Builds one version with one contender into its own OCI layout, reads back what a client
/// and the next `--previous` see, and removes the layout.
#[allow(clippy::too_many_arguments)]
fn build_one(
    req: &Request,
    c: &Contender,
    state: &mut Chained,
    loaded: &rechunk_rootfs::LoadedRoot,
    content: &DirSource,
    date: Timestamp,
    id: &str,
    bar: &ProgressBar,
) -> Result<(Plan, Views)> {
    let dir = req.workdir.join("image");
    let output = ImageRef::Dir {
        path: dir.clone(),
        tag: Some(id.to_owned()),
    };
    let name = c.strategy.name();
    let (plan, report) = plan_and_write(&Job {
        loaded,
        content,
        strategy: c.strategy.as_ref(),
        strategy_name: name,
        max_layers: c.max_layers,
        previous: state.previous.as_ref(),
        created: date,
        output: &output,
        compression: req.compression,
        jobs: req.jobs,
        rules: rules_for(date),
        labels: &[],
        base_config: None,
        progress: None,
    })
    .with_context(|| {
        format!(
            "building {id} with {} at {} layers",
            c.label(),
            c.max_layers
        )
    })?;
    let info = open_image(&report.reference)
        .with_context(|| format!("reading back {}", report.reference))?;
    // Exactly what `--previous` reads from the image.
    state.previous = previous_plan(&info)
        .with_context(|| format!("reading the plan of {}", report.reference))?;
    let sizes: BTreeMap<&str, (u64, u64)> = report
        .layers
        .iter()
        .map(|l| (l.digest.as_str(), (l.tar_size, l.content_bytes)))
        .collect();
    let view = |pick: fn((u64, u64)) -> u64| -> Result<ImageInfo> {
        let mut v = info.clone();
        for l in &mut v.layers {
            let s = sizes
                .get(l.digest.as_str())
                .with_context(|| format!("layer {} of {id} was not written", l.digest))?;
            l.size = pick(*s);
        }
        Ok(v)
    };
    let views = Views {
        uncompressed: view(|(tar, _)| tar)?,
        content: view(|(_, content)| content)?,
        compressed: info,
    };
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    bar.tick();
    Ok((plan, views))
}

/// Every client's fetches from a contender's built images, by `rechunk diff`'s rule.
fn built_run(
    c: &Contender,
    state: &Chained,
    clients: &[Client],
    dates: &[Timestamp],
    ids: &[&str],
) -> BuiltRun {
    let mut updates = Vec::new();
    for &client in clients {
        for step in client.schedule(dates, 0, dates.len() - 1) {
            let new = &state.images[step.to];
            let held = step.from.map(|f| &state.images[f]);
            let empty = ImageInfo::default();
            let diff =
                |pick: fn(&Views) -> &ImageInfo| image_diff(held.map_or(&empty, pick), pick(new));
            updates.push(BuiltUpdate {
                client,
                from: step.from.map(|f| ids[f].to_owned()),
                to: ids[step.to].to_owned(),
                compressed: diff(|v| &v.compressed),
                uncompressed: diff(|v| &v.uncompressed),
                content: diff(|v| &v.content),
            });
        }
    }
    let sum = |f: &dyn Fn(&Views) -> u64| state.images.iter().map(f).sum();
    BuiltRun {
        label: c.label(),
        max_layers: c.max_layers,
        updates,
        compressed_bytes: sum(&|v| v.compressed.layer_bytes()),
        uncompressed_bytes: sum(&|v| v.uncompressed.layer_bytes()),
        versions: state.images.len(),
    }
}

/// Gives the realised history's components the file and directory counts the scan of the built
/// tree found,
/// as a history read from scanned images has them: the simulator sizes a layer's tar framing
/// by them ([`rechunk_model::Component::layer_bytes`]). The chain itself does not count the
/// files that the scan moves out of a package (`%ghost` files, the rpm database).
fn count_files_as_scanned(
    realised: &mut [rechunk_model::Component],
    scanned: &[rechunk_model::Component],
) {
    let counts: BTreeMap<&str, (u64, u64)> = scanned
        .iter()
        .map(|c| (c.name.as_str(), (c.files, c.dirs)))
        .collect();
    for c in realised {
        if let Some(&(files, dirs)) = counts.get(c.name.as_str()) {
            (c.files, c.dirs) = (files, dirs);
        }
    }
}

/// Differences between the realised history's components and a built tree's, in everything a
/// strategy plans with: name, kind, size, source, build time, changelog, requires (the
/// realised history plans the rpm database's size only before it is written).
fn compare_components(
    realised: &[rechunk_model::Component],
    scanned: &[rechunk_model::Component],
) -> Vec<String> {
    let view = |c: &rechunk_model::Component| {
        let mut requires = c.requires.clone();
        requires.sort();
        format!(
            "kind {:?}, size {}, source {:?}, built {:?}, changelog {:?}, requires {:?}",
            c.kind, c.size, c.source, c.build_time, c.changelog_times, requires
        )
    };
    let index = |cs: &[rechunk_model::Component]| -> BTreeMap<String, String> {
        cs.iter().map(|c| (c.name.clone(), view(c))).collect()
    };
    let (a, b) = (index(realised), index(scanned));
    let mut out = Vec::new();
    for (name, want) in &a {
        match b.get(name) {
            None => out.push(format!("{name}: in the history, not in the tree")),
            Some(got) if got != want => {
                out.push(format!("{name}: history says {want}; the tree {got}"))
            }
            Some(_) => {}
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        out.push(format!("{name}: in the tree, not in the history"));
    }
    out
}
