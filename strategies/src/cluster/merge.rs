//! `cluster`'s optimiser: greedy agglomerative merging of units down to the layer budget, then
//! single-unit moves between layers while any move lowers the expected download.
//!
//! Expected download of a grouping = Σ over layers of size × P(layer changes). Merging two
//! layers never lowers it, so the greedy step merges the pair whose merge raises it least. The
//! pair search keeps, per layer, a lower bound of its cheapest merge in a heap; a popped entry
//! whose two layers are unchanged since it was computed is exact and therefore the global
//! minimum, so the result is the exact greedy at about O(n²) cost instead of O(n³).
//!
//! O(n²) is fine for the few hundred to ~1,500 units of a real image, not for the 10,000 to
//! 100,000 of a per-file split. Above [`EXACT_UNITS`] units are first packed ([`coarsen`]):
//! small units with the same change record (same changed builds, both certain or not) are
//! joined smallest first into packs of at most 1/[`EXACT_UNITS`] of the image, which is what
//! the greedy would do first anyway (their merge costs only the priors' share); only if that
//! leaves too many packs are neighbours in order of change rate joined, smallest pair first.
//! The exact greedy then runs on the packs, and [`refine`] moves single units again.

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
        1.0 - (1.0 - rate) * model.keep(a.ln_keep + b.ln_keep)
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

/// Default of the most units the exact greedy runs on (`exact_units`); more are packed first.
pub const EXACT_UNITS: usize = 1_500;

/// Greedy agglomeration of `units` into at most `k` groups (lists of unit indices); above
/// `exact` units, on packs of them.
pub fn agglomerate(units: &[Unit], model: &Model, k: usize, exact: usize) -> Vec<Vec<usize>> {
    let target = exact.max(k);
    if units.len() <= target {
        return agglomerate_exact(units, model, k);
    }
    let packs = coarsen(units, model, target);
    let packed: Vec<Unit> = packs.iter().map(|p| combine(units, p)).collect();
    agglomerate_exact(&packed, model, k)
        .into_iter()
        .map(|g| {
            g.into_iter()
                .flat_map(|p| packs[p].iter().copied())
                .collect()
        })
        .collect()
}

/// One pack: unit indices and their total size.
struct Pack {
    units: Vec<usize>,
    size: u64,
}

/// Packs `units` into at most about `target` packs (see the module doc); every unit is in one.
fn coarsen(units: &[Unit], model: &Model, target: usize) -> Vec<Vec<usize>> {
    let total: u64 = units.iter().map(|u| u.size).sum();
    let cap = (total / target as u64).max(1);
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by_key(|&u| (units[u].size, u));
    // Same change record, smallest first.
    let mut packs: Vec<Pack> = Vec::new();
    let mut open: std::collections::HashMap<(bool, &[u64]), usize> = Default::default();
    for &u in &order {
        let unit = &units[u];
        let key = (unit.certain, unit.bits.as_slice());
        match open.get(&key) {
            Some(&p) if packs[p].size + unit.size <= cap => {
                packs[p].units.push(u);
                packs[p].size += unit.size;
            }
            _ => {
                if unit.size < cap {
                    open.insert(key, packs.len());
                }
                packs.push(Pack {
                    units: vec![u],
                    size: unit.size,
                });
            }
        }
    }
    if packs.len() > target {
        packs = join_neighbours(units, model, packs, target);
    }
    packs.into_iter().map(|p| p.units).collect()
}

