//! The simulator against built images. `rechunk compare --build` builds every version of a
//! history with every contender (each build handed the previous one, as `--previous`), and
//! measures what each client downloads from the built images with `rechunk diff`'s rule; this
//! module puts those figures next to the simulator's for the same versions and contenders,
//! and adds the file-level bound (bytes of the files whose content the client lacks).
//!
//! The simulator's figures are uncompressed component bytes; the built images' layers are
//! measured three ways: tar bytes (what "uncompressed" means for a layer), the file bytes in
//! them (what the simulator counts: the difference to tar bytes is the tar framing, headers,
//! padding and parent directories) and blob bytes (compressed). The compressed figures are
//! measured, per contender: the ratio of blob to tar bytes of what its clients download
//! replaces the fixed FCOS image ratio ([`crate::COMPRESSION_RATIO`]), which the report also
//! shows applied, to say how far off it is. [`measured_ratios`] turns them into the rows of the
//! ratio file the lockfile replays use ([`crate::compression`]).
//!
//! Every client is measured on the same built images: `every` between consecutive versions,
//! `weekly` and `monthly` between the versions their schedules ([`Client::schedule`] over the
//! built versions) hold and fetch, which need not be consecutive: a skipped version's image is
//! never fetched, the held image is diffed against the fetched one of the same contender. A
//! client with no update among the built versions (one version built) gets no row, and one
//! that downloaded nothing no ratio ([`measured_ratios`]).

use rechunk_model::UpdateCost;
use serde::Serialize;

use crate::{Client, MeasuredRatio, Run, Simulation, COMPRESSION_RATIO};

/// One fetch measured on built images.
#[derive(Clone, Debug, Serialize)]
pub struct BuiltUpdate {
    pub client: Client,
    pub from: Option<String>,
    pub to: String,
    /// Blob bytes (what a registry serves).
    pub compressed: UpdateCost,
    /// The same layers' tar bytes.
    pub uncompressed: UpdateCost,
    /// The same layers' regular-file bytes.
    pub content: UpdateCost,
}

/// One contender's chain of built images.
#[derive(Clone, Debug, Serialize)]
pub struct BuiltRun {
    /// As [`Run::label`].
    pub label: String,
    pub max_layers: usize,
    pub updates: Vec<BuiltUpdate>,
    /// Σ blob bytes and Σ tar bytes of every layer of every version built.
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    /// Images built (one per version).
    pub versions: usize,
}

impl BuiltRun {
    /// Blob bytes per tar byte over all its images (1 when nothing was built).
    pub fn compression_ratio(&self) -> f64 {
        match self.uncompressed_bytes {
            0 => 1.0,
            u => self.compressed_bytes as f64 / u as f64,
        }
    }
}

/// The file-level bound of one fetch: the regular files of the new version whose content
/// (sha256) the held version does not have anywhere, as a file-level store (ostree, composefs,
/// zstd:chunked) would fetch them.
#[derive(Clone, Debug, Serialize)]
pub struct FileLevelUpdate {
    pub client: Client,
    pub from: Option<String>,
    pub to: String,
    pub bytes: u64,
    /// Each such file compressed on its own, with the layers' compression.
    pub compressed_bytes: u64,
}

/// One contender (or the file-level bound) × client: means over the client's updates.
#[derive(Clone, Debug, Serialize)]
pub struct AgreementRow {
    pub label: String,
    pub strategy: String,
    pub max_layers: usize,
    pub client: Client,
    pub oracle: bool,
    pub peer: bool,
    pub updates: usize,
    /// The simulator's mean download (uncompressed); `None` for the file-level bound.
    pub simulated_bytes: Option<f64>,
    /// Mean download from the built images, tar bytes.
    pub built_bytes: f64,
    /// (simulated − built) / built.
    pub deviation: Option<f64>,
    /// The largest |simulated − built| of one update, as a share of the mean built download.
    pub max_update_deviation: Option<f64>,
    /// Mean file bytes in the layers downloaded from the built images.
    pub built_content_bytes: Option<f64>,
    /// Mean download from the built images, blob bytes.
    pub built_compressed_bytes: f64,
    /// Blob bytes per tar byte of the downloads.
    pub download_ratio: f64,
    /// Blob bytes per tar byte of all the contender's images ([`BuiltRun::compression_ratio`]).
    pub image_ratio: Option<f64>,
    /// (simulated × [`crate::COMPRESSION_RATIO`] − built compressed) / built compressed: how
    /// far the lockfile replays' fixed compressed estimate is off.
    pub fixed_ratio_deviation: Option<f64>,
}

