//! `hhd-rechunk`: the planner of hhd-dev/rechunk (Bazzite's former rechunker, Python,
//! `alg.py`), reimplemented as a peer baseline.
//!
//! Model: each package gets 53 weekly slots, slot w set when a changelog entry of the last
//! year falls in ISO week w; a package with at most two changelog entries is assumed to change
//! every week. A layer's cost is its size × the number of weeks in which any member changed.
//!
//! Plan without a previous one, for a budget of `n` layers:
//! 1. unowned content (hhd's `unpackaged` meta package) gets a dedicated layer;
//! 2. two "fine" layers take every package under 0.5 MB, then under 1 MB;
//! 3. prefill: seed a layer with the largest package left, then add the package that raises the
//!    layer's cost least, until the layer exceeds `prefill_ratio` × the average layer size;
//!    repeat until the budget is used;
//! 4. fill: every package left goes where it adds the least cost, skipping layers already over
//!    `max_layer_ratio` × the average layer size.
//!
//! With a previous plan, its layers are kept as they are (removed packages dropped), empty
//! layers pad the budget, and new packages are placed by step 4: hhd never re-balances.
//!
//! Components without changelogs: the changes observed in `input.history` over the last year
//! stand in for changelog dates (a lockfile history has no changelogs); with no history either,
//! hhd's own rule applies (assume a change every week).
//!
//! Deviations, all where hhd crashes or loses packages: the package being filled when the
//! prefill runs out of packages is kept (hhd drops it); with every layer over the size cap the
//! cap is ignored (hhd asserts); budgets too small for the dedicated and fine layers skip them;
//! week 53 maps to slot 52 (hhd indexes past its 53-slot array); a previous plan with more
//! layers than the budget is ignored (the plan is recomputed); padding stops at the budget
//! (hhd pads one layer too many); ties break by component name order.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike};
use rechunk_model::{Component, Layer, Plan, PlanInput, Timestamp, DAY};

use crate::registry::{check, ParamReader, Params};
use crate::signal;
use crate::{ParamSpec, Strategy, StrategyError};

/// hhd-dev/rechunk's planner with its tunables.
#[derive(Clone, Debug)]
pub struct HhdRechunk {
    /// Prefill stops a layer past this share of the average layer size (hhd: 0.4).
    pub prefill_ratio: f64,
    /// The fill step skips layers past this share of the average layer size (hhd: 1.3).
    pub max_layer_ratio: f64,
    /// Whether the two small-package layers (< 0.5 MB, < 1 MB) are made (hhd: yes).
    pub fine_layers: bool,
}

/// A package as the planner sees it.
#[derive(Clone, Copy, Debug)]
struct Pkg<'a> {
    name: &'a str,
    size: u64,
    /// Bit w − 1 set when the package changed in ISO week w of the last year.
    weeks: u64,
}

/// Layers being built, with their size and change weeks.
#[derive(Clone, Debug, Default)]
struct Bin {
    members: Vec<usize>,
    size: u64,
    weeks: u64,
}

const ALL_WEEKS: u64 = (1 << 53) - 1;
/// hhd's `SIZE_LIMITS`: packages under each go to one shared layer.
const FINE_LIMITS: [u64; 2] = [500_000, 1_000_000];

impl Default for HhdRechunk {
    fn default() -> Self {
        HhdRechunk {
            prefill_ratio: 0.4,
            max_layer_ratio: 1.3,
            fine_layers: true,
        }
    }
}

impl HhdRechunk {
    pub fn from_params(params: &Params) -> Result<Self, StrategyError> {
        let d = HhdRechunk::default();
        let mut r = ParamReader::new("hhd-rechunk", params);
        let s = HhdRechunk {
            prefill_ratio: r.get("prefill_ratio", d.prefill_ratio, check::non_negative_f64)?,
            max_layer_ratio: r.get("max_layer_ratio", d.max_layer_ratio, check::positive_f64)?,
            fine_layers: r.get("fine_layers", d.fine_layers, check::any)?,
        };
        r.finish()?;
        Ok(s)
    }
}

