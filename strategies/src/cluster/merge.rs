//! `cluster`'s optimiser: greedy agglomerative merging of units down to the layer budget, then
//! single-unit moves between layers while any move lowers the expected download.
//!
//! Expected download of a grouping = Σ over layers of size × P(layer changes). Merging two
//! layers never lowers it, so the greedy step merges the pair whose merge raises it least. The
//! pair search keeps, per layer, a lower bound of its cheapest merge in a heap; a popped entry
//! whose two layers are unchanged since it was computed is exact and therefore the global
//! minimum, so the result is the exact greedy at about O(n²) cost instead of O(n³).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::model::{Model, Unit};

/// A layer being formed: the union of its units' change bits and the sums the cost needs.
#[derive(Clone, Debug)]
struct Group {
    bits: Vec<u64>,
    size: u64,
    ln_keep: f64,
    certain: u32,
    units: Vec<usize>,
    prob: f64,
}

/// A candidate merge of `i` with `j`, valid while both still have the versions it saw.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    delta: f64,
    i: usize,
    version_i: u32,
    j: usize,
    version_j: u32,
}

impl Group {
    fn of(unit: &Unit, index: usize, model: &Model) -> Self {
        let prob = model.prob(&unit.bits, unit.ln_keep, unit.certain);
        Group {
            bits: unit.bits.clone(),
            size: unit.size,
            ln_keep: unit.ln_keep,
            certain: u32::from(unit.certain),
            units: vec![index],
            prob,
        }
    }

    /// What a merged-away slot holds.
    fn empty() -> Self {
        Group {
            bits: Vec::new(),
            size: 0,
            ln_keep: 0.0,
            certain: 0,
            units: Vec::new(),
            prob: 0.0,
        }
    }

    fn cost(&self) -> f64 {
        self.size as f64 * self.prob
    }
}

/// Rise of expected download when `a` and `b` share a layer.
fn merge_delta(a: &Group, b: &Group, model: &Model) -> f64 {
    let size = (a.size + b.size) as f64;
    let prob = if a.certain + b.certain > 0 {
        1.0
    } else {
        let rate = model.rate_or(&a.bits, &b.bits);
        1.0 - (1.0 - rate) * (a.ln_keep + b.ln_keep).exp()
    };
    size * prob - a.cost() - b.cost()
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Reversed so that `BinaryHeap` pops the smallest delta, ties to the lowest indices.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .delta
            .total_cmp(&self.delta)
            .then(other.i.cmp(&self.i))
            .then(other.j.cmp(&self.j))
    }
}

/// Greedy agglomeration of `units` into at most `k` groups (lists of unit indices).
pub fn agglomerate(units: &[Unit], model: &Model, k: usize) -> Vec<Vec<usize>> {
    let n = units.len();
    if n <= k {
        return (0..n).map(|i| vec![i]).collect();
    }
    let mut groups: Vec<Group> = units
        .iter()
        .enumerate()
        .map(|(i, u)| Group::of(u, i, model))
        .collect();
    let mut alive = vec![true; n];
    let mut version = vec![0u32; n];
    let mut best = vec![(f64::INFINITY, usize::MAX); n];
    for i in 0..n {
        for j in i + 1..n {
            let d = merge_delta(&groups[i], &groups[j], model);
            if d < best[i].0 {
                best[i] = (d, j);
            }
            if d < best[j].0 {
                best[j] = (d, i);
            }
        }
    }
    let mut heap: BinaryHeap<Candidate> = (0..n)
        .map(|i| Candidate {
            delta: best[i].0,
            i,
            version_i: 0,
            j: best[i].1,
            version_j: 0,
        })
        .collect();
    let mut count = n;
    while count > k {
        let Some(c) = heap.pop() else { break };
        if !alive[c.i] || version[c.i] != c.version_i {
            continue;
        }
        if alive[c.j] && version[c.j] == c.version_j {
            let absorbed = std::mem::replace(&mut groups[c.j], Group::empty());
            merge_into(&mut groups[c.i], absorbed, model);
            alive[c.j] = false;
            version[c.i] += 1;
            count -= 1;
        }
        // Either i just grew or its partner went stale: find its cheapest merge again, and
        // offer i to every other group whose lower bound it beats.
        let i = c.i;
        best[i] = (f64::INFINITY, usize::MAX);
        for other in (0..n).filter(|&o| o != i && alive[o]) {
            let d = merge_delta(&groups[i], &groups[other], model);
            if d < best[i].0 {
                best[i] = (d, other);
            }
            if d < best[other].0 {
                best[other] = (d, i);
                heap.push(Candidate {
                    delta: d,
                    i: other,
                    version_i: version[other],
                    j: i,
                    version_j: version[i],
                });
            }
        }
        if best[i].1 != usize::MAX {
            heap.push(Candidate {
                delta: best[i].0,
                i,
                version_i: version[i],
                j: best[i].1,
                version_j: version[best[i].1],
            });
        }
    }
    groups
        .into_iter()
        .zip(alive)
        .filter(|(_, a)| *a)
        .map(|(g, _)| g.units)
        .collect()
}

