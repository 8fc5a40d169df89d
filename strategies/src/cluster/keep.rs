//! `cluster` with a previous plan: keep clean layers byte for byte, re-optimise the content
//! that is downloaded anyway, and pay for re-balancing only when it pays back (see the module
//! doc of `cluster`).

use std::collections::{BTreeMap, BTreeSet};

use rechunk_model::{Component, Layer, Plan, PlanInput};

use super::merge;
use super::model::{self, Model, Unit};
use super::{to_layers, Cluster};

/// One layer of the previous plan, as it stands for this build.
struct Kept<'a> {
    members: Vec<&'a Component>,
    dirty: bool,
}

pub fn replan(
    cluster: &Cluster,
    input: &PlanInput,
    model: &Model,
    start: usize,
    previous: &Plan,
) -> Plan {
    let mut kept = classify(input, previous);
    let placed: BTreeSet<&str> = kept
        .iter()
        .flat_map(|k| k.members.iter().map(|c| c.name.as_str()))
        .collect();
    let new: Vec<&Component> = input
        .components
        .iter()
        .filter(|c| !placed.contains(c.name.as_str()))
        .collect();
    open_slots(&mut kept, !new.is_empty(), input.max_layers);
    let ctx = Context {
        cluster,
        input,
        model,
        start,
    };
    let pool = ctx.pool(&kept, &new, None);
    let pool = rebalance(&ctx, &mut kept, &new, pool);
    assemble(&kept, to_layers(&pool.units, model, pool.groups))
}

/// What every step of replanning reads.
struct Context<'c, 'a> {
    cluster: &'c Cluster,
    input: &'c PlanInput<'a>,
    model: &'c Model,
    start: usize,
}

/// The re-planned part of the image: its units and their grouping into the free slots.
struct Pool<'a> {
    units: Vec<Unit<'a>>,
    groups: Vec<Vec<usize>>,
    /// Expected download per build of the whole plan (clean layers included).
    cost: f64,
}

impl<'a> Context<'_, 'a> {
    /// Optimises the pool of `kept` (dirty layers and `new`) into the slots the clean layers
    /// leave. With `warm` (a grouping of a smaller pool, by component name), starts from it
    /// and refines, instead of merging from scratch.
    fn pool(&self, kept: &[Kept<'a>], new: &[&'a Component], warm: Option<&Pool>) -> Pool<'a> {
        let components = pool_of(kept, new);
        let units = model::units(&components, self.input, self.model, self.start);
        let slots = self
            .input
            .max_layers
            .saturating_sub(clean_count(kept))
            .max(1);
        let groups = match warm {
            None => self.cluster.optimise(&units, self.model, slots),
            Some(w) => {
                let start = warm_start(&units, w, slots);
                merge::refine(&units, self.model, start, self.cluster.refine_passes)
            }
        };
        let cost = clean_cost(self, kept) + merge::total_cost(&units, self.model, &groups);
        Pool {
            units,
            groups,
            cost,
        }
    }
}

/// Expected download per build of the clean layers as they are.
fn clean_cost(ctx: &Context, kept: &[Kept]) -> f64 {
    kept.iter()
        .filter(|k| is_clean(k))
        .map(|k| {
            let units = model::units(&k.members, ctx.input, ctx.model, ctx.start);
            let all: Vec<usize> = (0..units.len()).collect();
            merge::total_cost(&units, ctx.model, &[all])
        })
        .sum()
}

/// `units` grouped as in `warm` where their members were pooled before; units new to the pool
/// share one extra group per freed slot (the layers they came from were dissolved whole).
fn warm_start(units: &[Unit], warm: &Pool, slots: usize) -> Vec<Vec<usize>> {
    let mut group_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (g, members) in warm.groups.iter().enumerate() {
        for &u in members {
            for &name in &warm.units[u].members {
                group_of.insert(name, g);
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); warm.groups.len()];
    let mut fresh: Vec<usize> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        match unit.members.iter().find_map(|m| group_of.get(m)) {
            Some(&g) => groups[g].push(u),
            None => fresh.push(u),
        }
    }
    let extra = slots.saturating_sub(groups.len()).max(1);
    let per = fresh.len().div_ceil(extra).max(1);
    groups.extend(fresh.chunks(per).map(<[usize]>::to_vec));
    groups.retain(|g| !g.is_empty());
    groups
}

