//! The change model of `cluster`: per-unit change records over a window of recent builds,
//! decay weights, priors, and the probability that a set of units changes at the next build.

use std::collections::{BTreeMap, HashMap};

use rechunk_model::{Component, PlanInput, Timestamp, DAY};

use crate::signal::{self, YEAR};

/// What a prior rate is expressed over when no build interval can be measured.
const DEFAULT_BUILD_INTERVAL: Timestamp = 7 * DAY;
/// Prior change probability of unowned content (config directories, big files) per build.
const UNOWNED_PRIOR: f64 = 0.5;
/// Prior of a package nothing is known about, when the history gives no average either.
const UNKNOWN_PRIOR: f64 = 0.1;

/// Tunables of the estimate (see the module doc of `cluster`).
#[derive(Clone, Copy, Debug)]
pub struct ModelParams {
    pub half_life_builds: f64,
    pub prior_builds: f64,
    pub window_builds: usize,
    /// 1/shape of the gamma-distributed intensity shared by the priors of one update (0: the
    /// priors are independent).
    pub prior_dispersion: f64,
}

/// Decay weights over the window and the lookup tables that sum them over a bitset.
#[derive(Clone, Debug)]
pub struct Model {
    /// u64 words per change bitset.
    pub words: usize,
    /// `tables[k][b]`: weight of the builds whose bits are set in byte `b` at byte position `k`.
    tables: Vec<[f64; 256]>,
    /// Total observed weight plus the prior's: the denominator of every empirical rate.
    denom: f64,
    /// Total weight of builds that carry change information.
    observed: f64,
    /// Weight of builds after each window position (for units first seen there).
    weight_after: Vec<f64>,
    /// Share of changelog activity that reaches this image ([`super::calibrate`]): scales
    /// every changelog-based prior.
    pub changelog_share: f64,
    /// See [`ModelParams::prior_dispersion`].
    dispersion: f64,
}

/// Units a plan places: the components of one source package (they change together), or one
/// unowned component.
#[derive(Clone, Debug)]
pub struct Unit<'a> {
    pub members: Vec<&'a str>,
    pub size: u64,
    /// Window builds at which any member changed.
    pub bits: Vec<u64>,
    /// ln(1 − ε), the prior part of the change probability (for unobserved builds), as a
    /// summable term: minus the unit's hazard, which with `prior_dispersion` d > 0 is
    /// ((1 − ε)^(−d) − 1) / d (see [`Model::keep`]).
    pub ln_keep: f64,
    /// Changes on every build whatever happens (rpmdb, initramfs).
    pub certain: bool,
}

impl Model {
    /// Weights `0.5^(age / half_life)` for the last `window_builds` builds of the history; the
    /// history's first build carries no change information and gets none.
    pub fn new(input: &PlanInput, p: &ModelParams) -> (Self, usize) {
        let builds = input.history.builds.len();
        let len = builds.min(p.window_builds);
        let start = builds - len;
        let words = len.div_ceil(64).max(1);
        let mut weights = vec![0.0; words * 64];
        for (t, w) in weights.iter_mut().enumerate().take(len) {
            if start + t == 0 {
                continue;
            }
            let age = (len - 1 - t) as f64;
            *w = 0.5f64.powf(age / p.half_life_builds);
        }
        let tables = (0..words * 8)
            .map(|k| {
                let mut table = [0.0; 256];
                for (b, slot) in table.iter_mut().enumerate() {
                    *slot = (0..8)
                        .filter(|bit| b & (1 << bit) != 0)
                        .map(|bit| weights[k * 8 + bit])
                        .sum();
                }
                table
            })
            .collect();
        let observed: f64 = weights.iter().sum();
        let mut weight_after = vec![0.0; len + 1];
        for t in (0..len).rev() {
            weight_after[t] = weight_after[t + 1] + weights[t];
        }
        let model = Model {
            words,
            tables,
            denom: (observed + p.prior_builds).max(1e-12),
            observed,
            weight_after,
            changelog_share: super::calibrate::changelog_share(input, |c| changelog_rate(c, input)),
            dispersion: p.prior_dispersion.max(0.0),
        };
        (model, start)
    }