impl Strategy for HhdRechunk {
    fn name(&self) -> &'static str {
        "hhd-rechunk"
    }
    fn description(&self) -> &'static str {
        "hhd-dev/rechunk: weekly change slots, cost = size x weeks changed, greedy fill, plan kept"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "prefill_ratio",
                self.prefill_ratio,
                "prefill closes a layer past this share of the average layer size",
            ),
            ParamSpec::new(
                "max_layer_ratio",
                self.max_layer_ratio,
                "the fill step skips layers past this share of the average layer size",
            ),
            ParamSpec::new(
                "fine_layers",
                self.fine_layers,
                "make the two shared layers for packages under 0.5 MB and under 1 MB",
            ),
        ]
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        if input.max_layers == 0 {
            return Err(StrategyError::ZeroBudget);
        }
        let budget = input.max_layers;
        let (unpackaged, loose): (Vec<&Component>, Vec<&Component>) = input
            .components
            .iter()
            .partition(|c| !signal::is_packaged(c.kind));
        // The dedicated layer needs a budget of two; with one layer everything is a package.
        let dedicated = !unpackaged.is_empty() && budget >= 2;
        let pkgs: Vec<Pkg> = if dedicated {
            loose
        } else {
            input.components.iter().collect()
        }
        .into_iter()
        .map(|c| Pkg {
            name: &c.name,
            size: c.size,
            weeks: weeks_changed(c, input),
        })
        .collect();
        let total: u64 = input.components.iter().map(|c| c.size).sum();
        let layer_size = total as f64 / budget as f64;
        let fill_size = (layer_size * self.prefill_ratio) as u64;
        let max_layer_size = (layer_size * self.max_layer_ratio) as u64;
        let room = budget - usize::from(dedicated);

        let previous = input.previous.and_then(|p| previous_bins(p, &pkgs, room));
        let (todo, bins) = match previous {
            Some(found) => found,
            None => self.prefill(&pkgs, room, fill_size),
        };
        let bins = fill(&pkgs, todo, bins, max_layer_size);

        let mut layers = Vec::new();
        if dedicated {
            layers.push(Layer::new(unpackaged.iter().map(|c| c.name.clone())));
        }
        for bin in bins.into_iter().filter(|b| !b.members.is_empty()) {
            layers.push(Layer::new(bin.members.iter().map(|&i| pkgs[i].name)));
        }
        Ok(Plan::new(layers))
    }
}

/// hhd's update vector: weeks with a change in the year before `input.now`.
fn weeks_changed(c: &Component, input: &PlanInput) -> u64 {
    let dates = if !c.changelog_times.is_empty() {
        if c.changelog_times.len() <= 2 {
            // hhd: "Some packages have no changelog, assume they always update".
            return ALL_WEEKS;
        }
        c.changelog_times.clone()
    } else if input.history.is_informative() {
        signal::observed_changes(input.history, &c.name, input.now)
    } else {
        return ALL_WEEKS;
    };
    dates
        .iter()
        .filter(|&&t| (input.now - t).div_euclid(DAY) <= 365)
        .fold(0, |acc, &t| acc | week_bit(t))
}

/// Bit of the ISO week holding `t` (UTC): week w is bit w − 1, week 53 shares bit 52.
fn week_bit(t: Timestamp) -> u64 {
    let week = DateTime::from_timestamp(t, 0).map_or(1, |d| d.iso_week().week());
    1 << (week.clamp(1, 53) - 1)
}

fn cost(weeks: u64, size: u64) -> u128 {
    u128::from(weeks.count_ones()) * u128::from(size)
}

/// The previous plan's layers over `pkgs` and the packages it does not hold, in input order;
/// `None` when it does not fit `room` layers.
fn previous_bins(previous: &Plan, pkgs: &[Pkg], room: usize) -> Option<(Vec<usize>, Vec<Bin>)> {
    let index: std::collections::BTreeMap<&str, usize> =
        pkgs.iter().enumerate().map(|(i, p)| (p.name, i)).collect();
    let mut placed = BTreeSet::new();
    let mut bins = Vec::new();
    for layer in &previous.layers {
        let mut bin = Bin::default();
        for name in &layer.components {
            if let Some(&i) = index.get(name.as_str()) {
                if placed.insert(i) {
                    bin.add(i, &pkgs[i]);
                }
            }
        }
        if !bin.members.is_empty() {
            bins.push(bin);
        }
    }
    if bins.len() > room {
        return None;
    }
    bins.resize_with(room, Bin::default);
    let todo = (0..pkgs.len()).filter(|i| !placed.contains(i)).collect();
    Some((todo, bins))
}

impl Bin {
    fn add(&mut self, i: usize, p: &Pkg) {
        self.members.push(i);
        self.size += p.size;
        self.weeks |= p.weeks;
    }
    fn cost(&self) -> u128 {
        cost(self.weeks, self.size)
    }
}

