//! The update-bandwidth simulator: replays a [`History`] through strategies and measures what
//! each kind of client downloads.
//!
//! Rules of the replay:
//! - versions are planned in order; at version t a strategy sees the change history of versions
//!   ≤ t only ([`ChangeHistory::observe`] is called just before planning t) and its own plan for
//!   t−1 (`PlanInput::previous`): no peeking at the future;
//! - every plan is checked with [`Plan::validate`] (oracles against an unlimited budget) and a
//!   bad plan stops the replay with an error naming strategy and version;
//! - a layer's identity is [`rechunk_model::layer_key`] of what it holds and the cost of a fetch
//!   is [`rechunk_model::update_cost`]: the same definitions the image writer and `rechunk diff`
//!   use, so simulated and built images agree;
//! - when only part of the history is reported (`first > 0`), strategies still plan every
//!   version from the start, so their plans and learned history are what they would have been;
//! - every strategy is handed its own plan for t−1 from the second version on; whether it uses
//!   it is the strategy's previous-plan policy (the peers' `prior` and `chain_from` parameters,
//!   set to what their users run), not the simulator's.
//!
//! Oracle rows: `per-package` (one layer per component, unlimited layers) is the packaging
//! bound. A file-level bound needs file digests, which the lockfile and `rpm -qa` histories do
//! not have; at component granularity "bytes of the components that changed" is exactly the
//! `per-package` figure, so it is the bound reported for them. Built images have them:
//! [`agreement`] reports the file-level bound next to the simulator's and the built images'
//! figures.

pub mod agreement;
mod attribution;
mod client;
pub mod compression;
mod image;
mod stats;
mod sweep;

pub use attribution::{
    attribute_update, replay_images, AttributedComponent, AttributedLayer, UpdateAttribution,
};
pub use client::{Client, Step};
pub use compression::{
    AppliedRatio, CompressionModel, MeasuredRatio, RatioBasis, RatioTable, Shares,
};
pub use image::{replanned_bytes, Image, COMPRESSION_RATIO, METADATA_BYTES_PER_LAYER};
pub use stats::{summarize, Summary};
pub use sweep::{contenders, Sweep, SweepError};

use rayon::prelude::*;
use rechunk_model::{ChangeHistory, History, Plan, PlanError, PlanInput, Timestamp, UpdateCost};
use rechunk_strategies::{Params, Strategy, StrategyError};
use serde::Serialize;

/// One strategy at one layer budget with one parameter setting.
pub struct Contender {
    pub strategy: Box<dyn Strategy>,
    /// Parameter overrides applied (empty = defaults), for the report.
    pub params: Params,
    pub max_layers: usize,
}

/// What to replay and whom to measure.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub clients: Vec<Client>,
    /// Index of the first reported version.
    pub first: usize,
    /// Index of the last version replayed and reported.
    pub last: usize,
    /// How compressed bytes are estimated ([`compression`]).
    pub compression: CompressionModel,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("strategy {strategy}: planning version {version}: {source}")]
    Strategy {
        strategy: String,
        version: String,
        source: Box<StrategyError>,
    },
    #[error("strategy {strategy}: invalid plan for version {version}: {source}")]
    InvalidPlan {
        strategy: String,
        version: String,
        source: PlanError,
    },
    #[error("history {history:?}: versions {first}..={last} are not within its {len} versions")]
    Window {
        history: String,
        first: usize,
        last: usize,
        len: usize,
    },
}

/// One fetch by one client under one contender's plans.
#[derive(Clone, Debug, Serialize)]
pub struct Update {
    pub client: Client,
    /// Version held before the fetch (`None` for a fresh install).
    pub from: Option<String>,
    pub to: String,
    pub date: Timestamp,
    pub cost: UpdateCost,
    /// `cost.download_bytes` compressed by the run's ratio for this client
    /// ([`Run::ratio`], [`AppliedRatio::compressed`]).
    pub compressed_download_bytes: u64,
    /// [`replanned_bytes`] from the held version (0 for a fresh install).
    pub replanned_bytes: u64,
    /// Non-empty layers of the fetched version.
    pub layer_count: usize,
    /// Which component changes made each fetched layer be fetched (`None` for a fresh install,
    /// where every layer is new).
    pub attribution: Option<UpdateAttribution>,
}