/// The previous layers over the current components: dirty when a member changed in this build
/// or was removed. A component named twice counts in its first layer only.
fn classify<'a>(input: &PlanInput<'a>, previous: &Plan) -> Vec<Kept<'a>> {
    let by_name: BTreeMap<&str, &Component> = input
        .components
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let newest = input
        .history
        .is_informative()
        .then(|| input.history.builds.last().copied())
        .flatten();
    let changed_now =
        |name: &str| newest.is_some() && input.history.changes_of(name).last() == newest.as_ref();
    let mut seen = BTreeSet::new();
    previous
        .layers
        .iter()
        .map(|layer| {
            let mut members = Vec::new();
            let mut dirty = false;
            for name in &layer.components {
                match by_name.get(name.as_str()) {
                    Some(c) if seen.insert(name.as_str()) => {
                        dirty |= changed_now(name);
                        members.push(*c);
                    }
                    Some(_) => dirty = true,
                    None => dirty = true,
                }
            }
            Kept { members, dirty }
        })
        .collect()
}

fn is_clean(k: &Kept) -> bool {
    !k.dirty && !k.members.is_empty()
}

fn clean_count(kept: &[Kept]) -> usize {
    kept.iter().filter(|k| is_clean(k)).count()
}

fn size_of(k: &Kept) -> u64 {
    k.members.iter().map(|c| c.size).sum()
}

/// Opens the smallest clean layers until the clean ones fit the budget and, when anything
/// needs placing, leave at least one slot for the pool.
fn open_slots(kept: &mut [Kept], has_new: bool, max_layers: usize) {
    loop {
        let clean = clean_count(kept);
        let pooled = has_new || kept.iter().any(|k| k.dirty && !k.members.is_empty());
        let needed = if pooled {
            max_layers.saturating_sub(1)
        } else {
            max_layers
        };
        if clean <= needed {
            return;
        }
        let smallest = (0..kept.len())
            .filter(|&i| is_clean(&kept[i]))
            .min_by_key(|&i| (size_of(&kept[i]), i));
        match smallest {
            Some(i) => kept[i].dirty = true,
            None => return,
        }
    }
}