    /// Weighted share of observed builds in `bits`, shrunk toward zero by the prior weight.
    pub fn rate(&self, bits: &[u64]) -> f64 {
        let mut sum = 0.0;
        for (w, &word) in bits.iter().enumerate() {
            if word == 0 {
                continue;
            }
            for byte in 0..8 {
                let b = ((word >> (byte * 8)) & 0xff) as usize;
                sum += self.tables[w * 8 + byte][b];
            }
        }
        sum / self.denom
    }

    /// [`Model::rate`] of the union of two bitsets.
    pub fn rate_or(&self, a: &[u64], b: &[u64]) -> f64 {
        let mut sum = 0.0;
        for (w, (&x, &y)) in a.iter().zip(b).enumerate() {
            let word = x | y;
            if word == 0 {
                continue;
            }
            for byte in 0..8 {
                let v = ((word >> (byte * 8)) & 0xff) as usize;
                sum += self.tables[w * 8 + byte][v];
            }
        }
        sum / self.denom
    }

    /// Contribution of window build `t` alone to a rate.
    pub fn bit_rate(&self, t: usize) -> f64 {
        self.weight(t) / self.denom
    }

    /// Weight of the single window build `t`.
    pub fn weight(&self, t: usize) -> f64 {
        self.weight_after[t] - self.weight_after[t + 1]
    }

    /// P(at least one change) of units with union change bits `bits` and summed `ln_keep`.
    pub fn prob(&self, bits: &[u64], ln_keep: f64, certain: bool) -> f64 {
        if certain {
            1.0
        } else {
            1.0 - (1.0 - self.rate(bits)) * self.keep(ln_keep)
        }
    }

    /// P(no prior-driven change) of units whose [`Unit::ln_keep`] sum to `ln_keep`: with
    /// dispersion d, the units' hazards H = −ln_keep are scaled by an intensity Z shared by
    /// the update, Gamma(1/d, d) (mean 1), so E[e^(−Z·H)] = (1 + d·H)^(−1/d); e^(−H) at d = 0.
    pub fn keep(&self, ln_keep: f64) -> f64 {
        if self.dispersion <= 0.0 {
            ln_keep.exp()
        } else {
            (1.0 - self.dispersion * ln_keep).powf(-1.0 / self.dispersion)
        }
    }

    /// The `ln_keep` of one unit whose own chance of a prior-driven change is `epsilon` (the
    /// inverse of [`Model::keep`], so a unit alone keeps its prior).
    fn ln_keep_of(&self, epsilon: f64) -> f64 {
        let keep = 1.0 - epsilon;
        if self.dispersion <= 0.0 {
            keep.ln()
        } else {
            -(keep.powf(-self.dispersion) - 1.0) / self.dispersion
        }
    }
}

/// Groups `components` into units and estimates each unit's change record.
pub fn units<'a>(
    components: &[&'a Component],
    input: &PlanInput,
    model: &Model,
    start: usize,
) -> Vec<Unit<'a>> {
    let mut groups: BTreeMap<(bool, &str), Vec<&Component>> = BTreeMap::new();
    for c in components {
        let key = if signal::is_packaged(c.kind) {
            (true, c.source_or_name())
        } else {
            (false, c.name.as_str())
        };
        groups.entry(key).or_default().push(c);
    }
    let index = build_index(input, start);
    let interval = signal::typical_build_interval(input.history).unwrap_or(DEFAULT_BUILD_INTERVAL);
    let fallback = average_rate(components, input, model, &index);
    groups
        .into_values()
        .map(|members| unit(&members, input, model, &index, interval, fallback))
        .collect()
}

/// Build date → window position (the last build with that date wins).
fn build_index(input: &PlanInput, start: usize) -> HashMap<Timestamp, usize> {
    input.history.builds[start..]
        .iter()
        .enumerate()
        .map(|(t, &date)| (date, t))
        .collect()
}

