//! `chunkah`: coreos/chunkah's packer (`packing.rs` after its statistical-partitioning rewrite)
//! as a peer baseline. Checked layer for layer against the original's output
//! (`tests/data/peers/`).
//!
//! Components are grouped and named as chunkah's components are: `rpm/<source rpm name>` for
//! packages, `xattr/<name>`, `bigfiles/<file name>` for a big unowned file (an initramfs is
//! one), and one `chunkah/unclaimed` for the rest of the unowned content. The name decides the
//! hash bin, and items enter the packer sorted by it. Each binary package gets a stability
//! p = exp(−7λ), λ = distinct changelog days in the last year / days since the oldest of them
//! (0.99 when nothing changed in a year, 0 when the span is under a day); a group takes the
//! lowest of its members', as chunkah does for subpackages; unowned content gets 0 (xattr
//! components read the shared fallback below, where chunkah reads an update interval from the
//! xattr).
//!
//! Packing into `n` layers:
//! 1. if everything fits, one layer per group;
//! 2. size outliers (≥ median + 1.5·MAD; MAD replaced by the median when it is under 1% of it)
//!    get a layer each, at most 80% of the budget less one, the largest first;
//! 3. the rest is split into three stability tiers at mean ± σ (population σ), each tier gets
//!    layers in proportion to its count (at least one), and within a tier a group goes to bin
//!    FNV-1a(name) mod bins; empty bins are filled by moving out the largest group of a
//!    multi-group bin;
//! 4. layers are ordered by combined stability (product), most stable first.
//!
//! chunkah keeps no previous plan (its issue #39 asks for one): the name hash is what keeps
//! bins stable across builds, so this port has no `prior` parameter.
//!
//! Components without changelogs: the shared fallback of [`crate::signal::evidence`] stands in
//! for the changelog (stand-in dates count like changelog dates; none within the year means
//! 0.99); with no evidence at all, chunkah's own rule: the build time counts as one change, and
//! without one the stability is 0.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rechunk_model::{Component, ComponentKind, Layer, Plan, PlanInput, Timestamp, DAY};

use crate::registry::{check, ParamReader, Params};
use crate::signal::{self, Evidence, YEAR};
use crate::stats;
use crate::{ParamSpec, Strategy, StrategyError};

/// chunkah's packer with its tunables.
#[derive(Clone, Debug)]
pub struct Chunkah {
    /// MAD multiplier for size outliers (chunkah: 1.5).
    pub size_threshold: f64,
    /// Largest share of the budget given to size outliers (chunkah: 0.8).
    pub high_size_cap: f64,
    /// Days in the stability period: p = exp(−λ·days) (chunkah: 7).
    pub period_days: f64,
}

/// One group (a source package, or one unowned component).
#[derive(Clone, Debug)]
struct Item<'a> {
    /// chunkah's component name (`rpm/bash`): what is hashed and sorted by.
    name: String,
    members: Vec<&'a str>,
    size: u64,
    stability: f64,
}

/// Indices of items sharing a layer, with the layer's combined stability.
#[derive(Clone, Debug)]
struct Group {
    indices: Vec<usize>,
    stability: f64,
}

impl Default for Chunkah {
    fn default() -> Self {
        Chunkah {
            size_threshold: 1.5,
            high_size_cap: 0.8,
            period_days: 7.0,
        }
    }
}

impl Chunkah {
    pub fn from_params(params: &Params) -> Result<Self, StrategyError> {
        let d = Chunkah::default();
        let mut r = ParamReader::new("chunkah", params);
        let s = Chunkah {
            size_threshold: r.get("size_threshold", d.size_threshold, check::non_negative_f64)?,
            high_size_cap: r.get("high_size_cap", d.high_size_cap, check::fraction)?,
            period_days: r.get("period_days", d.period_days, check::positive_f64)?,
        };
        r.finish()?;
        Ok(s)
    }
}

impl Strategy for Chunkah {
    fn name(&self) -> &'static str {
        "chunkah"
    }
    fn description(&self) -> &'static str {
        "coreos/chunkah: size outliers alone, three stability tiers, FNV name hash into bins"
    }
    fn is_peer(&self) -> bool {
        true
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                "size_threshold",
                self.size_threshold,
                "MAD multiplier above the median size that makes a group a singleton layer",
            ),
            ParamSpec::new(
                "high_size_cap",
                self.high_size_cap,
                "largest share of the layer budget given to singleton layers",
            ),
            ParamSpec::new(
                "period_days",
                self.period_days,
                "stability p = exp(-lambda x period_days), lambda in changes per day",
            ),
        ]
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        if input.max_layers == 0 {
            return Err(StrategyError::ZeroBudget);
        }
        let items = self.items(input);
        let groups = self.pack(&items, input.max_layers);
        Ok(Plan::new(
            groups
                .iter()
                .map(|g| {
                    Layer::new(
                        g.indices
                            .iter()
                            .flat_map(|&i| items[i].members.iter().map(|m| m.to_string())),
                    )
                })
                .collect(),
        ))
    }
}

