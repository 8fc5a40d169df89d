//! `rpm-ostree`: a faithful reimplementation of ostree-ext's chunker (`chunking.rs`,
//! `basic_packing` and `basic_packing_with_prior_build`, today in the bootc repository), what
//! `rpm-ostree compose build-chunked-oci` and `rpm-ostree compose container-encapsulate` ship.
//! Checked layer for layer against the original's output (`tests/data/peers/`).
//!
//! Without a previous plan, for `n` bins:
//! - fewer components than bins: one bin each, plus the empty bin for new packages;
//! - "max frequency" components (unowned content: initramfs, unpackaged files, rpmdb) share
//!   one bin;
//! - one empty bin is reserved for packages added later;
//! - the rest is classified by size with median ± 2·MAD: the largest (≥ median + 2·MAD, at most
//!   60% of the other `n − 3` bins) get a bin each, the smallest (≤ ½·|median − 2·MAD|) share
//!   one bin; everything else is bucketed by change frequency × size (mean ± 2σ, population
//!   σ, buckets in the order high/medium/low frequency), cut into runs of `pkg_per_bin_ms`
//!   packages, and pairs of runs are merged from the end until the bins fit.
//!
//! `pkg_per_bin_ms` = (components − high-size bin limit − small ones) / medium bins is an
//! unsigned subtraction in ostree-ext; when components ≈ bins it goes below zero, which a
//! release build (what rpm-ostree ships: no overflow checks) wraps to a huge count, so each
//! frequency × size bucket becomes one run. This port wraps the same way.
//!
//! With a previous plan (`prior=chain`) the old layers are kept by package name, removed
//! packages dropped, every new package appended to the last layer (the reserved one), and the
//! layers left empty dropped except that last one, exactly as ostree-ext does; when the kept
//! layers exceed the budget the plan is recomputed.
//!
//! Previous-plan policy, as deployed (`prior`, `chain_from`; see `prior.rs`):
//! - `rpm-ostree` plans every build from scratch (`prior=none`): what `build-chunked-oci` did
//!   until it learned to read the previous build (rpm-ostree #5302, #5434 in 2025, `--previous-build`
//!   in #5548, 2026) and what any build without `--previous-build-manifest` gets;
//! - `rpm-ostree+prior` chains plans from 2023-07-18 (`prior=chain chain_from=2023-07-18`): the
//!   Fedora CoreOS pipeline passes the previous build's manifest to `container-encapsulate`
//!   from coreos-assembler commit 04ae58a (2023-07-18) until it was dropped in ec1c6d6
//!   (2025-08), the only long-running use of the option.
//!
//! Change frequency is rpm-ostree's: the number of changelog entries within 365 days of the
//! newest build time in the image. Without a changelog the shared fallback of
//! [`crate::signal::evidence`] stands in (the number of stand-in dates), and with no evidence at
//! all the frequency is 0, as for a package without changelog entries.
//!
//! Deviations, all on inputs where ostree-ext refuses or panics: budgets below 4 (ostree-ext's
//! minimum, an error) give one layer holding everything; an empty medium partition skips the
//! frequency buckets (ostree-ext panics on the `expect`); a previous plan naming one package
//! twice keeps it in its first layer (ostree-ext fails an assertion); bin-count arithmetic
//! other than `pkg_per_bin_ms` saturates instead of underflowing (unreachable for n ≥ 4).

use std::collections::{BTreeMap, BTreeSet};

use rechunk_model::{Component, Layer, Plan, PlanInput, Timestamp};

use crate::prior::{ChainStart, Prior, PriorPolicy};
use crate::registry::{check, ParamReader, Params};
use crate::signal::{self, Evidence, YEAR};
use crate::stats;
use crate::{ParamSpec, Strategy, StrategyError};