/// Why the figures could not be put side by side.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AgreementError {
    #[error("no simulated run for the built contender {label} at {max_layers} layers")]
    NoRun { label: String, max_layers: usize },
    #[error(
        "contender {label}: the simulator has no update {from:?} → {to} for client {client:?}"
    )]
    NoUpdate {
        label: String,
        client: Client,
        from: Option<String>,
        to: String,
    },
}

/// One row per built contender × client that updates among the built versions, then the
/// file-level bound per such client.
pub fn agreement_rows(
    sim: &Simulation,
    built: &[BuiltRun],
    file_level: &[FileLevelUpdate],
    clients: &[Client],
) -> Result<Vec<AgreementRow>, AgreementError> {
    let mut rows = Vec::new();
    for b in built {
        let run = sim
            .runs
            .iter()
            .find(|r| r.label == b.label && r.max_layers == b.max_layers)
            .ok_or_else(|| AgreementError::NoRun {
                label: b.label.clone(),
                max_layers: b.max_layers,
            })?;
        for &client in clients {
            if b.updates.iter().any(|u| u.client == client) {
                rows.push(row(run, b, client)?);
            }
        }
    }
    for &client in clients {
        let ups: Vec<&FileLevelUpdate> = file_level.iter().filter(|u| u.client == client).collect();
        if ups.is_empty() {
            continue;
        }
        let n = ups.len() as f64;
        rows.push(AgreementRow {
            label: FILE_LEVEL.to_owned(),
            strategy: FILE_LEVEL.to_owned(),
            max_layers: 0,
            client,
            oracle: true,
            peer: false,
            updates: ups.len(),
            simulated_bytes: None,
            built_bytes: ups.iter().map(|u| u.bytes as f64).sum::<f64>() / n,
            deviation: None,
            max_update_deviation: None,
            built_content_bytes: None,
            built_compressed_bytes: ups.iter().map(|u| u.compressed_bytes as f64).sum::<f64>() / n,
            download_ratio: ratio(
                ups.iter().map(|u| u.compressed_bytes).sum(),
                ups.iter().map(|u| u.bytes).sum(),
            ),
            image_ratio: None,
            fixed_ratio_deviation: None,
        });
    }
    Ok(rows)
}

/// Label of the file-level bound's rows.
pub const FILE_LEVEL: &str = "file-level";

fn row(run: &Run, b: &BuiltRun, client: Client) -> Result<AgreementRow, AgreementError> {
    let mut pairs = Vec::new();
    for u in b.updates.iter().filter(|u| u.client == client) {
        let s = run
            .updates
            .iter()
            .find(|s| s.client == client && s.from == u.from && s.to == u.to)
            .ok_or_else(|| AgreementError::NoUpdate {
                label: b.label.clone(),
                client,
                from: u.from.clone(),
                to: u.to.clone(),
            })?;
        pairs.push((s.cost.download_bytes as f64, u));
    }
    let n = pairs.len().max(1) as f64;
    let simulated = pairs.iter().map(|(s, _)| s).sum::<f64>() / n;
    let built = pairs
        .iter()
        .map(|(_, u)| u.uncompressed.download_bytes as f64)
        .sum::<f64>()
        / n;
    let mean =
        |f: &dyn Fn(&BuiltUpdate) -> u64| pairs.iter().map(|(_, u)| f(u) as f64).sum::<f64>() / n;
    let built_compressed = mean(&|u| u.compressed.download_bytes);
    let total = |f: &dyn Fn(&BuiltUpdate) -> u64| pairs.iter().map(|(_, u)| f(u)).sum::<u64>();
    let download_ratio = ratio(
        total(&|u| u.compressed.download_bytes),
        total(&|u| u.uncompressed.download_bytes),
    );
    let relative = |a: f64, base: f64| (base > 0.0).then(|| (a - base) / base);
    let max_update = pairs
        .iter()
        .map(|(s, u)| (s - u.uncompressed.download_bytes as f64).abs())
        .fold(0.0, f64::max);
    Ok(AgreementRow {
        label: b.label.clone(),
        strategy: run.strategy.clone(),
        max_layers: b.max_layers,
        client,
        oracle: run.oracle,
        peer: run.peer,
        updates: pairs.len(),
        simulated_bytes: Some(simulated),
        built_bytes: built,
        deviation: relative(simulated, built),
        max_update_deviation: (built > 0.0).then(|| max_update / built),
        built_content_bytes: Some(mean(&|u| u.content.download_bytes)),
        built_compressed_bytes: built_compressed,
        download_ratio,
        image_ratio: Some(b.compression_ratio()),
        fixed_ratio_deviation: relative(simulated * COMPRESSION_RATIO, built_compressed),
    })
}

