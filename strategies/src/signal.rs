//! Change signals every strategy reads the same way: which components are packages, how many
//! times a component changed in a window, and the fallbacks when changelogs are missing.
//!
//! The fallback order is the same for every peer strategy, so that a replay of a history
//! without changelogs (the FCOS lockfiles) is fair to all of them: the component's own rpm
//! changelog when it has one, else the count rpm-ostree's contentmeta precomputed
//! (`change_frequency`), else the changes observed build to build in `input.history`.

use rechunk_model::{ChangeHistory, Component, ComponentKind, Timestamp, DAY};

/// One year, the look-back window of every peer tool.
pub const YEAR: Timestamp = 365 * DAY;

/// True for components a package manager owns (they have changelogs and versions); false for
/// unowned content (unpackaged directories, big files, rpmdb, initramfs, other synthetic parts).
pub fn is_packaged(kind: ComponentKind) -> bool {
    matches!(
        kind,
        ComponentKind::Package | ComponentKind::SourcePackage | ComponentKind::Xattr
    )
}

/// Newest build time of any component (rpm-ostree's reference point), if any is known.
pub fn newest_build_time(components: &[Component]) -> Option<Timestamp> {
    components.iter().filter_map(|c| c.build_time).max()
}

/// Number of entries of `times` in `[since, until]`.
pub fn count_between(times: &[Timestamp], since: Timestamp, until: Timestamp) -> usize {
    times.iter().filter(|&&t| t >= since && t <= until).count()
}

/// Change dates of `name` observed in `history` up to `until`, oldest first.
pub fn observed_changes(history: &ChangeHistory, name: &str, until: Timestamp) -> Vec<Timestamp> {
    history
        .changes_of(name)
        .iter()
        .copied()
        .filter(|&t| t <= until)
        .collect()
}

/// Median of the gaps between observed builds: the time one update spans. `None` with fewer
/// than two builds.
pub fn typical_build_interval(history: &ChangeHistory) -> Option<Timestamp> {
    let mut gaps: Vec<Timestamp> = history
        .builds
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&g| g > 0)
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[(gaps.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_interval_is_the_median_gap() {
        let h = ChangeHistory {
            builds: vec![0, 10, 30, 40, 100],
            ..ChangeHistory::default()
        };
        assert_eq!(typical_build_interval(&h), Some(10));
        assert_eq!(typical_build_interval(&ChangeHistory::default()), None);
    }
}