fn merge_into(target: &mut Group, other: Group, model: &Model) {
    for (a, b) in target.bits.iter_mut().zip(&other.bits) {
        *a |= b;
    }
    target.size += other.size;
    target.ln_keep += other.ln_keep;
    target.certain += other.certain;
    target.units.extend(other.units);
    target.prob = model.prob(&target.bits, target.ln_keep, target.certain > 0);
}

/// A group during refinement: per-build counts of changed members, so a unit can leave.
struct Bin {
    counts: Vec<u32>,
    bits: Vec<u64>,
    size: u64,
    ln_keep: f64,
    certain: u32,
    cost: f64,
}

impl Bin {
    fn new(words: usize) -> Self {
        Bin {
            counts: vec![0; words * 64],
            bits: vec![0; words],
            size: 0,
            ln_keep: 0.0,
            certain: 0,
            cost: 0.0,
        }
    }

    fn add(&mut self, u: &Unit, model: &Model) {
        for_each_bit(&u.bits, |t| {
            self.counts[t] += 1;
            self.bits[t / 64] |= 1 << (t % 64);
        });
        self.size += u.size;
        self.ln_keep += u.ln_keep;
        self.certain += u32::from(u.certain);
        self.cost = self.size as f64 * model.prob(&self.bits, self.ln_keep, self.certain > 0);
    }

    fn remove(&mut self, u: &Unit, model: &Model) {
        for_each_bit(&u.bits, |t| {
            self.counts[t] -= 1;
            if self.counts[t] == 0 {
                self.bits[t / 64] &= !(1 << (t % 64));
            }
        });
        self.size -= u.size;
        self.ln_keep -= u.ln_keep;
        self.certain -= u32::from(u.certain);
        self.cost = self.size as f64 * model.prob(&self.bits, self.ln_keep, self.certain > 0);
    }

    /// Cost of this bin without `u` (which it holds).
    fn cost_without(&self, u: &Unit, model: &Model) -> f64 {
        let size = self.size - u.size;
        if size == 0 {
            return 0.0;
        }
        if self.certain > u32::from(u.certain) {
            return size as f64;
        }
        let mut rate = model.rate(&self.bits);
        for_each_bit(&u.bits, |t| {
            if self.counts[t] == 1 {
                rate -= model.bit_rate(t);
            }
        });
        let ln_keep = self.ln_keep - u.ln_keep;
        size as f64 * (1.0 - (1.0 - rate.max(0.0)) * ln_keep.exp())
    }

    /// Cost of this bin with `u` added.
    fn cost_with(&self, u: &Unit, model: &Model) -> f64 {
        let size = (self.size + u.size) as f64;
        if self.certain > 0 || u.certain {
            return size;
        }
        let rate = model.rate_or(&self.bits, &u.bits);
        size * (1.0 - (1.0 - rate) * (self.ln_keep + u.ln_keep).exp())
    }
}

fn for_each_bit(bits: &[u64], mut f: impl FnMut(usize)) {
    for (w, &word) in bits.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            let t = word.trailing_zeros() as usize;
            f(w * 64 + t);
            word &= word - 1;
        }
    }
}

