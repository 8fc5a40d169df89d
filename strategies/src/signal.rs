//! Change signals every strategy reads the same way: which components are packages, how many
//! times a component changed in a window, and [`evidence`]: the one rule by which every peer
//! strategy falls back when a component has no rpm changelog.
//!
//! All three peers plan from changelog dates (rpm-ostree counts the entries of the last year,
//! chunkah counts distinct days over their span, hhd-rechunk maps them to ISO weeks). A replayed
//! history often has none (the FCOS lockfiles), so every peer gets the same stand-in, in this
//! order:
//! 1. the component's own rpm changelog;
//! 2. contentmeta's `change_frequency`: the count rpm-ostree itself computed from the real
//!    changelogs (entries within a year of the newest build), the peers' own kind of signal;
//!    peers that need dates get that many spread evenly over the year, the oldest a year
//!    before the build (at most one a day);
//! 3. the dates its version changed in the replayed history over the last year (two builds
//!    or more observed);
//! 4. nothing: each peer then applies its own "no changelog" rule.
//!
//! The count comes before the observed record because it is changelog data. The other order
//! (a full year of observed changes first) was measured on FCOS stable at 64 layers, client
//! `every` (`rechunk compare --no-sweep`): rpm-ostree 616.0 instead of 591.0 MiB per update,
//! chunkah 571.8 instead of 567.2, hhd-rechunk 581.3 instead of 584.9; this order is the
//! better one for the best peer.

use rechunk_model::{ChangeHistory, Component, ComponentKind, PlanInput, Timestamp, DAY};

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

/// How a peer knows one component's changes (see the module doc for the order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence<'a> {
    /// The component's rpm changelog: every entry date (each peer windows them as its
    /// original does).
    Changelog(&'a [Timestamp]),
    /// contentmeta's yearly count, without dates ([`Evidence::stand_in_dates`] spreads it).
    Count(u32),
    /// Dates observed in the replayed history, standing in for changelog entries, all within
    /// the year before the build, oldest first.
    Observed(Vec<Timestamp>),
    /// No changelog, no count, fewer than two builds observed.
    Unknown,
}

impl Evidence<'_> {
    /// Stand-in dates within the year before `now` (a count spread evenly); `None` for a
    /// changelog (peers read those their own way) and for no evidence.
    pub fn stand_in_dates(&self, now: Timestamp) -> Option<Vec<Timestamp>> {
        match self {
            Evidence::Observed(dates) => Some(dates.clone()),
            Evidence::Count(count) => Some(spread_over_year(*count, now)),
            Evidence::Changelog(_) | Evidence::Unknown => None,
        }
    }
}

/// The one fallback rule of every peer for the changes of `c` when planning `input`.
pub fn evidence<'a>(c: &'a Component, input: &PlanInput) -> Evidence<'a> {
    if !c.changelog_times.is_empty() {
        return Evidence::Changelog(&c.changelog_times);
    }
    if let Some(count) = c.change_frequency {
        return Evidence::Count(count);
    }
    if !input.history.is_informative() {
        return Evidence::Unknown;
    }
    let since = input.now - YEAR;
    let dates = input
        .history
        .changes_of(&c.name)
        .iter()
        .copied()
        .filter(|&t| t >= since && t <= input.now)
        .collect();
    Evidence::Observed(dates)
}

/// True when the observed builds reach at least a year before `at`.
pub fn history_covers_year(history: &ChangeHistory, at: Timestamp) -> bool {
    history
        .builds
        .first()
        .is_some_and(|&first| first <= at - YEAR)
}

/// `count` dates at `now − k·YEAR/count` for k = 1..=count, oldest first: a yearly count
/// without dates, spread evenly so that the oldest falls exactly a year back. Counts above 365
/// give one date a day (no peer tells two changes on one day apart by date).
pub fn spread_over_year(count: u32, now: Timestamp) -> Vec<Timestamp> {
    let n = i64::from(count.min(365));
    (1..=n).rev().map(|k| now - k * YEAR / n).collect()
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
    use rechunk_model::Plan;

    fn input<'a>(components: &'a [Component], history: &'a ChangeHistory) -> PlanInput<'a> {
        PlanInput {
            components,
            now: 1000 * DAY,
            history,
            previous: None::<&Plan>,
            max_layers: 4,
        }
    }

    #[test]
    fn evidence_falls_back_in_one_order() {
        let mut c = Component::new("a", ComponentKind::Package, "1", 1);
        c.change_frequency = Some(4);
        let comps = [c.clone()];
        // A count, whatever the history: spread over the year when dates are needed.
        let mut year = ChangeHistory {
            builds: vec![600 * DAY, 900 * DAY, 1000 * DAY],
            ..ChangeHistory::default()
        };
        year.changes.insert("a".into(), vec![600 * DAY, 900 * DAY]);
        let found = evidence(&comps[0], &input(&comps, &year));
        assert_eq!(found, Evidence::Count(4));
        let spread = vec![
            635 * DAY,
            726 * DAY + DAY / 4,
            817 * DAY + DAY / 2,
            908 * DAY + 3 * DAY / 4,
        ];
        assert_eq!(found.stand_in_dates(1000 * DAY), Some(spread));
        // Without a count: the changes observed over the last year.
        let bare = [Component::new("a", ComponentKind::Package, "1", 1)];
        assert_eq!(
            evidence(&bare[0], &input(&bare, &year)),
            Evidence::Observed(vec![900 * DAY])
        );
        // One build observed: nothing to learn from.
        let one = ChangeHistory {
            builds: vec![1000 * DAY],
            ..ChangeHistory::default()
        };
        assert_eq!(evidence(&bare[0], &input(&bare, &one)), Evidence::Unknown);
        assert_eq!(Evidence::Unknown.stand_in_dates(0), None);
        // A changelog beats everything.
        let mut logged = c.clone();
        logged.changelog_times = vec![10, 5];
        let logged = [logged];
        assert_eq!(
            evidence(&logged[0], &input(&logged, &year)),
            Evidence::Changelog(&[10, 5])
        );
        assert_eq!(Evidence::Changelog(&[10, 5]).stand_in_dates(0), None);
    }

    #[test]
    fn spread_puts_the_oldest_date_a_year_back() {
        assert_eq!(spread_over_year(1, 1000 * DAY), vec![635 * DAY]);
        assert!(spread_over_year(0, 1000 * DAY).is_empty());
        let many = spread_over_year(53, 1000 * DAY);
        assert_eq!(many.len(), 53);
        assert_eq!(many[0], 635 * DAY);
        assert!(many.windows(2).all(|w| w[0] < w[1]) && many[52] < 1000 * DAY);
        let daily = spread_over_year(u32::MAX, 1000 * DAY);
        assert_eq!(daily.len(), 365);
        assert_eq!(daily[364], 999 * DAY);
    }

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