/// Too many distinct records: orders the packs by change rate and, like the exact greedy but
/// only between neighbours in that order, joins the pair whose join raises the expected
/// download least, until `target` packs remain.
fn join_neighbours(units: &[Unit], model: &Model, packs: Vec<Pack>, target: usize) -> Vec<Pack> {
    let mut ranked: Vec<(f64, Pack)> = packs
        .into_iter()
        .map(|p| (pack_rate(units, model, &p), p))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut slots: Vec<Option<(Pack, Group)>> = ranked
        .into_iter()
        .map(|(_, p)| {
            let group = Group::of(&combine(units, &p.units), 0, model);
            Some((p, group))
        })
        .collect();
    let n = slots.len();
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut version = vec![0u32; n];
    let candidate = |slots: &[Option<(Pack, Group)>], version: &[u32], i: usize, j: usize| {
        let (Some((_, a)), Some((_, b))) = (&slots[i], &slots[j]) else {
            return None;
        };
        Some(Candidate {
            delta: merge_delta(a, b, model),
            i,
            version_i: version[i],
            j,
            version_j: version[j],
        })
    };
    let mut heap: BinaryHeap<Candidate> = (0..n.saturating_sub(1))
        .filter_map(|i| candidate(&slots, &version, i, i + 1))
        .collect();
    let mut count = n;
    while count > target {
        let Some(c) = heap.pop() else { break };
        if slots[c.i].is_none()
            || slots[c.j].is_none()
            || version[c.i] != c.version_i
            || version[c.j] != c.version_j
        {
            continue;
        }
        let (right_pack, right_group) = slots[c.j].take().expect("checked above");
        let (left_pack, left_group) = slots[c.i].as_mut().expect("checked above");
        left_pack.units.extend(right_pack.units);
        left_pack.size += right_pack.size;
        merge_into(left_group, right_group, model);
        let l = c.i;
        version[l] += 1;
        count -= 1;
        next[l] = next[c.j];
        if next[l] < n {
            prev[next[l]] = l;
        }
        for (a, b) in [(prev[l], l), (l, next[l])] {
            if a < n && b < n {
                heap.extend(candidate(&slots, &version, a, b));
            }
        }
    }
    slots.into_iter().flatten().map(|(p, _)| p).collect()
}

/// Change rate of a pack's union record, certain content first (sorted last).
fn pack_rate(units: &[Unit], model: &Model, p: &Pack) -> f64 {
    let mut bits = vec![0u64; model.words];
    let mut certain = false;
    for &u in &p.units {
        for (a, b) in bits.iter_mut().zip(&units[u].bits) {
            *a |= b;
        }
        certain |= units[u].certain;
    }
    if certain {
        f64::INFINITY
    } else {
        model.rate(&bits)
    }
}

/// The units of a pack as one unit.
fn combine<'a>(units: &[Unit<'a>], pack: &[usize]) -> Unit<'a> {
    let mut out = Unit {
        members: Vec::new(),
        size: 0,
        bits: vec![0; units[pack[0]].bits.len()],
        ln_keep: 0.0,
        certain: false,
    };
    for &u in pack {
        let unit = &units[u];
        out.members.extend_from_slice(&unit.members);
        out.size += unit.size;
        for (a, b) in out.bits.iter_mut().zip(&unit.bits) {
            *a |= b;
        }
        out.ln_keep += unit.ln_keep;
        out.certain |= unit.certain;
    }
    out
}

/// The exact greedy (see the module doc).
fn agglomerate_exact(units: &[Unit], model: &Model, k: usize) -> Vec<Vec<usize>> {
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
        size as f64 * (1.0 - (1.0 - rate.max(0.0)) * model.keep(ln_keep))
    }

    /// Cost of this bin with `u` added.
    fn cost_with(&self, u: &Unit, model: &Model) -> f64 {
        let size = (self.size + u.size) as f64;
        if self.certain > 0 || u.certain {
            return size;
        }
        let rate = model.rate_or(&self.bits, &u.bits);
        size * (1.0 - (1.0 - rate) * model.keep(self.ln_keep + u.ln_keep))
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
            prior_dispersion: 0.0,
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
            let mut groups = agglomerate(units, model, 2, EXACT_UNITS);
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

    #[test]
    fn packing_joins_small_units_of_one_record_and_places_every_unit_once() {
        with_units(|units, model| {
            // Four units, packed down to at most 2 before merging: a and b (same record,
            // small) share a pack; c and d (same record, each half the image, too big to pack)
            // are then joined as the neighbours whose join costs least.
            let packs = coarsen(units, model, 2);
            let mut sorted: Vec<Vec<usize>> = packs
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    p.sort_unstable();
                    p
                })
                .collect();
            sorted.sort();
            assert_eq!(sorted, vec![vec![0, 1], vec![2, 3]]);
            let mut all: Vec<usize> = packs.into_iter().flatten().collect();
            all.sort_unstable();
            assert_eq!(all, vec![0, 1, 2, 3]);
            // Merging from packs finds the exact greedy's grouping here.
            let mut groups = agglomerate(units, model, 2, 1);
            groups.iter_mut().for_each(|g| g.sort_unstable());
            groups.sort();
            assert_eq!(groups, vec![vec![0, 1], vec![2, 3]]);
        });
    }
}