/// The measured ratios of a `compare --build` run, as the ratio file holds them: per built
/// contender (not the file-level bound) and measured client (`every`, `weekly`, `monthly`:
/// whichever updated and downloaded anything among the built versions), blob / tar bytes of
/// its downloads (`download_ratio`, over the fetches its schedule names); and, unless `fresh`
/// was measured, a `fresh` row from the whole images (what a fresh install fetches:
/// [`BuiltRun::compression_ratio`]). A client without a row here gets its ratio from
/// [`crate::compression`]'s fallback. `compression` names the layers' compression; `source`
/// says what was built (history, versions, scale).
pub fn measured_ratios(
    rows: &[AgreementRow],
    built: &[BuiltRun],
    compression: &str,
    source: &str,
) -> Vec<MeasuredRatio> {
    let mut out = Vec::new();
    // Nothing downloaded measures nothing (its ratio would read 1).
    let measured =
        |r: &&AgreementRow| r.label != FILE_LEVEL && r.updates > 0 && r.built_bytes > 0.0;
    for r in rows.iter().filter(measured) {
        out.push(MeasuredRatio {
            strategy: r.label.clone(),
            max_layers: r.max_layers,
            client: r.client,
            compression: compression.to_owned(),
            ratio: r.download_ratio,
            updates: r.updates,
            source: format!("{source}: downloads"),
        });
    }
    for b in built {
        let has_fresh = rows.iter().any(|r| {
            r.label == b.label && r.max_layers == b.max_layers && r.client == Client::Fresh
        });
        if has_fresh || b.uncompressed_bytes == 0 {
            continue;
        }
        out.push(MeasuredRatio {
            strategy: b.label.clone(),
            max_layers: b.max_layers,
            client: Client::Fresh,
            compression: compression.to_owned(),
            ratio: b.compression_ratio(),
            updates: b.versions,
            source: format!("{source}: whole images"),
        });
    }
    out
}