/// ostree-ext's packer with its two tunables and its previous-plan policy.
#[derive(Clone, Debug)]
pub struct RpmOstree {
    /// Registry name of this variant (`rpm-ostree`, `rpm-ostree+prior`).
    pub variant: &'static str,
    /// MAD / σ multiplier of the size and frequency classes (ostree-ext: 2).
    pub threshold: f64,
    /// Share of the non-reserved bins given to high-size singletons (ostree-ext: 0.6).
    pub high_size_share: f64,
    /// Whether, and from when, the previous build's plan is kept.
    pub prior: PriorPolicy,
}

/// The date the Fedora CoreOS pipeline started passing `--previous-build-manifest`
/// (coreos-assembler 04ae58a).
pub const FCOS_PRIOR_FROM: Timestamp = 1_689_638_400; // 2023-07-18

/// One component as ostree-ext sees it.
#[derive(Clone, Copy, Debug)]
struct Item<'a> {
    name: &'a str,
    size: u64,
    /// `u32::MAX` marks content that changes on every build.
    frequency: u32,
}

/// ostree-ext's minimum for a chunked image; below it everything goes in one layer.
const MIN_CHUNKED_LAYERS: usize = 4;
const LOW_PARTITION: &str = "2ls";
const HIGH_PARTITION: &str = "1hs";

impl Default for RpmOstree {
    fn default() -> Self {
        RpmOstree {
            variant: "rpm-ostree",
            threshold: 2.0,
            high_size_share: 0.6,
            prior: PriorPolicy::NONE,
        }
    }
}

impl RpmOstree {
    /// `rpm-ostree+prior`: plans chained from the date the FCOS pipeline started.
    pub fn with_prior() -> Self {
        RpmOstree {
            variant: "rpm-ostree+prior",
            prior: PriorPolicy {
                prior: Prior::Chain,
                chain_from: ChainStart::Date(FCOS_PRIOR_FROM),
            },
            ..RpmOstree::default()
        }
    }

    /// `defaults` with `params` applied.
    pub fn from_params_over(defaults: RpmOstree, params: &Params) -> Result<Self, StrategyError> {
        let d = defaults;
        let mut r = ParamReader::new(d.variant, params);
        let s = RpmOstree {
            variant: d.variant,
            threshold: r.get("threshold", d.threshold, check::positive_f64)?,
            high_size_share: r.get("high_size_share", d.high_size_share, check::fraction)?,
            prior: PriorPolicy {
                prior: r.get("prior", d.prior.prior, check::any)?,
                chain_from: r.get("chain_from", d.prior.chain_from, check::any)?,
            },
        };
        r.finish()?;
        Ok(s)
    }

    pub fn from_params(params: &Params) -> Result<Self, StrategyError> {
        Self::from_params_over(RpmOstree::default(), params)
    }
}

impl Strategy for RpmOstree {
    fn name(&self) -> &'static str {
        self.variant
    }
    fn description(&self) -> &'static str {
        if self.prior.prior == Prior::None {
            "ostree-ext's chunker: size outliers by median+MAD, frequency x size buckets, every build planned afresh"
        } else {
            "ostree-ext's chunker with --previous-build-manifest: the plan frozen from chain_from on"
        }
    }
    fn is_peer(&self) -> bool {
        true
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "threshold",
                self.threshold,
                "MAD and standard-deviation multiplier of the size and frequency classes",
            ),
            ParamSpec::new(
                "high_size_share",
                self.high_size_share,
                "share of the non-reserved bins given to the largest packages, one each",
            ),
            ParamSpec::new(
                "prior",
                self.prior.prior,
                "none: every build planned afresh; chain: keep the previous build's plan",
            ),
            ParamSpec::new(
                "chain_from",
                self.prior.chain_from,
                "with prior=chain: start, year, or the first build date YYYY-MM-DD it applies to",
            ),
        ]
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        if input.max_layers == 0 {
            return Err(StrategyError::ZeroBudget);
        }
        if input.components.is_empty() {
            return Ok(Plan::default());
        }
        if input.max_layers < MIN_CHUNKED_LAYERS {
            let names = input.components.iter().map(|c| c.name.clone());
            return Ok(Plan::new(vec![Layer::new(names)]));
        }
        if let Some(previous) = self.prior.previous(input) {
            if let Some(kept) = keep_previous(previous, input.components, input.max_layers) {
                return Ok(kept);
            }
        }
        let items = items(input);
        let bins = self.basic_packing(&items, input.max_layers);
        Ok(to_plan(bins))
    }
}

