//! `hhd-rechunk`: the planner of hhd-dev/rechunk (Bazzite's former rechunker, Python,
//! `alg.py`), reimplemented as a peer baseline and checked layer for layer against the
//! original's output (`tests/data/peers/`).
//!
//! Meta packages (`process_meta`): the default `meta.yml` ([`meta::DEFAULT_META`], `meta=true`)
//! groups packages by `fnmatch` patterns, the first group in file order winning (kernel with
//! its kmods, firmware, mesa, glibc, git, and about ninety shared groups such as systemd*,
//! grub2*, NetworkManager*); a group also takes the package of its own name. Unowned content
//! goes to the first group whose file patterns match its path (an initramfs to `initramfs`,
//! big files by path), the rest to `unpackaged`. Every package left is a meta package of its
//! own. Groups get a dedicated layer unless meta.yml says `dedicated: False` or they hold under
//! 10 MB; `unpackaged` always does, even when empty.
//!
//! Model: each meta package gets 53 weekly slots, slot w set when a changelog entry of the
//! last year falls in ISO week w; a meta package whose changelogs hold at most two entries in
//! all is assumed to change every week. A layer's cost is its size × the number of weeks in
//! which any member changed.
//!
//! Plan without a previous one, for a budget of `n` layers:
//! 1. each dedicated meta package gets its own layer (in meta.yml order, `unpackaged` last);
//! 2. two "fine" layers take every package under 0.5 MB, then under 1 MB;
//! 3. prefill: seed a layer with the largest package left, then add the package that raises the
//!    layer's cost least, until the layer exceeds `prefill_ratio` × the average layer size;
//!    repeat until the budget is used (the layer being filled when the packages run out is
//!    appended, as hhd does);
//! 4. fill: every package left goes where it adds the least cost, skipping layers over
//!    `max_layer_ratio` × the average layer size.
//!
//! With a previous plan, its layers are kept as they are (removed packages dropped, dedicated
//! meta packages found in it back on their own layers), empty layers pad the budget, and new
//! packages (new dedicated ones too) are placed by step 4: hhd never re-balances.
//!
//! Previous-plan policy, as deployed (`prior=chain chain_from=year`, see `prior.rs`): the GitHub
//! action reads the previous image given as `prev-ref` (Bazzite and its derivatives pass it) and
//! keeps its plan; the tool's first plan is made from a year of rpm changelog dates. In a replay
//! without changelogs the chain therefore starts once the replayed history reaches a year back;
//! every build before it is planned from scratch.
//!
//! Components without changelogs: the shared fallback of [`crate::signal::evidence`] stands in
//! for changelog dates (stand-in dates are dates, never "at most two entries"); with no
//! evidence at all, hhd's own rule applies (assume a change every week).
//!
//! Deviations, all where hhd crashes or overruns the budget: with fewer than three layers left
//! after the dedicated ones no meta package is dedicated (hhd asserts), and with fewer than
//! three layers the fine layers are skipped; with every layer over the size cap the cap is
//! ignored (hhd asserts); week 53 gets its own slot (hhd indexes past its 53-slot array and
//! crashes); padding stops at the budget (hhd pads one layer more than the budget, which new
//! packages can fill); a previous plan with more layers than the budget is ignored (the plan is
//! recomputed); the previous plan names components, not meta packages (hhd's label names meta
//! packages; both are read), so a meta package takes the layer of its first member found, a
//! member gone since naming its group through meta.yml's patterns. Sizes are the components' sizes (hhd
//! leaves out files under /etc and counts shared file content once).

mod meta;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike};
use rechunk_model::{Component, ComponentKind, Layer, Plan, PlanInput, Timestamp, DAY};

use crate::prior::{ChainStart, Prior, PriorPolicy};
use crate::registry::{check, ParamReader, Params};
use crate::signal::{self, Evidence};
use crate::{ParamSpec, Strategy, StrategyError};

pub use meta::{MetaGroup, DEFAULT_META};

/// hhd-dev/rechunk's planner with its tunables.
#[derive(Clone, Debug)]
pub struct HhdRechunk {
    /// Prefill stops a layer past this share of the average layer size (hhd: 0.4).
    pub prefill_ratio: f64,
    /// The fill step skips layers past this share of the average layer size (hhd: 1.3).
    pub max_layer_ratio: f64,
    /// Whether the two small-package layers (< 0.5 MB, < 1 MB) are made (hhd: yes).
    pub fine_layers: bool,
    /// Group by the default meta.yml (hhd: yes); without, one meta package per component.
    pub meta: bool,
    /// Whether, and from when, the previous build's plan is kept.
    pub prior: PriorPolicy,
}