/// `a / b`, 1 when `b` is 0.
fn ratio(a: u64, b: u64) -> f64 {
    match b {
        0 => 1.0,
        b => a as f64 / b as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Update;
    use rechunk_strategies::Params;

    fn cost(download: u64) -> UpdateCost {
        UpdateCost {
            download_bytes: download,
            ..UpdateCost::default()
        }
    }

    /// One peer strategy `x` at 8 layers over versions v0..v2, simulated as `updates`.
    fn simulation(updates: Vec<Update>) -> Simulation {
        Simulation {
            history: "h".into(),
            versions: vec!["v0".into(), "v1".into(), "v2".into()],
            runs: vec![Run {
                label: "x".into(),
                strategy: "x".into(),
                params: Params::new(),
                max_layers: 8,
                oracle: false,
                peer: true,
                updates,
                ratios: vec![],
            }],
            compression: Default::default(),
        }
    }

    fn sim_update(to: &str, bytes: u64) -> Update {
        Update {
            client: Client::Every,
            from: Some("v0".into()),
            to: to.into(),
            date: 0,
            cost: cost(bytes),
            compressed_download_bytes: 0,
            replanned_bytes: 0,
            layer_count: 1,
            attribution: None,
        }
    }

    fn built_update(to: &str, tar: u64, blob: u64) -> BuiltUpdate {
        BuiltUpdate {
            client: Client::Every,
            from: Some("v0".into()),
            to: to.into(),
            compressed: cost(blob),
            uncompressed: cost(tar),
            content: cost(tar - 10),
        }
    }

    #[test]
    fn rows_pair_each_built_update_with_the_simulated_one() {
        let sim = simulation(vec![sim_update("v1", 100), sim_update("v2", 300)]);
        let built = BuiltRun {
            label: "x".into(),
            max_layers: 8,
            updates: vec![built_update("v1", 110, 50), built_update("v2", 290, 150)],
            compressed_bytes: 500,
            uncompressed_bytes: 1000,
            versions: 3,
        };
        let files = [FileLevelUpdate {
            client: Client::Every,
            from: Some("v0".into()),
            to: "v1".into(),
            bytes: 40,
            compressed_bytes: 20,
        }];
        let rows =
            agreement_rows(&sim, std::slice::from_ref(&built), &files, &[Client::Every]).unwrap();
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!((r.simulated_bytes, r.built_bytes), (Some(200.0), 200.0));
        assert_eq!(r.deviation, Some(0.0));
        assert_eq!(r.max_update_deviation, Some(10.0 / 200.0));
        assert_eq!(r.built_compressed_bytes, 100.0);
        assert_eq!(r.built_content_bytes, Some(190.0));
        assert_eq!(r.download_ratio, 0.5);
        assert_eq!(r.image_ratio, Some(0.5));
        assert_eq!(rows[1].label, FILE_LEVEL);
        assert_eq!(rows[1].built_compressed_bytes, 20.0);
        // The ratio file's rows: the downloads' ratio per client, the whole images' for fresh
        // installs, nothing for the file-level bound.
        let ratios = measured_ratios(&rows, std::slice::from_ref(&built), "zstd:3", "h v0..v2");
        assert_eq!(ratios.len(), 2);
        assert_eq!(
            (ratios[0].client, ratios[0].ratio, ratios[0].updates),
            (Client::Every, 0.5, 2)
        );
        assert_eq!(
            (ratios[1].client, ratios[1].ratio, ratios[1].updates),
            (Client::Fresh, 0.5, 3)
        );
        assert!(ratios
            .iter()
            .all(|r| r.strategy == "x" && r.max_layers == 8));
        assert_eq!(ratios[1].source, "h v0..v2: whole images");
        // A built contender the simulator did not run is an error, not a silent gap.
        let mut other = built;
        other.max_layers = 9;
        assert!(agreement_rows(&sim, &[other], &[], &[Client::Every]).is_err());
    }

    #[test]
    fn a_monthly_fetch_that_skips_a_version_is_measured_and_a_client_without_fetches_is_not() {
        let at = |client, from: &str, to: &str, bytes| Update {
            client,
            from: Some(from.into()),
            ..sim_update(to, bytes)
        };
        let built_at = |client, from: &str, to: &str, tar, blob| BuiltUpdate {
            client,
            from: Some(from.into()),
            ..built_update(to, tar, blob)
        };
        let sim = simulation(vec![
            at(Client::Every, "v0", "v1", 100),
            at(Client::Every, "v1", "v2", 300),
            at(Client::Monthly, "v0", "v2", 350),
        ]);
        // v0 → v2 is its own diff of the two images, not the sum of the consecutive ones.
        let built = BuiltRun {
            label: "x".into(),
            max_layers: 8,
            updates: vec![
                built_at(Client::Every, "v0", "v1", 110, 50),
                built_at(Client::Every, "v1", "v2", 290, 150),
                built_at(Client::Monthly, "v0", "v2", 340, 204),
            ],
            compressed_bytes: 500,
            uncompressed_bytes: 1000,
            versions: 3,
        };
        let clients = [Client::Every, Client::Weekly, Client::Monthly];
        let rows = agreement_rows(&sim, std::slice::from_ref(&built), &[], &clients).unwrap();
        // No weekly fetch among the versions: no weekly row.
        let of: Vec<Client> = rows.iter().map(|r| r.client).collect();
        assert_eq!(of, [Client::Every, Client::Monthly]);
        let monthly = &rows[1];
        assert_eq!(monthly.updates, 1);
        assert_eq!(monthly.simulated_bytes, Some(350.0));
        assert_eq!(monthly.built_bytes, 340.0);
        assert_eq!(monthly.download_ratio, 0.6);
        let ratios = measured_ratios(&rows, std::slice::from_ref(&built), "zstd:3", "h");
        let by: Vec<(Client, f64, usize)> = ratios
            .iter()
            .map(|r| (r.client, r.ratio, r.updates))
            .collect();
        assert_eq!(
            by,
            [
                (Client::Every, 0.5, 2),
                (Client::Monthly, 0.6, 1),
                (Client::Fresh, 0.5, 3)
            ]
        );
        // A client that downloaded nothing has nothing measured (its ratio would read 1).
        let mut idle = rows.clone();
        idle[1].built_bytes = 0.0;
        idle[1].download_ratio = 1.0;
        let ratios = measured_ratios(&idle, std::slice::from_ref(&built), "zstd:3", "h");
        assert!(ratios.iter().all(|r| r.client != Client::Monthly));
    }
}
