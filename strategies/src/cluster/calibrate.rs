//! How much of a package's changelog activity shows up as changes of *this* image: the
//! `changelog share` that scales every changelog-based prior of `cluster`, estimated from the
//! image itself so that it is there for the first, cold plan.
//!
//! Why: a changelog counts every build of the package (rawhide, other releases, rebuilds that
//! never reach this stream), so its rate overstates how often a stable image's package changes,
//! by a factor that depends on the stream. Taken at face value it makes most of the image look
//! volatile (on the synthesized trees of the last five FCOS stable versions the cold priors
//! expected 493 MiB of package changes per update where 302 MiB happened; with the share, 251
//! MiB), and the optimiser then lets rarely changing packages ride in the layer that is
//! downloaded at every update (the test below). The share scales rates, so it keeps the
//! changelog's ranking of packages and corrects only its level, which a whole image measures
//! even when no single package's history can.
//!
//! How: the installed build of a package is its last change in this stream, so its age (the
//! newest build time in the image minus its own) is the time since its last change. If the
//! image changes package unit u (the packages of one source) as a Poisson process of rate
//! share × λ_u, λ_u its changelog rate per day, the age is exponential with that rate, and the
//! maximum-likelihood share over N units is N / Σ λ_u·age_u, clamped to [`SHARE_BOUNDS`].
//! Units without a build time or a changelog rate take no part; with fewer than
//! [`MIN_UNITS`] the share is 1 (the changelog as it is). Histories without build times (the
//! FCOS lockfile replays) are therefore planned exactly as before.
//!
//! Ages overstate the share of rarely changing packages (nothing is older than the image's
//! last rebase), so it errs toward the changelog as it is. Tried and not kept: fitting the
//! share on the observed builds as well (it changed the lockfile replays, 1.2% more download
//! at 16 layers on FCOS stable), and a power law scale × λ^b (no better on cold starts).
//! Known cost: on long replays of synthesized FCOS trees (changelogs and build times, `compare
//! --synthesized`) small budgets download slightly more (12 and 16 layers: +0.9% on stable,
//! +0.5% on testing; 64 and 127 layers unchanged), where the unscaled prior also served as a
//! regulariser against a long history.

use std::collections::BTreeMap;

use rechunk_model::{Component, PlanInput, DAY};

use crate::signal;

/// Fewest package units with both a changelog rate and a build time for the share to be
/// estimated.
pub const MIN_UNITS: usize = 20;
/// Bounds of the share: a stream ships at most every changelog entry, and a share below 1/50
/// would say the changelogs carry no signal at all.
pub const SHARE_BOUNDS: (f64, f64) = (0.02, 1.0);