/// A meta package as the planner sees it.
#[derive(Clone, Debug)]
struct Pkg<'a> {
    name: &'a str,
    members: Vec<&'a str>,
    size: u64,
    /// Bit w − 1 set when the package changed in ISO week w of the last year.
    weeks: u64,
    dedicated: bool,
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
/// Below this a meta group gets no dedicated layer (hhd: 10e6).
const DEDICATED_MIN: u64 = 10_000_000;
const UNPACKAGED: &str = "unpackaged";
/// Where an initramfs sits, for meta.yml's file patterns.
const INITRAMFS_PATH: &str = "/usr/lib/modules/kernel/initramfs.img";

impl Default for HhdRechunk {
    fn default() -> Self {
        HhdRechunk {
            prefill_ratio: 0.4,
            max_layer_ratio: 1.3,
            fine_layers: true,
            meta: true,
            prior: PriorPolicy {
                prior: Prior::Chain,
                chain_from: ChainStart::Year,
            },
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
            meta: r.get("meta", d.meta, check::any)?,
            prior: PriorPolicy {
                prior: r.get("prior", d.prior.prior, check::any)?,
                chain_from: r.get("chain_from", d.prior.chain_from, check::any)?,
            },
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
        "hhd-dev/rechunk: meta.yml groups, weekly change slots, cost = size x weeks, plan kept"
    }
    fn is_peer(&self) -> bool {
        true
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
            ParamSpec::new(
                "meta",
                self.meta,
                "group packages by hhd-dev/rechunk's default meta.yml",
            ),
            ParamSpec::new(
                "prior",
                self.prior.prior,
                "none: every build planned afresh; chain: keep the previous build's plan",
            ),
            ParamSpec::new(
                "chain_from",
                self.prior.chain_from,
                "with prior=chain: start, year (once change dates cover a year), or YYYY-MM-DD",
            ),
        ]
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        if input.max_layers == 0 {
            return Err(StrategyError::ZeroBudget);
        }
        let budget = input.max_layers;
        let mut pkgs = self.meta_packages(input);
        let total: u64 = input.components.iter().map(|c| c.size).sum();
        let layer_size = total as f64 / budget as f64;
        let fill_size = (layer_size * self.prefill_ratio) as u64;
        let max_layer_size = (layer_size * self.max_layer_ratio) as u64;

        let groups: &[MetaGroup] = if self.meta { DEFAULT_META } else { &[] };
        let previous = self
            .prior
            .previous(input)
            .and_then(|p| previous_bins(p, &pkgs, groups, budget));
        let (dedicated, todo, bins) = match previous {
            Some(found) => found,
            None => {
                let mut dedicated: Vec<usize> =
                    (0..pkgs.len()).filter(|&i| pkgs[i].dedicated).collect();
                if budget.saturating_sub(dedicated.len()) <= FINE_LIMITS.len() {
                    // hhd asserts here; nothing is dedicated instead (module doc).
                    pkgs.iter_mut().for_each(|p| p.dedicated = false);
                    dedicated.clear();
                }
                let room = budget - dedicated.len();
                let (todo, bins) = self.prefill(&pkgs, room, fill_size);
                (dedicated, todo, bins)
            }
        };
        let bins = fill(&pkgs, todo, bins, max_layer_size);

        let mut layers: Vec<Layer> = dedicated
            .iter()
            .map(|&d| Layer::new(pkgs[d].members.iter().copied()))
            .collect();
        layers.extend(bins.iter().map(|bin| {
            Layer::new(
                bin.members
                    .iter()
                    .flat_map(|&i| pkgs[i].members.iter().copied()),
            )
        }));
        layers.retain(|l| !l.components.is_empty());
        Ok(Plan::new(layers))
    }
}