/// Components re-planned this build: members of dirty layers and new components.
fn pool_of<'a>(kept: &[Kept<'a>], new: &[&'a Component]) -> Vec<&'a Component> {
    let mut pool: Vec<&Component> = kept
        .iter()
        .filter(|k| k.dirty)
        .flat_map(|k| k.members.iter().copied())
        .chain(new.iter().copied())
        .collect();
    pool.sort_by(|a, b| a.name.cmp(&b.name));
    pool
}

/// Paid re-balancing: dissolve the cheapest clean layers into the pool when the expected saving
/// over `horizon_builds` exceeds the bytes re-sent, within `churn_budget` of the image. Each
/// try starts from `pool`'s grouping and refines it, so a try costs a refinement, not a full
/// re-optimisation. Returns the pool to plan with.
fn rebalance<'a>(
    ctx: &Context<'_, 'a>,
    kept: &mut [Kept<'a>],
    new: &[&'a Component],
    pool: Pool<'a>,
) -> Pool<'a> {
    let cluster = ctx.cluster;
    if cluster.horizon_builds <= 0.0 || cluster.churn_budget <= 0.0 {
        return pool;
    }
    let image: u64 = ctx.input.components.iter().map(|c| c.size).sum();
    let allowance = (cluster.churn_budget * image as f64) as u64;
    let mut candidates: Vec<usize> = (0..kept.len())
        .filter(|&i| is_clean(&kept[i]) && size_of(&kept[i]) <= allowance)
        .collect();
    candidates.sort_by_key(|&i| (size_of(&kept[i]), i));
    candidates.truncate(MAX_REBALANCE_TRIES);
    let slots = ctx.input.max_layers.saturating_sub(clean_count(kept));
    // With a slot per pooled component already, more slots cannot lower the cost.
    if candidates.is_empty() || slots >= pool_of(kept, new).len() {
        return pool;
    }
    let mut best: Option<(usize, f64, Pool)> = None;
    let mut spent = 0u64;
    for (n, &i) in candidates.iter().enumerate() {
        spent += size_of(&kept[i]);
        if spent > allowance {
            break;
        }
        kept[i].dirty = true;
        let tried = ctx.pool(kept, new, Some(&pool));
        let net = cluster.horizon_builds * (pool.cost - tried.cost) - spent as f64;
        if net > 0.0 && best.as_ref().is_none_or(|(_, b, _)| net > *b) {
            best = Some((n + 1, net, tried));
        }
    }
    let take = best.as_ref().map_or(0, |(n, _, _)| *n);
    for (n, &i) in candidates.iter().enumerate() {
        kept[i].dirty = n < take;
    }
    best.map_or(pool, |(_, _, p)| p)
}

/// Rebalancing looks at no more than this many clean layers per build.
const MAX_REBALANCE_TRIES: usize = 3;

/// Clean layers in their old positions; pool layers fill the positions of dirty and empty
/// layers in order, then go on top.
fn assemble(kept: &[Kept], pool_layers: Vec<Layer>) -> Plan {
    let mut pool = pool_layers.into_iter();
    let mut layers = Vec::new();
    for k in kept {
        if is_clean(k) {
            layers.push(Layer::new(k.members.iter().map(|c| c.name.clone())));
        } else if let Some(layer) = pool.next() {
            layers.push(layer);
        }
    }
    layers.extend(pool);
    layers.retain(|l| !l.components.is_empty());
    Plan::new(layers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Strategy;
    use rechunk_model::{ChangeHistory, ComponentKind, Snapshot, DAY};

    fn snap(day: i64, comps: &[(&str, &str, u64)]) -> Snapshot {
        let comps = comps
            .iter()
            .map(|(n, v, s)| Component::new(*n, ComponentKind::Package, *v, *s))
            .collect();
        Snapshot::new(format!("d{day}"), day * DAY, comps)
    }

    fn sorted(plan: &Plan) -> Vec<Vec<String>> {
        let mut layers: Vec<Vec<String>> = plan
            .layers
            .iter()
            .map(|l| {
                let mut c = l.components.clone();
                c.sort();
                c
            })
            .collect();
        layers.sort();
        layers
    }

    /// History: a and b change every build, c and d never; the last build also adds `new`.
    fn history_and_last() -> (ChangeHistory, Snapshot) {
        let mut snaps: Vec<Snapshot> = (0..6)
            .map(|i| {
                let v = i.to_string();
                snap(
                    i + 1,
                    &[
                        ("a", &v, 10),
                        ("b", &v, 10),
                        ("c", "1", 1000),
                        ("d", "1", 500),
                    ],
                )
            })
            .collect();
        snaps.push(snap(
            7,
            &[
                ("a", "6", 10),
                ("b", "6", 10),
                ("c", "1", 1000),
                ("d", "1", 500),
                ("new", "1", 5),
            ],
        ));
        let last = snaps[6].clone();
        (ChangeHistory::from_snapshots(&snaps), last)
    }

    #[test]
    fn clean_layers_are_kept_and_new_components_join_dirty_ones() {
        let (history, last) = history_and_last();
        // Previous plan (deliberately not what cluster would pick): {c}, {d, a}, {b}.
        let previous = Plan::new(vec![
            Layer::new(["c"]),
            Layer::new(["d", "a"]),
            Layer::new(["b"]),
        ]);
        let input = PlanInput {
            components: &last.components,
            now: last.date,
            history: &history,
            previous: Some(&previous),
            max_layers: 3,
        };
        let plan = Cluster::default().plan(&input).unwrap_or_default();
        assert_eq!(plan.validate(&last.components, 3), Ok(()));
        // {c} is clean: kept in place, byte for byte. {d, a} and {b} are dirty (a and b
        // changed): their content and `new` are re-planned into those two slots, and the
        // optimiser separates stable d from the volatile a, b and new.
        assert_eq!(plan.layers[0], Layer::new(["c"]));
        assert_eq!(
            sorted(&plan),
            vec![
                vec!["a".to_string(), "b".into(), "new".into()],
                vec!["c".into()],
                vec!["d".into()],
            ]
        );
    }

    #[test]
    fn an_unchanged_build_keeps_the_plan() {
        let (history, last) = history_and_last();
        let previous = Plan::new(vec![
            Layer::new(["c"]),
            Layer::new(["d"]),
            Layer::new(["a", "b", "new"]),
        ]);
        // Observe the same build once more: nothing changed, nothing is new.
        let mut history = history;
        let mut again = last.clone();
        again.date += DAY;
        history.observe(&again);
        let input = PlanInput {
            components: &again.components,
            now: again.date,
            history: &history,
            previous: Some(&previous),
            max_layers: 3,
        };
        let plan = Cluster::default().plan(&input).unwrap_or_default();
        assert_eq!(plan, previous);
    }

    #[test]
    fn a_full_budget_opens_the_smallest_clean_layer_for_new_components() {
        let (history, last) = history_and_last();
        // All four old components sit in clean-looking layers except a and b; budget full.
        let previous = Plan::new(vec![
            Layer::new(["c"]),
            Layer::new(["d"]),
            Layer::new(["a", "b"]),
        ]);
        let input = PlanInput {
            components: &last.components,
            now: last.date,
            history: &history,
            previous: Some(&previous),
            max_layers: 2,
        };
        let plan = Cluster::default().plan(&input).unwrap_or_default();
        assert_eq!(plan.validate(&last.components, 2), Ok(()));
        // Two clean layers and a pool need three slots: the smaller clean layer {d} is
        // opened; c (the bigger) keeps its layer.
        assert!(plan.layers.contains(&Layer::new(["c"])));
    }
}
