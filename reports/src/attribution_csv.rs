//! `attribution.csv`: for every update, every fetched layer and every component in it, what its
//! bytes count as (`rechunk_model::attribute`, the rule `rechunk changelog` uses on real
//! images) and whether its change triggered the fetch. Written for the contenders at the main
//! layer budget with default parameters (budget and parameter sweeps would multiply the rows
//! without answering another question) and for clients that hold a version (a fresh install
//! fetches everything).
//!
//! Which packages cost the most bytes over a period: for each row with `triggered = true`, the
//! component is charged `layer_bytes / layer_triggers`; sum per component.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use rechunk_model::{History, Snapshot};
use rechunk_sim::Simulation;
use rechunk_sim::{AttributedLayer, Run, Update};
use serde::Serialize;

#[derive(Serialize)]
struct Row<'a> {
    history: &'a str,
    strategy: &'a str,
    max_layers: usize,
    client: &'a str,
    from: &'a str,
    to: &'a str,
    date: String,
    /// Index of the fetched layer among the new version's non-empty layers, from 0.
    layer: u32,
    layer_bytes: u64,
    /// changed, regrouped, rebuilt, unknown.
    cause: &'a str,
    /// Components that triggered this layer (added, changed, or removed from its old layer).
    layer_triggers: usize,
    component: &'a str,
    /// added, changed, shared, regrouped, rebuilt, unknown; removed for a removed trigger.
    role: &'a str,
    /// The component's share of `layer_bytes` (0 for a removed trigger).
    bytes: u64,
    triggered: bool,
}

/// Writes the attribution of `sim`'s updates at layer budget `budget` (see the module doc);
/// `history` is the replayed history, to name the components.
pub fn write(sim: &Simulation, history: &History, budget: usize, out: impl Write) -> Result<()> {
    let snapshots: HashMap<&str, &Snapshot> = history
        .snapshots
        .iter()
        .map(|s| (s.id.as_str(), s))
        .collect();
    let snapshot = |id: &str| {
        snapshots
            .get(id)
            .copied()
            .with_context(|| format!("version {id} is not in history {}", history.name))
    };
    let mut csv = csv::Writer::from_writer(out);
    let runs = sim
        .runs
        .iter()
        .filter(|r| r.max_layers == budget && r.params.is_empty());
    for run in runs {
        for u in &run.updates {
            let (Some(from), Some(a)) = (&u.from, &u.attribution) else {
                continue;
            };
            let (old, new) = (snapshot(from)?, snapshot(&u.to)?);
            for layer in &a.layers {
                let at = Place {
                    sim,
                    run,
                    update: u,
                    from,
                    layer,
                };
                for m in &layer.members {
                    let name = &new.components[m.component as usize].name;
                    csv.serialize(at.row(name, m.role.name(), m.bytes, m.triggered()))?;
                }
                for &r in &layer.removed {
                    let name = &old.components[r as usize].name;
                    csv.serialize(at.row(name, "removed", 0, true))?;
                }
            }
        }
    }
    csv.flush()?;
    Ok(())
}

/// The update and layer a row is about.
struct Place<'a> {
    sim: &'a Simulation,
    run: &'a Run,
    update: &'a Update,
    from: &'a str,
    layer: &'a AttributedLayer,
}

impl<'a> Place<'a> {
    fn row(&self, component: &'a str, role: &'a str, bytes: u64, triggered: bool) -> Row<'a> {
        let layer = self.layer;
        Row {
            history: &self.sim.history,
            strategy: &self.run.strategy,
            max_layers: self.run.max_layers,
            client: self.update.client.name(),
            from: self.from,
            to: &self.update.to,
            date: crate::date(self.update.date),
            layer: layer.layer,
            layer_bytes: layer.bytes,
            cause: layer.cause.name(),
            layer_triggers: layer.members.iter().filter(|m| m.triggered()).count()
                + layer.removed.len(),
            component,
            role,
            bytes,
            triggered,
        }
    }
}