fn unit<'a>(
    members: &[&'a Component],
    input: &PlanInput,
    model: &Model,
    index: &HashMap<Timestamp, usize>,
    interval: Timestamp,
    fallback: f64,
) -> Unit<'a> {
    let mut bits = vec![0u64; model.words];
    let mut first_seen: Option<usize> = None;
    let mut seen_before_window = false;
    for c in members {
        for date in input.history.changes_of(&c.name) {
            if let Some(&t) = index.get(date) {
                bits[t / 64] |= 1 << (t % 64);
            }
        }
        match input.history.first_seen.get(&c.name) {
            Some(date) => match index.get(date) {
                Some(&t) => first_seen = Some(first_seen.map_or(t, |f| f.min(t))),
                None => seen_before_window = true,
            },
            None => first_seen = Some(first_seen.unwrap_or(usize::MAX)),
        }
    }
    // Weight of the builds that observed this unit: those after its first appearance.
    let observed = if seen_before_window {
        model.observed
    } else {
        match first_seen {
            Some(t) if t < model.weight_after.len() => model.weight_after[t + 1],
            _ => 0.0,
        }
    };
    let certain = members.iter().any(|c| c.kind.changes_always());
    let prior = members
        .iter()
        .map(|c| prior_rate(c, input, interval, fallback, model.changelog_share))
        .fold(0.0, f64::max);
    let unobserved = (model.denom - observed) / model.denom;
    let epsilon = (prior * unobserved).clamp(0.0, 1.0 - 1e-12);
    Unit {
        members: members.iter().map(|c| c.name.as_str()).collect(),
        size: members.iter().map(|c| c.size).sum(),
        bits,
        ln_keep: model.ln_keep_of(epsilon),
        certain,
    }
}

/// Per-build change probability of a component before looking at the history: from its
/// changelog (distinct change days in the last year), else contentmeta's count, either scaled
/// by the image's `changelog_share`; else the history's average.
fn prior_rate(
    c: &Component,
    input: &PlanInput,
    interval: Timestamp,
    fallback: f64,
    changelog_share: f64,
) -> f64 {
    if c.kind.changes_always() {
        return 1.0;
    }
    if !signal::is_packaged(c.kind) {
        return UNOWNED_PRIOR;
    }
    let Some(per_day) = changelog_rate(c, input) else {
        return fallback;
    };
    1.0 - (-changelog_share * per_day * interval as f64 / DAY as f64).exp()
}

/// Changes per day by the changelog: distinct entry days in the year before the build, else
/// contentmeta's count over a year; `None` with neither.
fn changelog_rate(c: &Component, input: &PlanInput) -> Option<f64> {
    if c.changelog_times.is_empty() {
        return c.change_frequency.map(|f| f64::from(f) / 365.0);
    }
    let newest = c.build_time.unwrap_or(input.now).max(input.now);
    let mut days: Vec<Timestamp> = c
        .changelog_times
        .iter()
        .filter(|&&t| t >= newest - YEAR)
        .map(|t| t.div_euclid(DAY))
        .collect();
    days.sort_unstable();
    days.dedup();
    Some(days.len() as f64 / 365.0)
}