impl HhdRechunk {
    /// hhd's `prefill_layers`: fine layers, then seeded greedy layers up to `fill_size` each.
    /// Returns the packages left (input order) and the layers.
    fn prefill(&self, pkgs: &[Pkg], room: usize, fill_size: u64) -> (Vec<usize>, Vec<Bin>) {
        let mut alive = vec![true; pkgs.len()];
        let mut bins: Vec<Bin> = Vec::new();
        if self.fine_layers && room > FINE_LIMITS.len() {
            for limit in FINE_LIMITS {
                let mut fine = Bin::default();
                for (i, p) in pkgs.iter().enumerate() {
                    if alive[i] && p.size < limit {
                        alive[i] = false;
                        fine.add(i, p);
                    }
                }
                if !fine.members.is_empty() {
                    bins.push(fine);
                }
            }
        }
        let mut curr = Bin::default();
        while alive.iter().any(|&a| a) && bins.len() < room {
            if curr.members.is_empty() {
                let seed = largest(pkgs, &alive);
                alive[seed] = false;
                curr.add(seed, &pkgs[seed]);
            } else if curr.size > fill_size {
                bins.push(std::mem::take(&mut curr));
            } else {
                let best = cheapest_addition(pkgs, &alive, &curr).map(|(i, _)| i);
                if let Some(i) = best {
                    alive[i] = false;
                    curr.add(i, &pkgs[i]);
                }
            }
        }
        if !curr.members.is_empty() {
            // hhd drops this layer's packages when the prefill runs dry; keep them.
            bins.push(curr);
        }
        let todo = (0..pkgs.len()).filter(|&i| alive[i]).collect();
        (todo, bins)
    }
}

/// The first largest package still alive.
fn largest(pkgs: &[Pkg], alive: &[bool]) -> usize {
    let mut best: Option<usize> = None;
    for (i, p) in pkgs.iter().enumerate() {
        if alive[i] && best.is_none_or(|b| p.size > pkgs[b].size) {
            best = Some(i);
        }
    }
    best.unwrap_or(0)
}

/// The first alive package whose addition gives `bin` the lowest total cost, and that cost.
fn cheapest_addition(pkgs: &[Pkg], alive: &[bool], bin: &Bin) -> Option<(usize, u128)> {
    let mut best: Option<(usize, u128)> = None;
    for (i, p) in pkgs.iter().enumerate() {
        if !alive[i] {
            continue;
        }
        let c = cost(bin.weeks | p.weeks, bin.size + p.size);
        if best.is_none_or(|(_, b)| c < b) {
            best = Some((i, c));
        }
    }
    best
}