impl Chunkah {
    /// Source-package groups and unowned components, named and sorted as chunkah does, with
    /// their stability.
    fn items<'a>(&self, input: &PlanInput<'a>) -> Vec<Item<'a>> {
        let mut by_name: BTreeMap<String, Vec<&Component>> = BTreeMap::new();
        for c in input.components {
            by_name.entry(chunkah_name(c)).or_default().push(c);
        }
        by_name
            .into_iter()
            .map(|(name, members)| {
                let stability = members
                    .iter()
                    .map(|c| self.stability(c, input))
                    .fold(f64::INFINITY, f64::min);
                Item {
                    name,
                    members: members.iter().map(|c| c.name.as_str()).collect(),
                    size: members.iter().map(|c| c.size).sum(),
                    stability,
                }
            })
            .collect()
    }

    /// chunkah's `calculate_stability` for one package (or xattr component), with the shared
    /// fallback; 0 for other unowned content, as chunkah gives it.
    fn stability(&self, c: &Component, input: &PlanInput) -> f64 {
        if !signal::is_packaged(c.kind) {
            return 0.0;
        }
        match signal::evidence(c, input) {
            Evidence::Changelog(times) => {
                let mut dates = times.to_vec();
                dates.sort_unstable();
                self.stability_of_dates(&dates, input.now)
            }
            found @ (Evidence::Observed(_) | Evidence::Count(_)) => {
                let dates = found.stand_in_dates(input.now).unwrap_or_default();
                self.stability_of_dates(&dates, input.now)
            }
            Evidence::Unknown => match c.build_time {
                Some(b) => self.stability_of_dates(&[b], input.now),
                None => 0.0,
            },
        }
    }

    /// Stability from sorted change dates: distinct days in the last year over the span.
    fn stability_of_dates(&self, sorted: &[Timestamp], now: Timestamp) -> f64 {
        let start = now - YEAR;
        let recent: Vec<Timestamp> = sorted.iter().copied().filter(|&t| t >= start).collect();
        let mut days: Vec<Timestamp> = recent.iter().map(|t| t.div_euclid(DAY)).collect();
        days.dedup();
        let Some(&oldest) = recent.first() else {
            return 0.99;
        };
        let span_days = (now - oldest).max(0) as f64 / DAY as f64;
        if span_days < 1.0 {
            return 0.0;
        }
        (-(days.len() as f64 / span_days) * self.period_days).exp()
    }

    /// chunkah's `calculate_packing`.
    fn pack(&self, items: &[Item], budget: usize) -> Vec<Group> {
        if items.is_empty() {
            return Vec::new();
        }
        let mut groups: Vec<Group> = if items.len() <= budget {
            (0..items.len()).map(|i| group(items, vec![i])).collect()
        } else {
            let (mut singles, rest) = self.isolate_size_outliers(items, budget);
            if !rest.is_empty() {
                let room = budget - singles.len();
                singles.extend(bin_by_stability_tiers(items, &rest, room));
            }
            singles
        };
        // Stable: equal stabilities keep singletons first, then tiers high to low.
        groups.sort_by(|a, b| {
            b.stability
                .partial_cmp(&a.stability)
                .unwrap_or(Ordering::Equal)
        });
        groups
    }

    /// Phase 1: size outliers as singletons, capped; returns them and the other indices.
    fn isolate_size_outliers(&self, items: &[Item], budget: usize) -> (Vec<Group>, Vec<usize>) {
        let sizes: Vec<f64> = items.iter().map(|i| i.size as f64).collect();
        let (median, raw_mad) = stats::median_and_mad(&sizes);
        // chunkah: a MAD near zero would make half the items outliers; use the median instead.
        let mad = if raw_mad < median * 0.01 {
            median
        } else {
            raw_mad
        };
        let limit = median + self.size_threshold * mad;
        let (mut high, mut rest): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|&i| items[i].size as f64 >= limit);
        let reserved = usize::from(!rest.is_empty());
        let cap = (budget.saturating_sub(reserved) as f64 * self.high_size_cap).floor() as usize;
        let keep = high.len().min(cap);
        if keep < high.len() {
            high.sort_by(|&a, &b| items[b].size.cmp(&items[a].size));
            rest.extend_from_slice(&high[keep..]);
            high.truncate(keep);
        }
        let singles = high.into_iter().map(|i| group(items, vec![i])).collect();
        (singles, rest)
    }
}