/// Components sorted as ostree-ext receives them: size descending (ties by name).
fn items<'a>(input: &PlanInput<'a>) -> Vec<Item<'a>> {
    let newest = signal::newest_build_time(input.components);
    let mut items: Vec<Item> = input
        .components
        .iter()
        .map(|c| Item {
            name: &c.name,
            size: c.size,
            frequency: frequency(c, newest, input),
        })
        .collect();
    items.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(b.name)));
    items
}

/// rpm-ostree's change frequency, with the shared fallback (see the module doc).
fn frequency(c: &Component, newest: Option<Timestamp>, input: &PlanInput) -> u32 {
    if !signal::is_packaged(c.kind) {
        return u32::MAX;
    }
    let count = match signal::evidence(c, input) {
        Evidence::Changelog(times) => {
            let newest = newest.or(c.build_time).unwrap_or(input.now);
            signal::count_between(times, newest - YEAR, Timestamp::MAX)
        }
        Evidence::Observed(dates) => dates.len(),
        Evidence::Count(count) => return count,
        Evidence::Unknown => 0,
    };
    u32::try_from(count).unwrap_or(u32::MAX - 1)
}

/// ostree-ext's `basic_packing_with_prior_build`: the old layers by name, new components
/// appended to the last layer, removed ones dropped, then the layers left empty dropped except
/// the last. `None` when the old plan has no layers or its kept layers exceed the budget (the
/// plan is then recomputed). A name the old plan repeats stays in its first layer (ostree-ext
/// fails an assertion).
fn keep_previous(previous: &Plan, components: &[Component], budget: usize) -> Option<Plan> {
    let current: BTreeSet<&str> = components.iter().map(|c| c.name.as_str()).collect();
    let mut before: BTreeSet<&str> = BTreeSet::new();
    let mut layers: Vec<Layer> = previous
        .layers
        .iter()
        .map(|l| {
            let kept = l.components.iter().filter(|n| {
                let first = before.insert(n.as_str());
                first && current.contains(n.as_str())
            });
            Layer::new(kept.cloned().collect::<Vec<_>>())
        })
        .collect();
    let added = current.difference(&before).map(|n| n.to_string());
    layers.last_mut()?.components.extend(added);
    let last = layers.len() - 1;
    let layers: Vec<Layer> = layers
        .into_iter()
        .enumerate()
        .filter(|(i, l)| !l.components.is_empty() || *i == last)
        .map(|(_, l)| l)
        .collect();
    (layers.len() <= budget).then(|| Plan::new(layers))
}

fn to_plan(bins: Vec<Vec<Item>>) -> Plan {
    Plan::new(
        bins.into_iter()
            .map(|bin| Layer::new(bin.into_iter().map(|i| i.name.to_string())))
            .collect(),
    )
}