impl HhdRechunk {
    /// hhd's `process_meta`: meta packages in its order (meta.yml groups, then the remaining
    /// packages, then `unpackaged`), each with its size, change weeks and dedication.
    fn meta_packages<'a>(&self, input: &PlanInput<'a>) -> Vec<Pkg<'a>> {
        let (packages, unowned): (Vec<&Component>, Vec<&Component>) =
            input.components.iter().partition(|c| {
                matches!(
                    c.kind,
                    ComponentKind::Package | ComponentKind::SourcePackage
                )
            });
        let mut package_left = vec![true; packages.len()];
        let mut unowned_left = vec![true; unowned.len()];
        let mut metas: Vec<(&'a str, Vec<&'a Component>, bool)> = Vec::new();
        let mut unpackaged: Vec<&'a Component> = Vec::new();
        let groups: &[MetaGroup] = if self.meta { DEFAULT_META } else { &[] };
        for group in groups {
            let mut members = Vec::new();
            for (i, c) in unowned.iter().enumerate() {
                let hit = unowned_path(c)
                    .is_some_and(|path| group.files.iter().any(|pat| fnmatch(pat, path)));
                if unowned_left[i] && hit {
                    unowned_left[i] = false;
                    members.push(*c);
                }
            }
            for pattern in group.packages.iter().copied().chain([group.name]) {
                for (i, c) in packages.iter().enumerate() {
                    if package_left[i] && fnmatch(pattern, &c.name) {
                        package_left[i] = false;
                        members.push(*c);
                    }
                }
            }
            if members.is_empty() {
                continue;
            }
            if group.name == UNPACKAGED {
                unpackaged = members;
            } else {
                metas.push((group.name, members, group.dedicated));
            }
        }
        for (i, c) in packages.iter().enumerate() {
            if package_left[i] {
                metas.push((c.name.as_str(), vec![*c], false));
            }
        }
        for (i, c) in unowned.iter().enumerate() {
            if unowned_left[i] {
                unpackaged.push(*c);
            }
        }
        metas.push((UNPACKAGED, unpackaged, true));
        metas
            .into_iter()
            .map(|(name, members, dedicated)| {
                let size: u64 = members.iter().map(|c| c.size).sum();
                let small = name != UNPACKAGED && size < DEDICATED_MIN;
                Pkg {
                    name,
                    weeks: weeks_changed(&members, input),
                    members: members.iter().map(|c| c.name.as_str()).collect(),
                    size,
                    dedicated: dedicated && !small,
                }
            })
            .collect()
    }

    /// hhd's `prefill_layers` after the dedicated layers: fine layers, then seeded greedy
    /// layers up to `fill_size` each, within `room` layers. Returns the packages left (in
    /// order) and the layers.
    fn prefill(&self, pkgs: &[Pkg], room: usize, fill_size: u64) -> (Vec<usize>, Vec<Bin>) {
        let mut alive: Vec<bool> = pkgs.iter().map(|p| !p.dedicated).collect();
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
            // The packages ran out mid-layer: hhd appends the layer being filled.
            bins.push(curr);
        }
        let todo = (0..pkgs.len()).filter(|&i| alive[i]).collect();
        (todo, bins)
    }
}

/// The meta.yml group a package called `name` belongs to, if any.
fn group_of<'g>(groups: &'g [MetaGroup], name: &str) -> Option<&'g str> {
    groups
        .iter()
        .find(|g| {
            g.packages
                .iter()
                .copied()
                .chain([g.name])
                .any(|pat| fnmatch(pat, name))
        })
        .map(|g| g.name)
}

/// The path meta.yml's file patterns see for unowned content: a big file's own path, the
/// initramfs's usual place; none for the rest (it goes to `unpackaged`).
fn unowned_path(c: &Component) -> Option<&str> {
    match c.kind {
        ComponentKind::BigFile => Some(c.name.strip_prefix("file:").unwrap_or(&c.name)),
        ComponentKind::Initramfs => Some(INITRAMFS_PATH),
        _ => None,
    }
}