/// The component chunkah would put `c` in: `rpm/<source rpm name>`, `xattr/<name>`,
/// `bigfiles/<file name>` (an initramfs is a big unowned file), else the one
/// `chunkah/unclaimed`.
fn chunkah_name(c: &Component) -> String {
    match c.kind {
        ComponentKind::Package | ComponentKind::SourcePackage => {
            format!("rpm/{}", c.source_or_name())
        }
        ComponentKind::Xattr => format!("xattr/{}", c.name),
        ComponentKind::BigFile => {
            let path = c.name.strip_prefix("file:").unwrap_or(&c.name);
            let file = path.rsplit('/').next().unwrap_or(path);
            format!("bigfiles/{file}")
        }
        ComponentKind::Initramfs => "bigfiles/initramfs.img".to_string(),
        _ => UNCLAIMED.to_string(),
    }
}

/// chunkah's catch-all component for files no repo claims.
const UNCLAIMED: &str = "chunkah/unclaimed";

fn group(items: &[Item], indices: Vec<usize>) -> Group {
    let stability = indices.iter().map(|&i| items[i].stability).product();
    Group { indices, stability }
}

/// Phase 2: three stability tiers at mean ± σ, bins shared out by count, FNV hash within.
fn bin_by_stability_tiers(items: &[Item], indices: &[usize], max_bins: usize) -> Vec<Group> {
    if indices.is_empty() || max_bins == 0 {
        return Vec::new();
    }
    if indices.len() <= max_bins {
        return indices.iter().map(|&i| group(items, vec![i])).collect();
    }
    let stabilities: Vec<f64> = indices.iter().map(|&i| items[i].stability).collect();
    let (mean, sd) = stats::mean_and_population_sd(&stabilities);
    let (high_limit, low_limit) = (mean + sd, mean - sd);
    let mut tiers: [Vec<usize>; 3] = Default::default();
    for &i in indices {
        let s = items[i].stability;
        let tier = if s >= high_limit {
            0
        } else if s <= low_limit {
            2
        } else {
            1
        };
        tiers[tier].push(i);
    }
    let counts = tiers.each_ref().map(Vec::len);
    let non_empty = counts.iter().filter(|&&c| c > 0).count();
    if max_bins < non_empty {
        return hash_into_bins(items, indices, max_bins);
    }
    let bins = allocate_tier_bins(&counts, max_bins);
    tiers
        .iter()
        .zip(bins)
        .flat_map(|(tier, n)| hash_into_bins(items, tier, n))
        .collect()
}

/// Bins per tier in proportion to its count, at least one per non-empty tier, the last
/// non-empty tier taking the remainder.
fn allocate_tier_bins(counts: &[usize; 3], max_bins: usize) -> [usize; 3] {
    let non_empty = counts.iter().filter(|&&c| c > 0).count();
    let total: usize = counts.iter().sum();
    let mut result = [0; 3];
    let (mut allocated, mut seen) = (0, 0);
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        seen += 1;
        if seen == non_empty {
            result[i] = max_bins.saturating_sub(allocated);
        } else {
            let share = ((count as f64 / total as f64) * max_bins as f64)
                .round()
                .max(1.0) as usize;
            let max_allowed = max_bins.saturating_sub(allocated + (non_empty - seen));
            result[i] = share.min(max_allowed);
            allocated += result[i];
        }
    }
    result
}

/// Groups into `n` bins by FNV hash of the name; each empty bin takes the largest group out of
/// a bin holding more than one.
fn hash_into_bins(items: &[Item], indices: &[usize], n: usize) -> Vec<Group> {
    if indices.is_empty() || n == 0 {
        return Vec::new();
    }
    let mut bins: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &i in indices {
        bins[(fnv1a_str(&items[i].name) % n as u64) as usize].push(i);
    }
    let mut empty: Vec<usize> = (0..n).filter(|&b| bins[b].is_empty()).collect();
    while let Some(target) = empty.pop() {
        let mut found: Option<(usize, usize)> = None;
        for (b, bin) in bins.iter().enumerate().filter(|(_, bin)| bin.len() > 1) {
            for (pos, &i) in bin.iter().enumerate() {
                // max_by_key keeps the last of equal maxima; so does this `>=`.
                if found.is_none_or(|(fb, fp)| items[i].size >= items[bins[fb][fp]].size) {
                    found = Some((b, pos));
                }
            }
        }
        let Some((b, pos)) = found else { break };
        let moved = bins[b].swap_remove(pos);
        bins[target].push(moved);
    }
    bins.into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| group(items, b))
        .collect()
}