/// The share (see the module doc). `rate_of` gives a component's changelog rate per day
/// (`None` without a changelog or a count).
pub fn changelog_share(input: &PlanInput, rate_of: impl Fn(&Component) -> Option<f64>) -> f64 {
    let Some(reference) = signal::newest_build_time(input.components) else {
        return SHARE_BOUNDS.1;
    };
    // Per source package: the highest changelog rate and the youngest build (the unit changed
    // when any of its packages did).
    let mut units: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for c in input
        .components
        .iter()
        .filter(|c| signal::is_packaged(c.kind))
    {
        let (Some(rate), Some(built)) = (rate_of(c).filter(|&r| r > 0.0), c.build_time) else {
            continue;
        };
        let age = (reference - built).max(0) as f64 / DAY as f64;
        let unit = units.entry(c.source_or_name()).or_insert((rate, age));
        *unit = (unit.0.max(rate), unit.1.min(age));
    }
    if units.len() < MIN_UNITS {
        return SHARE_BOUNDS.1;
    }
    let exposure: f64 = units.values().map(|&(rate, age)| rate * age).sum();
    let (low, high) = SHARE_BOUNDS;
    if exposure <= 0.0 || exposure.is_nan() {
        // Every unit built with the newest one: nothing says the changelog overstates.
        return high;
    }
    (units.len() as f64 / exposure).clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, ComponentKind, Timestamp};

    const NOW: Timestamp = 1000 * DAY;

    /// `n` packages, each `rate` changes a day by its changelog, built `age` days before NOW
    /// (one more, built at NOW, sets the reference).
    fn image(n: usize, rate: f64, age: i64) -> Vec<Component> {
        let mut out: Vec<Component> = (0..n)
            .map(|i| {
                let mut c = Component::new(format!("p{i}"), ComponentKind::Package, "1", 10);
                c.change_frequency = Some((rate * 365.0).round() as u32);
                c.build_time = Some(NOW - age * DAY);
                c
            })
            .collect();
        let mut newest = Component::new("newest", ComponentKind::Package, "1", 10);
        newest.build_time = Some(NOW);
        out.push(newest);
        out
    }

    fn share(components: &[Component]) -> f64 {
        let history = ChangeHistory::default();
        let input = PlanInput {
            components,
            now: NOW,
            history: &history,
            previous: None,
            max_layers: 4,
        };
        changelog_share(&input, |c| c.change_frequency.map(|f| f64::from(f) / 365.0))
    }

    #[test]
    fn the_share_is_units_over_changelog_exposure() {
        // 30 units changing 73 times a year by their changelogs (0.2 a day), last built 25
        // days ago: 30 / (30 × 0.2 × 25) = 0.2 of the changelog reaches the image.
        let s = share(&image(30, 0.2, 25));
        assert!((s - 0.2).abs() < 1e-9, "{s}");
    }

    #[test]
    fn without_enough_evidence_the_changelog_counts_as_it_is() {
        // Too few units.
        assert_eq!(share(&image(MIN_UNITS - 1, 0.2, 25)), 1.0);
        // No build times (a lockfile history).
        let mut bare = image(30, 0.2, 25);
        for c in &mut bare {
            c.build_time = None;
        }
        assert_eq!(share(&bare), 1.0);
        // Every package as young as the newest: nothing says the changelog overstates.
        assert_eq!(share(&image(30, 0.2, 0)), 1.0);
        // Ages that would put the share above 1 (a stream cannot ship more than the
        // changelog holds) or below the floor are clamped.
        assert_eq!(share(&image(30, 0.2, 1)), 1.0);
        assert_eq!(share(&image(30, 0.2, 100_000)), SHARE_BOUNDS.0);
    }

    #[test]
    fn subpackages_of_one_source_count_once_by_their_youngest_build() {
        // 30 sources with two packages each: one built 25 days ago, one 400 days ago. The
        // source changed 25 days ago (when its younger package did).
        let mut components = image(30, 0.2, 25);
        let old: Vec<Component> = components
            .iter()
            .filter(|c| c.name != "newest")
            .map(|c| {
                let mut sub = c.clone();
                sub.name = format!("{}-libs", c.name);
                sub.build_time = Some(NOW - 400 * DAY);
                sub
            })
            .collect();
        components.extend(old);
        for c in &mut components {
            let source = c.name.trim_end_matches("-libs").to_string();
            c.source = Some(source);
        }
        let s = share(&components);
        assert!((s - 0.2).abs() < 1e-9, "{s}");
    }

    /// Bytes of packages in the layer that holds the initramfs (downloaded at every update).
    fn riding_with_initramfs(components: &[Component], budget: usize) -> u64 {
        use crate::Strategy;
        let history = ChangeHistory::from_snapshots(&[rechunk_model::Snapshot::new(
            "v1",
            NOW,
            components.to_vec(),
        )]);
        let input = PlanInput {
            components,
            now: NOW,
            history: &history,
            previous: None,
            max_layers: budget,
        };
        let plan = super::super::Cluster::default()
            .plan(&input)
            .unwrap_or_default();
        assert_eq!(plan.validate(components, budget), Ok(()));
        let size: BTreeMap<&str, u64> = components
            .iter()
            .map(|c| (c.name.as_str(), c.size))
            .collect();
        plan.layers
            .iter()
            .find(|l| l.components.iter().any(|n| n == "initramfs"))
            .map_or(0, |l| {
                l.components
                    .iter()
                    .filter(|n| *n != "initramfs")
                    .map(|n| size.get(n.as_str()).copied().unwrap_or(0))
                    .sum()
            })
    }

    #[test]
    fn a_cold_plan_keeps_rarely_shipped_packages_out_of_the_always_downloaded_layer() {
        // A new image, no history: an initramfs (changes at every build) and 30 packages of
        // 10 MB whose changelogs have an entry every week, yet whose installed builds are all
        // 180 days old: this stream ships a small share of that activity (30 / (30 × 52/365 ×
        // 180) ≈ 0.04).
        let mut components = image(30, 52.0 / 365.0, 180);
        for c in &mut components {
            c.size = 10_000_000;
        }
        components.push(Component::new(
            "initramfs",
            ComponentKind::Initramfs,
            "1",
            50_000_000,
        ));
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let calibrated = riding_with_initramfs(&components, 4);
        // The same changelogs without build times: taken as they are (a change a week, p =
        // 0.63 per build), most packages look as volatile as the initramfs and ride with it.
        let mut bare = components.clone();
        for c in &mut bare {
            c.build_time = None;
        }
        let raw = riding_with_initramfs(&bare, 4);
        // Calibrated (p ≈ 0.04 per build): the initramfs has its layer to itself.
        assert_eq!(calibrated, 0, "raw {raw}");
        assert!(raw >= 150_000_000, "raw {raw}");
    }
}