impl RpmOstree {
    /// ostree-ext's `basic_packing` without a prior build. `items` is size-descending.
    fn basic_packing<'a>(&self, items: &[Item<'a>], bin_size: usize) -> Vec<Vec<Item<'a>>> {
        if items.len() < bin_size {
            let mut r: Vec<Vec<Item>> = items.iter().map(|i| vec![*i]).collect();
            r.push(Vec::new());
            return r;
        }
        let (components, max_freq): (Vec<Item>, Vec<Item>) =
            items.iter().partition(|i| i.frequency != u32::MAX);
        let mut r: Vec<Vec<Item>> = Vec::new();
        let limit_new_bins = 1;
        let limit_max_frequency_bins = max_freq.len().min(1);
        if !components.is_empty() {
            let limit_ls_bins = 1;
            let reserved = limit_ls_bins + limit_new_bins + limit_max_frequency_bins;
            let limit_hs_bins =
                (self.high_size_share * bin_size.saturating_sub(reserved) as f64).floor() as usize;
            let limit_ms_bins = bin_size.saturating_sub(limit_hs_bins + reserved).max(1);
            let partitions = self.partitions(&components, limit_hs_bins);
            let low_count = partitions.get(LOW_PARTITION).map_or(0, Vec::len);
            // Unsigned and unchecked in ostree-ext: wraps in a release build (module doc).
            let pkg_per_bin_ms = components
                .len()
                .wrapping_sub(limit_hs_bins)
                .wrapping_sub(low_count)
                / limit_ms_bins;
            for (name, pkgs) in &partitions {
                if name == HIGH_PARTITION {
                    r.extend(pkgs.iter().map(|p| vec![*p]));
                } else if name == LOW_PARTITION {
                    r.push(pkgs.clone());
                } else {
                    cut_into_runs(pkgs, pkg_per_bin_ms, &mut r);
                }
            }
            let fit = bin_size - limit_new_bins - limit_max_frequency_bins;
            merge_from_end(&mut r, fit, limit_ls_bins + limit_hs_bins);
        }
        if !max_freq.is_empty() {
            r.push(max_freq);
        }
        r.push(Vec::new());
        r
    }

    /// ostree-ext's `get_partitions_with_threshold`: named partitions, in name order
    /// (`1hs`, `2ls`, `3hf_*`, `4mf_*`, `5lf_*`).
    fn partitions<'a>(
        &self,
        components: &[Item<'a>],
        limit_hs_bins: usize,
    ) -> BTreeMap<String, Vec<Item<'a>>> {
        let mut partitions: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        let sizes: Vec<f64> = components.iter().map(|c| c.size as f64).collect();
        let (median, mad) = stats::median_and_mad(&sizes);
        let t = self.threshold;
        let size_low_limit = 0.5 * (median - t * mad).abs();
        let size_high_limit = median + t * mad;
        let mut high_size = Vec::new();
        let mut med_size = Vec::new();
        for pkg in components {
            let size = pkg.size as f64;
            if size >= size_high_limit {
                high_size.push(*pkg);
            } else if size <= size_low_limit {
                partitions
                    .entry(LOW_PARTITION.to_string())
                    .or_default()
                    .push(*pkg);
            } else {
                med_size.push(*pkg);
            }
        }
        let mut remaining: Vec<Item> = if high_size.len() > limit_hs_bins {
            high_size.split_off(limit_hs_bins)
        } else {
            Vec::new()
        };
        remaining.append(&mut med_size);
        partitions.insert(HIGH_PARTITION.to_string(), high_size);
        // Stable sort: within one frequency the size-descending order is kept.
        remaining.sort_by_key(|p| p.frequency);
        if remaining.is_empty() {
            return partitions;
        }
        let freqs: Vec<f64> = remaining.iter().map(|p| f64::from(p.frequency)).collect();
        let sizes: Vec<f64> = remaining.iter().map(|p| p.size as f64).collect();
        let (freq_mean, freq_sd) = stats::mean_and_population_sd(&freqs);
        let (size_mean, size_sd) = stats::mean_and_population_sd(&sizes);
        let freq_low = 0.5 * (freq_mean - t * freq_sd).abs();
        let freq_high = freq_mean + t * freq_sd;
        let size_low = 0.5 * (size_mean - t * size_sd).abs();
        let size_high = size_mean + t * size_sd;
        for pkg in remaining {
            let (size, freq) = (pkg.size as f64, f64::from(pkg.frequency));
            let size_name = class(size, size_low, size_high, ["hs", "ms", "ls"]);
            let freq_name = class(freq, freq_low, freq_high, ["3hf", "4mf", "5lf"]);
            partitions
                .entry(format!("{freq_name}_{size_name}"))
                .or_default()
                .push(pkg);
        }
        partitions
    }
}