/// The history's weighted change rate over all packaged components it observed.
fn average_rate(
    components: &[&Component],
    input: &PlanInput,
    model: &Model,
    index: &HashMap<Timestamp, usize>,
) -> f64 {
    if !input.history.is_informative() || model.observed <= 0.0 {
        return UNKNOWN_PRIOR;
    }
    let (mut changed, mut seen) = (0.0, 0.0);
    for c in components.iter().filter(|c| signal::is_packaged(c.kind)) {
        for date in input.history.changes_of(&c.name) {
            if let Some(&t) = index.get(date) {
                changed += model.weight(t);
            }
        }
        seen += match input
            .history
            .first_seen
            .get(&c.name)
            .and_then(|d| index.get(d))
        {
            Some(&t) => model.weight_after[t + 1],
            None if input.history.first_seen.contains_key(&c.name) => model.observed,
            None => 0.0,
        };
    }
    if seen > 0.0 {
        (changed / seen).clamp(1e-4, 1.0)
    } else {
        UNKNOWN_PRIOR
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, ComponentKind, Snapshot};

    fn history(versions: &[&[(&str, &str)]]) -> ChangeHistory {
        let snaps: Vec<Snapshot> = versions
            .iter()
            .enumerate()
            .map(|(i, pkgs)| {
                let comps = pkgs
                    .iter()
                    .map(|(n, v)| Component::new(*n, ComponentKind::Package, *v, 100))
                    .collect();
                Snapshot::new(format!("v{i}"), (i as i64 + 1) * DAY, comps)
            })
            .collect();
        ChangeHistory::from_snapshots(&snaps)
    }

    #[test]
    fn empirical_rate_matches_a_hand_count() {
        // a changes at builds 2 and 4 of 5; b never. No decay, no prior: a's rate is 2 of
        // the 4 builds that carry information.
        let h = history(&[
            &[("a", "1"), ("b", "1")],
            &[("a", "2"), ("b", "1")],
            &[("a", "2"), ("b", "1")],
            &[("a", "3"), ("b", "1")],
            &[("a", "3"), ("b", "1")],
        ]);
        let comps = vec![
            Component::new("a", ComponentKind::Package, "3", 100),
            Component::new("b", ComponentKind::Package, "1", 100),
        ];
        let input = PlanInput {
            components: &comps,
            now: 5 * DAY,
            history: &h,
            previous: None,
            max_layers: 2,
        };
        let params = ModelParams {
            half_life_builds: f64::INFINITY,
            prior_builds: 0.0,
            window_builds: 100,
            prior_dispersion: 0.0,
        };
        let (model, start) = Model::new(&input, &params);
        let refs: Vec<&Component> = comps.iter().collect();
        let units = units(&refs, &input, &model, start);
        let pa = model.prob(&units[0].bits, units[0].ln_keep, false);
        let pb = model.prob(&units[1].bits, units[1].ln_keep, false);
        assert!((pa - 0.5).abs() < 1e-12, "{pa}");
        assert!(pb.abs() < 1e-12, "{pb}");
    }

    #[test]
    fn dispersion_keeps_each_prior_and_lowers_the_chance_that_many_change_together() {
        // No history: 100 packages, each with a prior of 0.05 per build.
        let h = ChangeHistory::default();
        let comps: Vec<Component> = (0..100)
            .map(|i| Component::new(format!("p{i}"), ComponentKind::Package, "1", 100))
            .collect();
        let input = PlanInput {
            components: &comps,
            now: DAY,
            history: &h,
            previous: None,
            max_layers: 2,
        };
        let layer_prob = |dispersion: f64| {
            let params = ModelParams {
                half_life_builds: 26.0,
                prior_builds: 2.0,
                window_builds: 128,
                prior_dispersion: dispersion,
            };
            let (model, start) = Model::new(&input, &params);
            let refs: Vec<&Component> = comps.iter().collect();
            let units = units(&refs, &input, &model, start);
            let one = model.prob(&units[0].bits, units[0].ln_keep, false);
            let ln_keep: f64 = units.iter().map(|u| u.ln_keep).sum();
            (one, model.prob(&units[0].bits, ln_keep, false))
        };
        let (one_indep, all_indep) = layer_prob(0.0);
        let (one_disp, all_disp) = layer_prob(1.0);
        // Alone, a unit keeps its prior whatever the dispersion (no history: the fallback 0.1).
        assert!((one_indep - 0.1).abs() < 1e-12, "{one_indep}");
        assert!((one_disp - 0.1).abs() < 1e-12, "{one_disp}");
        // Together: independent, 1 − 0.9^100; with an update intensity shared by all (Gamma,
        // mean 1, variance 1), 1 − 1/(1 + 100 × (1/0.9 − 1)) = 1 − 1/12.1.
        assert!(
            (all_indep - (1.0 - 0.9f64.powi(100))).abs() < 1e-9,
            "{all_indep}"
        );
        assert!(
            (all_disp - (1.0 - 1.0 / (1.0 + 100.0 / 9.0))).abs() < 1e-9,
            "{all_disp}"
        );
    }
}