/// FNV-1a 64 of a `str` as Rust's `Hash` feeds it to `fnv::FnvHasher` (the bytes, then 0xff),
/// so bin numbers match chunkah's.
fn fnv1a_str(s: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in s.as_bytes().iter().chain(&[0xff]) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, ComponentKind};

    const NOW: Timestamp = 1_000 * DAY;

    fn item(name: &'static str, size: u64, stability: f64) -> Item<'static> {
        Item {
            name: name.to_string(),
            members: vec![name],
            size,
            stability,
        }
    }

    #[test]
    fn fnv_matches_the_reference_vectors() {
        // FNV-1a 64 of "" is the offset basis; of "a" it is 0xaf63dc4c8601ec8c. Rust's str
        // hashing appends 0xff, which this reproduces.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        h ^= u64::from(b'a');
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        assert_eq!(h, 0xaf63_dc4c_8601_ec8c);
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        assert_eq!(fnv1a_str("a"), h);
    }

    #[test]
    fn stability_counts_distinct_days_over_the_span() {
        let s = Chunkah::default();
        // Four changes on three distinct days, oldest 100 days ago: λ = 3/100.
        let dates = [
            NOW - 100 * DAY,
            NOW - 50 * DAY,
            NOW - 50 * DAY + 60,
            NOW - 10 * DAY,
        ];
        let p = s.stability_of_dates(&dates, NOW);
        assert!((p - (-0.03f64 * 7.0).exp()).abs() < 1e-12);
        assert_eq!(s.stability_of_dates(&[NOW - 400 * DAY], NOW), 0.99);
        assert_eq!(s.stability_of_dates(&[NOW - 3600], NOW), 0.0);
    }

    #[test]
    fn outliers_alone_then_tiers_hashed() {
        // Sizes 1..=9 MB plus one of 100 MB: median 5.5, MAD 2.5, limit 5.5 + 3.75 = 9.25 MB:
        // only "huge" is an outlier. Budget 4: huge alone, 3 bins for the other nine.
        // Stabilities: three at 0.9, three at 0.5, three at 0.1: mean 0.5, σ ≈ 0.327, so the
        // tiers are {0.9}, {0.5}, {0.1}, three each, and each gets one bin.
        let mb = 1_000_000;
        let items = vec![
            item("a", mb, 0.9),
            item("b", 2 * mb, 0.9),
            item("c", 3 * mb, 0.9),
            item("d", 4 * mb, 0.5),
            item("e", 5 * mb, 0.5),
            item("f", 6 * mb, 0.5),
            item("g", 7 * mb, 0.1),
            item("h", 8 * mb, 0.1),
            item("i", 9 * mb, 0.1),
            item("huge", 100 * mb, 0.2),
        ];
        let groups = Chunkah::default().pack(&items, 4);
        let names: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| {
                let mut n: Vec<&str> = g.indices.iter().map(|&i| items[i].name.as_str()).collect();
                n.sort_unstable();
                n
            })
            .collect();
        // Ordered by product of stabilities: 0.9³ ≈ 0.73, 0.2, 0.5³ = 0.125, 0.1³.
        assert_eq!(
            names,
            vec![
                vec!["a", "b", "c"],
                vec!["huge"],
                vec!["d", "e", "f"],
                vec!["g", "h", "i"]
            ]
        );
    }

    #[test]
    fn empty_hash_bins_take_the_largest_from_crowded_bins() {
        // Two names into 3 bins leaves at least one bin empty; with only two items, each ends
        // up alone whatever the hash says.
        let items = vec![item("x", 10, 0.5), item("y", 20, 0.5), item("z", 30, 0.5)];
        let groups = hash_into_bins(&items, &[0, 1, 2], 3);
        assert_eq!(groups.len(), 3);
        assert!(groups.iter().all(|g| g.indices.len() == 1));
    }

    #[test]
    fn subpackages_travel_together() {
        let mut comps: Vec<Component> = ["systemd", "systemd-libs", "bash"]
            .iter()
            .map(|n| {
                let mut c = Component::new(*n, ComponentKind::Package, "1", 10);
                c.source = Some(if n.starts_with("systemd") {
                    "systemd".into()
                } else {
                    "bash".into()
                });
                c
            })
            .collect();
        comps.sort_by(|a, b| a.name.cmp(&b.name));
        let h = ChangeHistory::default();
        let input = PlanInput {
            components: &comps,
            now: NOW,
            history: &h,
            previous: None,
            max_layers: 3,
        };
        let plan = Chunkah::default().plan(&input).unwrap_or_default();
        assert_eq!(plan.validate(&comps, 3), Ok(()));
        let of = plan.layer_of();
        assert_eq!(of.get("systemd"), of.get("systemd-libs"));
        assert_ne!(of.get("systemd"), of.get("bash"));
    }
}