/// Python's `fnmatch.fnmatchcase`, which meta.yml's patterns go through: `*`, `?`, `[...]`.
fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class_end(&p, pi) {
                Some(end) => in_class(&p[pi + 1..end], n[ni]).then_some(end + 1),
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Index of the `]` closing the class opened at `open`, if any.
fn class_end(p: &[char], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if p.get(i) == Some(&'!') {
        i += 1;
    }
    if p.get(i) == Some(&']') {
        i += 1;
    }
    (i..p.len()).find(|&j| p[j] == ']')
}

fn in_class(class: &[char], c: char) -> bool {
    let (negate, body) = match class.first() {
        Some('!') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    hit != negate
}

/// hhd's update vector of one meta package: weeks with a change in the year before
/// `input.now`, pooled over its members.
fn weeks_changed(members: &[&Component], input: &PlanInput) -> u64 {
    let mut entries = 0;
    let mut stand_in = false;
    let mut dates = Vec::new();
    for c in members {
        match signal::evidence(c, input) {
            Evidence::Changelog(times) => {
                entries += times.len();
                dates.extend_from_slice(times);
            }
            Evidence::Unknown => {}
            found => {
                stand_in = true;
                dates.extend(found.stand_in_dates(input.now).unwrap_or_default());
            }
        }
    }
    if !stand_in && entries <= 2 {
        // hhd: "Some packages have no changelog, assume they always update".
        return ALL_WEEKS;
    }
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

/// The previous plan over the meta packages: the dedicated ones it holds on their own layers,
/// the packages it does not hold (in order), and its other layers padded with empty ones to the
/// budget. `None` when it holds nothing known or does not fit the budget.
fn previous_bins(
    previous: &Plan,
    pkgs: &[Pkg],
    groups: &[MetaGroup],
    budget: usize,
) -> Option<(Vec<usize>, Vec<usize>, Vec<Bin>)> {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in pkgs.iter().enumerate() {
        for m in &p.members {
            index.entry(m).or_insert(i);
        }
    }
    for (i, p) in pkgs.iter().enumerate() {
        index.entry(p.name).or_insert(i);
    }
    let mut placed = BTreeSet::new();
    let mut dedicated = Vec::new();
    let mut bins = Vec::new();
    for layer in &previous.layers {
        let mut bin = Bin::default();
        for name in &layer.components {
            // A component gone since names its meta package through meta.yml's patterns.
            let found = index
                .get(name.as_str())
                .or_else(|| group_of(groups, name).and_then(|g| index.get(g)));
            let Some(&i) = found else {
                continue;
            };
            if !placed.insert(i) {
                continue;
            }
            if pkgs[i].dedicated {
                dedicated.push(i);
            } else {
                bin.add(i, &pkgs[i]);
            }
        }
        if !bin.members.is_empty() {
            bins.push(bin);
        }
    }
    let room = budget.checked_sub(dedicated.len())?;
    if placed.is_empty() || bins.len() > room || room == 0 {
        return None;
    }
    bins.resize_with(room, Bin::default);
    let todo = (0..pkgs.len()).filter(|i| !placed.contains(i)).collect();
    Some((dedicated, todo, bins))
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
    fn fnmatch_follows_python() {
        assert!(fnmatch("kernel*", "kernel-modules-core"));
        assert!(fnmatch("*-firmware*", "amd-gpu-firmware"));
        assert!(fnmatch("*-firmware*", "linux-firmware") && !fnmatch("*-firmware*", "firmware"));
        assert!(fnmatch("linux-firmware*", "linux-firmware"));
        assert!(fnmatch("mingw*-lib*", "mingw64-libgcc"));
        assert!(fnmatch("f*-backgrounds-*", "f40-backgrounds-gnome"));
        assert!(fnmatch("git", "git") && !fnmatch("git", "git-core"));
        assert!(fnmatch("a?c", "abc") && !fnmatch("a?c", "ac"));
        assert!(fnmatch("[!a]b", "xb") && !fnmatch("[!a]b", "ab"));
        assert!(fnmatch("[a-c]x", "bx") && fnmatch("x[", "x["));
    }

    #[test]
    fn meta_yml_groups_packages_and_dedicates_the_big_groups() {
        let mb = 1_000_000;
        let mut comps = vec![
            pkg("kernel-core", 40 * mb, &[1, 2, 3]),
            pkg("kmod-foo", 2 * mb, &[4, 5, 6]),
            pkg("systemd", 5 * mb, &[1, 2, 3]),
            pkg("systemd-libs", 2 * mb, &[7, 8, 9]),
            pkg("bash", 3 * mb, &[1, 2, 3]),
            Component::new("initramfs", ComponentKind::Initramfs, "x", 70 * mb),
            Component::new("unpackaged:/etc", ComponentKind::Unpackaged, "x", mb),
        ];
        comps.sort_by(|a, b| a.name.cmp(&b.name));
        let history = ChangeHistory::default();
        let input = PlanInput {
            components: &comps,
            now: W1 + 20 * WEEK,
            history: &history,
            previous: None,
            max_layers: 8,
        };
        let metas = HhdRechunk::default().meta_packages(&input);
        let names: Vec<(&str, Vec<&str>, bool)> = metas
            .iter()
            .map(|m| (m.name, m.members.clone(), m.dedicated))
            .collect();
        // meta.yml order: initramfs, kernel (kernel* and kmod*), systemd (7 MB: shared,
        // meta.yml says so anyway); then bash alone; unpackaged last, always dedicated.
        assert_eq!(
            names,
            vec![
                ("initramfs", vec!["initramfs"], true),
                ("kernel", vec!["kernel-core", "kmod-foo"], true),
                ("systemd", vec!["systemd", "systemd-libs"], false),
                ("bash", vec!["bash"], false),
                ("unpackaged", vec!["unpackaged:/etc"], true),
            ]
        );
        // The group's weeks are its members' together.
        assert_eq!(metas[2].weeks, 0b1_1100_0111);
        let plan = HhdRechunk::default().plan(&input).unwrap_or_default();
        assert_eq!(plan.validate(&comps, 8), Ok(()));
        let layers: Vec<Vec<String>> = plan.layers.into_iter().map(|l| l.components).collect();
        assert_eq!(
            layers[..3],
            [
                vec!["initramfs"],
                vec!["kernel-core", "kmod-foo"],
                vec!["unpackaged:/etc"]
            ]
        );
        assert!(layers.contains(&vec!["systemd".to_string(), "systemd-libs".into()]));
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
        assert_eq!(weeks_changed(&[&c], &input), ALL_WEEKS);
    }
}