/// `names[0]` at or above `high`, `names[2]` at or below `low`, else `names[1]`.
fn class(v: f64, low: f64, high: f64, names: [&'static str; 3]) -> &'static str {
    if v >= high {
        names[0]
    } else if v <= low {
        names[2]
    } else {
        names[1]
    }
}

/// Cuts one medium partition into runs of `per_bin` packages, as ostree-ext does (with
/// `per_bin` 0 it emits an empty run before each package; the merge step absorbs them).
fn cut_into_runs<'a>(pkgs: &[Item<'a>], per_bin: usize, r: &mut Vec<Vec<Item<'a>>>) {
    let mut bin: Vec<Item> = Vec::new();
    for (i, pkg) in pkgs.iter().enumerate() {
        if bin.len() < per_bin {
            bin.push(*pkg);
        } else {
            r.push(std::mem::take(&mut bin));
            bin.push(*pkg);
        }
        if i == pkgs.len() - 1 && !bin.is_empty() {
            r.push(std::mem::take(&mut bin));
        }
    }
}

/// ostree-ext's fold: while there are more than `fit` bins, merge pairs of neighbouring bins
/// walking from the end, never touching the first `start - 1` bins (high-size and low-size).
fn merge_from_end(r: &mut Vec<Vec<Item>>, fit: usize, start: usize) {
    while r.len() > fit {
        let end = r.len().saturating_sub(1);
        if start >= end {
            // ostree-ext would loop forever here; merge the last two bins instead.
            let last = r.pop().unwrap_or_default();
            match r.last_mut() {
                Some(prev) => prev.extend(last),
                None => r.push(last),
            }
            continue;
        }
        for i in (start..end).step_by(2).rev() {
            if r.len() <= fit {
                break;
            }
            let curr = r.remove(i);
            let mut merged = r.remove(i - 1);
            merged.extend(curr);
            r.insert(i.min(r.len()), merged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, ComponentKind};

    /// ostree-ext's `test_advanced_packing` input: (pkg number, change frequency, size).
    const V0: &[(u32, u32, u64)] = &[
        (1, u32::MAX, 100000),
        (2, u32::MAX, 99999),
        (3, 30, 99998),
        (4, 100, 99997),
        (10, 51, 1000),
        (8, 50, 500),
        (9, 1, 200),
        (11, 100000, 199),
        (6, 30, 2),
        (7, 30, 1),
    ];

    fn pkg(n: u32, freq: u32, size: u64, version: &str) -> Component {
        let mut c = Component::new(format!("pkg{n}"), ComponentKind::Package, version, size);
        c.change_frequency = Some(freq);
        c
    }

    fn plan(components: &[Component], previous: Option<&Plan>) -> Vec<Vec<String>> {
        let mut sorted = components.to_vec();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let history = ChangeHistory::default();
        let input = PlanInput {
            components: &sorted,
            now: 0,
            history: &history,
            previous,
            max_layers: 6,
        };
        let chained = RpmOstree {
            prior: PriorPolicy {
                prior: Prior::Chain,
                chain_from: ChainStart::Start,
            },
            ..RpmOstree::default()
        };
        let p = chained.plan(&input).unwrap_or_default();
        assert_eq!(p.validate(&sorted, 6), Ok(()));
        p.layers.into_iter().map(|l| l.components).collect()
    }

    fn layers(expected: &[&[&str]]) -> Vec<Vec<String>> {
        expected
            .iter()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn reproduces_ostree_ext_advanced_packing() {
        let v0: Vec<Component> = V0.iter().map(|&(n, f, s)| pkg(n, f, s, "0")).collect();
        let p0 = plan(&v0, None);
        assert_eq!(
            p0,
            layers(&[
                &["pkg3"],
                &["pkg4"],
                &["pkg6", "pkg7", "pkg11"],
                &["pkg9", "pkg8", "pkg10"],
                &["pkg1", "pkg2"],
                &[],
            ])
        );

        // Step 2: pkg1 updated, pkg7 removed, pkg5 added: the old plan is kept by name.
        let mut v1 = v0.clone();
        v1[0].version = "1".into();
        v1.retain(|c| c.name != "pkg7");
        v1.push(pkg(5, 42, 100000, "0"));
        let prev0 = Plan::new(p0.iter().map(|l| Layer::new(l.clone())).collect());
        let p1 = plan(&v1, Some(&prev0));
        assert_eq!(
            p1,
            layers(&[
                &["pkg3"],
                &["pkg4"],
                &["pkg6", "pkg11"],
                &["pkg9", "pkg8", "pkg10"],
                &["pkg1", "pkg2"],
                &["pkg5"],
            ])
        );

        // Step 3: pkg12 added joins the last bin.
        let mut v2 = v1.clone();
        v2.push(pkg(12, 42, 100000, "0"));
        let prev1 = Plan::new(p1.iter().map(|l| Layer::new(l.clone())).collect());
        let p2 = plan(&v2, Some(&prev1));
        assert_eq!(p2.last(), Some(&vec!["pkg5".to_string(), "pkg12".into()]));
    }

    #[test]
    fn default_plans_afresh_and_the_prior_variant_keeps_its_plan() {
        let v0: Vec<Component> = V0.iter().map(|&(n, f, s)| pkg(n, f, s, "0")).collect();
        let mut sorted = v0.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let odd = Plan::new(vec![
            Layer::new(sorted.iter().map(|c| c.name.clone())),
            Layer::default(),
        ]);
        let history = ChangeHistory {
            builds: vec![FCOS_PRIOR_FROM - 7 * rechunk_model::DAY, FCOS_PRIOR_FROM],
            ..ChangeHistory::default()
        };
        let input = PlanInput {
            components: &sorted,
            now: FCOS_PRIOR_FROM,
            history: &history,
            previous: Some(&odd),
            max_layers: 6,
        };
        let fresh = RpmOstree::default().plan(&input).unwrap_or_default();
        assert_eq!(fresh.len(), 6, "prior=none ignores the previous plan");
        // The previous build is a week before the FCOS start date: still planned afresh.
        let early = RpmOstree::with_prior().plan(&input).unwrap_or_default();
        assert_eq!(early, fresh);
        let history = ChangeHistory {
            builds: vec![FCOS_PRIOR_FROM, FCOS_PRIOR_FROM + 7 * rechunk_model::DAY],
            ..ChangeHistory::default()
        };
        let later = PlanInput {
            history: &history,
            now: FCOS_PRIOR_FROM + 7 * rechunk_model::DAY,
            ..input
        };
        let kept = RpmOstree::with_prior().plan(&later).unwrap_or_default();
        assert_eq!(kept, odd);
    }

    #[test]
    fn frequency_counts_changelog_year_before_newest_build() {
        let day = rechunk_model::DAY;
        let mut a = Component::new("a", ComponentKind::Package, "1", 1);
        a.build_time = Some(1000 * day);
        a.changelog_times = vec![999 * day, 700 * day, 600 * day, 100 * day];
        let mut b = Component::new("b", ComponentKind::Package, "1", 1);
        b.build_time = Some(500 * day);
        let mut h = ChangeHistory {
            builds: vec![0, 900 * day, 1000 * day],
            ..ChangeHistory::default()
        };
        h.changes.insert("b".into(), vec![900 * day, 1000 * day]);
        let comps = vec![a, b];
        let input = PlanInput {
            components: &comps,
            now: 1000 * day,
            history: &h,
            previous: None,
            max_layers: 8,
        };
        let newest = signal::newest_build_time(&comps);
        // 999, 700 are within 365 days of day 1000; 600 and 100 are not.
        assert_eq!(frequency(&comps[0], newest, &input), 2);
        // No changelog, no contentmeta count: two observed changes this year.
        assert_eq!(frequency(&comps[1], newest, &input), 2);
        let unpackaged = Component::new("u", ComponentKind::Unpackaged, "x", 1);
        assert_eq!(frequency(&unpackaged, newest, &input), u32::MAX);
    }
}