/// Everything measured for one contender.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// Strategy name, then `key=value` overrides: `cluster half_life_builds=8`.
    pub label: String,
    pub strategy: String,
    pub params: Params,
    pub max_layers: usize,
    pub oracle: bool,
    /// A port of a deployed tool of the field (see `Strategy::is_peer`).
    pub peer: bool,
    pub updates: Vec<Update>,
    /// The compression ratio of each measured client's compressed figures.
    pub ratios: Vec<ClientRatio>,
}

/// The ratio one client's compressed figures use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientRatio {
    pub client: Client,
    #[serde(flatten)]
    pub ratio: AppliedRatio,
}

impl Run {
    /// The ratio `client`'s compressed figures use (the fixed one for a client not measured).
    pub fn ratio(&self, client: Client) -> AppliedRatio {
        self.ratios.iter().find(|r| r.client == client).map_or_else(
            || AppliedRatio::fixed(RatioBasis::Fixed),
            |r| r.ratio.clone(),
        )
    }
}

/// The result of one replay.
#[derive(Clone, Debug, Serialize)]
pub struct Simulation {
    pub history: String,
    /// Ids of the reported versions.
    pub versions: Vec<String>,
    pub runs: Vec<Run>,
    /// How the compressed figures were estimated ([`SimConfig::compression`]).
    #[serde(skip)]
    pub compression: CompressionModel,
}

/// A contender's state during the replay.
struct Replayer<'a> {
    contender: &'a Contender,
    label: String,
    previous: Option<Plan>,
    /// Images of the reported versions (index − first).
    images: Vec<Image>,
    /// Plans of the reported versions, when asked for ([`replay_plans`]).
    plans: Option<Vec<Plan>>,
}

impl Contender {
    pub fn label(&self) -> String {
        let mut label = self.strategy.name().to_string();
        for (k, v) in &self.params {
            label.push_str(&format!(" {k}={v}"));
        }
        label
    }
}