/// hhd's `fill_layers`: each package left goes where it adds the least cost (first layer, then
/// first package, on ties), skipping layers over `max_layer_size`. Each layer's best candidate
/// is cached and recomputed only when that layer grows or its candidate is taken, which gives
/// the same choices as hhd's full rescan at a fraction of the cost.
fn fill(pkgs: &[Pkg], todo: Vec<usize>, mut bins: Vec<Bin>, max_layer_size: u64) -> Vec<Bin> {
    if todo.is_empty() {
        return bins;
    }
    if bins.is_empty() {
        bins.push(Bin::default());
    }
    let mut alive = vec![false; pkgs.len()];
    for &i in &todo {
        alive[i] = true;
    }
    let mut left = todo.len();
    let eligible = |b: &Bin| b.size <= max_layer_size;
    let ignore_cap = !bins.iter().any(eligible);
    let best_of = |b: &Bin, alive: &[bool]| -> Option<(usize, u128)> {
        if !ignore_cap && !eligible(b) {
            return None;
        }
        let base = b.cost();
        cheapest_addition(pkgs, alive, b).map(|(i, c)| (i, c - base))
    };
    let mut best: Vec<Option<(usize, u128)>> = bins.iter().map(|b| best_of(b, &alive)).collect();
    while left > 0 {
        let mut choice: Option<(usize, usize, u128)> = None;
        for (l, cand) in best.iter().enumerate() {
            if let Some((i, added)) = *cand {
                if choice.is_none_or(|(_, _, a)| added < a) {
                    choice = Some((l, i, added));
                }
            }
        }
        let Some((l, i, _)) = choice else {
            // Every layer went over the cap mid-fill: place the rest in the smallest layer.
            let smallest = (0..bins.len()).min_by_key(|&l| bins[l].size).unwrap_or(0);
            for i in (0..pkgs.len()).filter(|&i| alive[i]) {
                bins[smallest].add(i, &pkgs[i]);
            }
            break;
        };
        alive[i] = false;
        left -= 1;
        bins[l].add(i, &pkgs[i]);
        for (m, cand) in best.iter_mut().enumerate() {
            if m == l || cand.is_some_and(|(j, _)| j == i) {
                *cand = best_of(&bins[m], &alive);
            }
        }
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, ComponentKind};

    /// Monday 2024-01-01 00:00 UTC: ISO week 1 of 2024.
    const W1: Timestamp = 1_704_067_200;
    const WEEK: Timestamp = 7 * DAY;

    fn pkg(name: &str, size: u64, weeks: &[i64]) -> Component {
        let mut c = Component::new(name, ComponentKind::Package, "1", size);
        // Three or more entries, so hhd's "≤ 2 entries → always" rule stays out of the way.
        c.changelog_times = weeks.iter().map(|w| W1 + (w - 1) * WEEK + DAY).collect();
        c
    }

    fn plan_of(s: &HhdRechunk, comps: &[Component], budget: usize) -> Vec<Vec<String>> {
        let history = ChangeHistory::default();
        let input = PlanInput {
            components: comps,
            now: W1 + 20 * WEEK,
            history: &history,
            previous: None,
            max_layers: budget,
        };
        let plan = s.plan(&input).unwrap_or_default();
        assert_eq!(plan.validate(comps, budget), Ok(()));
        plan.layers.into_iter().map(|l| l.components).collect()
    }

    #[test]
    fn week_bits_follow_iso_weeks() {
        assert_eq!(week_bit(W1), 1);
        assert_eq!(week_bit(W1 + WEEK), 2);
        // 2020-12-31 is in ISO week 53 of 2020: it shares the last slot.
        assert_eq!(week_bit(1_609_372_800), 1 << 52);
    }

    #[test]
    fn greedy_fill_pairs_packages_that_change_in_the_same_weeks() {
        // Sizes 4 MB, 3 MB, 2 MB, 1 MB (no fine layers), budget 2, total 10 MB: average layer
        // 5 MB, prefill closes a layer past 2 MB, the fill cap is 6.5 MB.
        // big (weeks 1,2,3) seeds layer 1, already past 2 MB, so it closes; mid (4,5,6) seeds
        // and closes layer 2; the budget is used.
        // Fill, in MB·weeks added: tiny (4,5,6) → layer 2: 3×4 − 3×3 = 3, the cheapest move
        // of all; small (1,2,3) → layer 1: 3×6 − 3×4 = 6, → layer 2: 6×6 − 3×4 = 24.
        let comps = vec![
            pkg("big", 4_000_000, &[1, 2, 3]),
            pkg("mid", 3_000_000, &[4, 5, 6]),
            pkg("small", 2_000_000, &[1, 2, 3]),
            pkg("tiny", 1_000_000, &[4, 5, 6]),
        ];
        let s = HhdRechunk {
            fine_layers: false,
            ..HhdRechunk::default()
        };
        assert_eq!(
            plan_of(&s, &comps, 2),
            vec![vec!["big", "small"], vec!["mid", "tiny"]]
        );
    }

    #[test]
    fn fine_layers_and_dedicated_unpackaged_layer() {
        // Budget 5: the unpackaged layer, then "< 0.5 MB" = {a}, "< 1 MB" = {b}, then the
        // rest is seeded largest first: c (3 MB) and d (2 MB) each fill their own layer.
        let mut comps = vec![
            pkg("a", 100_000, &[1, 2, 3]),
            pkg("b", 700_000, &[1, 2, 3]),
            pkg("c", 3_000_000, &[1, 2, 3]),
            pkg("d", 2_000_000, &[5, 6, 7]),
            Component::new("unpackaged:/etc", ComponentKind::Unpackaged, "x", 50_000),
        ];
        comps.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            plan_of(&HhdRechunk::default(), &comps, 5),
            vec![
                vec!["unpackaged:/etc"],
                vec!["a"],
                vec!["b"],
                vec!["c"],
                vec!["d"]
            ]
        );
    }

    #[test]
    fn previous_plan_is_kept_and_new_packages_fill_the_empty_layers() {
        let comps = vec![
            pkg("a", 1_000_000, &[1]),
            pkg("b", 1_000_000, &[1, 2]),
            pkg("c", 1_000_000, &[1, 2, 3]),
            pkg("n", 1_000_000, &[9, 10, 11]),
        ];
        let previous = Plan::new(vec![Layer::new(["c", "a", "gone"]), Layer::new(["b"])]);
        let history = ChangeHistory::default();
        let input = PlanInput {
            components: &comps,
            now: W1 + 20 * WEEK,
            history: &history,
            previous: Some(&previous),
            max_layers: 3,
        };
        let plan = HhdRechunk::default().plan(&input).unwrap_or_default();
        let layers: Vec<Vec<String>> = plan.layers.into_iter().map(|l| l.components).collect();
        // n adds 3 × 1 MB to the empty third layer, more anywhere else.
        assert_eq!(layers, vec![vec!["c", "a"], vec!["b"], vec!["n"]]);
    }

    #[test]
    fn few_changelog_entries_mean_always_changing() {
        let c = {
            let mut c = Component::new("x", ComponentKind::Package, "1", 1);
            c.changelog_times = vec![W1, W1 + WEEK];
            c
        };
        let h = ChangeHistory::default();
        let input = PlanInput {
            components: std::slice::from_ref(&c),
            now: W1 + 20 * WEEK,
            history: &h,
            previous: None,
            max_layers: 4,
        };
        assert_eq!(weeks_changed(&c, &input), ALL_WEEKS);
    }
}