/// Moves single units between groups while a move lowers the total cost, for at most
/// `passes` sweeps. Groups emptied by moves stay available as targets; empty groups are
/// dropped from the result.
pub fn refine(
    units: &[Unit],
    model: &Model,
    groups: Vec<Vec<usize>>,
    passes: usize,
) -> Vec<Vec<usize>> {
    let mut bins: Vec<Bin> = Vec::with_capacity(groups.len());
    let mut home = vec![0usize; units.len()];
    for (g, members) in groups.iter().enumerate() {
        let mut bin = Bin::new(model.words);
        for &u in members {
            bin.add(&units[u], model);
            home[u] = g;
        }
        bins.push(bin);
    }
    let order: Vec<usize> = groups.iter().flatten().copied().collect();
    for _ in 0..passes {
        let mut moved = false;
        for &u in &order {
            let unit = &units[u];
            let from = home[u];
            let gain = bins[from].cost - bins[from].cost_without(unit, model);
            let mut best: Option<(usize, f64)> = None;
            for (to, bin) in bins.iter().enumerate() {
                if to == from {
                    continue;
                }
                let added = bin.cost_with(unit, model) - bin.cost;
                if best.is_none_or(|(_, b)| added < b) {
                    best = Some((to, added));
                }
            }
            let Some((to, added)) = best else { continue };
            // A relative margin keeps float noise from moving units back and forth.
            if added < gain - 1e-9 * (gain.abs() + 1.0) {
                bins[from].remove(unit, model);
                bins[to].add(unit, model);
                home[u] = to;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let mut result: Vec<Vec<usize>> = vec![Vec::new(); bins.len()];
    for &u in &order {
        result[home[u]].push(u);
    }
    result.retain(|g| !g.is_empty());
    result
}

/// Expected download per build of a grouping.
pub fn total_cost(units: &[Unit], model: &Model, groups: &[Vec<usize>]) -> f64 {
    groups
        .iter()
        .map(|g| {
            let mut bin = Bin::new(model.words);
            for &u in g {
                bin.add(&units[u], model);
            }
            bin.cost
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::model::ModelParams;
    use rechunk_model::{ChangeHistory, Component, ComponentKind, PlanInput, Snapshot, DAY};

    /// Units over a 9-build history where `a`/`b` change together at builds 1, 3, 5, 7 and
    /// `c`/`d` never change. Sizes: a 10, b 10, c 1000, d 1000.
    fn setup() -> (Vec<Component>, ChangeHistory) {
        let snaps: Vec<Snapshot> = (0..9)
            .map(|i| {
                let v = ((i + 1) / 2).to_string();
                let comps = vec![
                    Component::new("a", ComponentKind::Package, v.clone(), 10),
                    Component::new("b", ComponentKind::Package, v, 10),
                    Component::new("c", ComponentKind::Package, "1", 1000),
                    Component::new("d", ComponentKind::Package, "1", 1000),
                ];
                Snapshot::new(format!("{i}"), (i + 1) * DAY, comps)
            })
            .collect();
        let comps = snaps[8].components.clone();
        (comps, ChangeHistory::from_snapshots(&snaps))
    }

    /// Runs `check` on the units of [`setup`] under an unweighted model (every build counts
    /// the same), budget 2.
    fn with_units(check: impl FnOnce(&[Unit], &Model)) {
        let (comps, h) = setup();
        let input = PlanInput {
            components: &comps,
            now: 9 * DAY,
            history: &h,
            previous: None,
            max_layers: 2,
        };
        let params = ModelParams {
            half_life_builds: f64::INFINITY,
            prior_builds: 1.0,
            window_builds: 64,
        };
        let (model, start) = Model::new(&input, &params);
        let refs: Vec<&Component> = comps.iter().collect();
        let units = super::super::model::units(&refs, &input, &model, start);
        check(&units, &model);
    }

    #[test]
    fn co_changing_small_units_merge_first() {
        with_units(|units, model| {
            // To 2 groups: {a, b} (same changes, merging costs nothing) and {c, d} (both stable).
            let mut groups = agglomerate(units, model, 2);
            groups.iter_mut().for_each(|g| g.sort_unstable());
            groups.sort();
            assert_eq!(groups, vec![vec![0, 1], vec![2, 3]]);
            let refined = refine(units, model, groups.clone(), 4);
            assert_eq!(refined.len(), 2);
            assert!(total_cost(units, model, &refined) <= total_cost(units, model, &groups) + 1e-9);
        });
    }

    #[test]
    fn refinement_undoes_a_bad_grouping() {
        with_units(|units, model| {
            // {a, c} and {b, d}: each big stable unit rides with a volatile one.
            let bad = vec![vec![0, 2], vec![1, 3]];
            let mut fixed = refine(units, model, bad.clone(), 8);
            fixed.iter_mut().for_each(|g| g.sort_unstable());
            fixed.sort();
            assert_eq!(fixed, vec![vec![0, 1], vec![2, 3]]);
            assert!(total_cost(units, model, &fixed) < total_cost(units, model, &bad));
        });
    }
}