/// Replays `history` through every contender and measures every client of `config`.
/// `progress` is called once per version planned (by all contenders).
pub fn simulate(
    history: &History,
    contenders: &[Contender],
    config: &SimConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<Simulation, SimError> {
    let snaps = &history.snapshots;
    if config.first > config.last || config.last >= snaps.len() {
        return Err(SimError::Window {
            history: history.name.clone(),
            first: config.first,
            last: config.last,
            len: snaps.len(),
        });
    }
    let mut replayers: Vec<Replayer> = contenders
        .iter()
        .map(|contender| Replayer {
            contender,
            label: contender.label(),
            previous: None,
            images: Vec::new(),
            plans: None,
        })
        .collect();
    let mut changes = ChangeHistory::default();
    for (t, snapshot) in snaps.iter().enumerate().take(config.last + 1) {
        changes.observe(snapshot);
        let keep = t >= config.first;
        replayers
            .par_iter_mut()
            .try_for_each(|r| r.step(snapshot, &changes, keep))?;
        progress();
    }
    let dates: Vec<Timestamp> = snaps.iter().map(|s| s.date).collect();
    let runs = replayers
        .into_iter()
        .map(|r| r.measure(history, &dates, config))
        .collect();
    Ok(Simulation {
        history: history.name.clone(),
        versions: snaps[config.first..=config.last]
            .iter()
            .map(|s| s.id.clone())
            .collect(),
        runs,
        compression: config.compression.clone(),
    })
}

/// Every contender's plan of every version of `history`, as [`simulate`] makes them: what a
/// build of the same versions must plan too.
pub fn replay_plans(
    history: &History,
    contenders: &[Contender],
) -> Result<Vec<Vec<Plan>>, SimError> {
    let mut replayers: Vec<Replayer> = contenders
        .iter()
        .map(|contender| Replayer {
            contender,
            label: contender.label(),
            previous: None,
            images: Vec::new(),
            plans: Some(Vec::new()),
        })
        .collect();
    let mut changes = ChangeHistory::default();
    for snapshot in &history.snapshots {
        changes.observe(snapshot);
        replayers
            .par_iter_mut()
            .try_for_each(|r| r.step(snapshot, &changes, true))?;
    }
    Ok(replayers
        .into_iter()
        .map(|r| r.plans.unwrap_or_default())
        .collect())
}

impl Replayer<'_> {
    fn step(
        &mut self,
        snapshot: &rechunk_model::Snapshot,
        changes: &ChangeHistory,
        keep: bool,
    ) -> Result<(), SimError> {
        let c = self.contender;
        let input = PlanInput {
            components: &snapshot.components,
            now: snapshot.date,
            history: changes,
            previous: self.previous.as_ref(),
            max_layers: c.max_layers,
        };
        let plan = c.strategy.plan_checked(&input).map_err(|e| match e {
            StrategyError::InvalidPlan { source, .. } => SimError::InvalidPlan {
                strategy: self.label.clone(),
                version: snapshot.id.clone(),
                source,
            },
            e => SimError::Strategy {
                strategy: self.label.clone(),
                version: snapshot.id.clone(),
                source: Box::new(e),
            },
        })?;
        if keep {
            self.images.push(Image::new(snapshot, &plan));
            if let Some(plans) = &mut self.plans {
                plans.push(plan.clone());
            }
        }
        self.previous = Some(plan);
        Ok(())
    }

    fn measure(self, history: &History, dates: &[Timestamp], config: &SimConfig) -> Run {
        let snaps = &history.snapshots;
        let first = config.first;
        let c = self.contender;
        let mut updates = Vec::new();
        let mut ratios = Vec::new();
        // Σ download / Σ image bytes of a client's updates: how much of the image it fetches
        // (clients without measured ratios are scaled by it, `compression`).
        let share = |client: Client| {
            let (mut down, mut total) = (0u64, 0u64);
            for step in client.schedule(dates, first, config.last) {
                let held = step.from.map(|f| &self.images[f - first]);
                let cost = self.images[step.to - first].cost_from(held);
                down += cost.download_bytes;
                total += cost.image_bytes;
            }
            (total > 0).then(|| down as f64 / total as f64)
        };
        let every_share = share(Client::Every);
        for &client in &config.clients {
            let shares = match (client, every_share) {
                (Client::Every, _) | (_, None) => None,
                (_, Some(every)) => share(client).map(|client| Shares { client, every }),
            };
            let ratio = config.compression.ratio(
                &self.label,
                c.strategy.name(),
                c.max_layers,
                client,
                shares,
            );
            for step in client.schedule(dates, first, config.last) {
                let image = &self.images[step.to - first];
                let held = step.from.map(|f| &self.images[f - first]);
                let cost = image.cost_from(held);
                let replanned = step.from.map_or(0, |f| {
                    replanned_bytes(
                        (&snaps[f], &self.images[f - first]),
                        (&snaps[step.to], image),
                    )
                });
                updates.push(Update {
                    client,
                    from: step.from.map(|f| snaps[f].id.clone()),
                    to: snaps[step.to].id.clone(),
                    date: snaps[step.to].date,
                    cost,
                    compressed_download_bytes: ratio.compressed(cost.download_bytes),
                    replanned_bytes: replanned,
                    layer_count: image.layers.len(),
                    attribution: step.from.map(|f| {
                        attribute_update(
                            (&snaps[f], &self.images[f - first]),
                            (&snaps[step.to], image),
                        )
                    }),
                });
            }
            ratios.push(ClientRatio { client, ratio });
        }
        Run {
            label: self.label,
            strategy: c.strategy.name().to_string(),
            params: c.params.clone(),
            max_layers: c.max_layers,
            oracle: c.strategy.is_oracle(),
            peer: c.strategy.is_peer(),
            updates,
            ratios,
        }
    }
}
