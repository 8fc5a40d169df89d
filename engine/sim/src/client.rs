//! Clients: who updates when. A schedule is the list of (held version, fetched version) pairs a
//! client goes through; it depends only on the versions' dates, never on a strategy.

use rechunk_model::{Timestamp, DAY};
use serde::{Deserialize, Serialize};

/// How a client follows the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// Takes every version as it is published.
    Every,
    /// Checks once every 7 days from the first version's date and fetches the newest version
    /// published by then, skipping the ones in between.
    Weekly,
    /// The same, every 30 days.
    Monthly,
    /// Installs each version from nothing.
    Fresh,
}

/// One fetch: `from` is the version the client holds (`None` for a fresh install).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub from: Option<usize>,
    pub to: usize,
}

impl Client {
    pub const ALL: [Client; 4] = [
        Client::Every,
        Client::Weekly,
        Client::Monthly,
        Client::Fresh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Client::Every => "every",
            Client::Weekly => "weekly",
            Client::Monthly => "monthly",
            Client::Fresh => "fresh",
        }
    }

    pub fn parse(text: &str) -> Option<Client> {
        Client::ALL.into_iter().find(|c| c.name() == text)
    }

    /// The fetches this client makes over versions `first..=last` of a history with `dates`
    /// (oldest first, not decreasing).
    pub fn schedule(self, dates: &[Timestamp], first: usize, last: usize) -> Vec<Step> {
        match self {
            Client::Every => (first + 1..=last)
                .map(|to| Step {
                    from: Some(to - 1),
                    to,
                })
                .collect(),
            Client::Fresh => (first..=last).map(|to| Step { from: None, to }).collect(),
            Client::Weekly => periodic(dates, first, last, 7 * DAY),
            Client::Monthly => periodic(dates, first, last, 30 * DAY),
        }
    }
}

/// Checks at `dates[first] + k·period`; each check fetches the newest version dated by then.
fn periodic(dates: &[Timestamp], first: usize, last: usize, period: Timestamp) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut held = first;
    let mut check = dates[first];
    while held < last {
        check += period;
        let newest = (held..=last).take_while(|&i| dates[i] <= check).last();
        if let Some(to) = newest.filter(|&to| to > held) {
            steps.push(Step {
                from: Some(held),
                to,
            });
            held = to;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(steps: &[Step]) -> Vec<(Option<usize>, usize)> {
        steps.iter().map(|s| (s.from, s.to)).collect()
    }

    #[test]
    fn periodic_clients_skip_by_date() {
        // Days 0, 1, 3, 8, 20, 40.
        let dates: Vec<Timestamp> = [0, 1, 3, 8, 20, 40].iter().map(|d| d * DAY).collect();
        let weekly = Client::Weekly.schedule(&dates, 0, 5);
        // Checks on days 7 (→ v2), 14 (→ v3), 21 (→ v4), 28, 35, 42 (→ v5).
        assert_eq!(
            pairs(&weekly),
            [(Some(0), 2), (Some(2), 3), (Some(3), 4), (Some(4), 5)]
        );
        let monthly = Client::Monthly.schedule(&dates, 0, 5);
        // Checks on days 30 (→ v4) and 60 (→ v5).
        assert_eq!(pairs(&monthly), [(Some(0), 4), (Some(4), 5)]);
        let every = Client::Every.schedule(&dates, 1, 3);
        assert_eq!(pairs(&every), [(Some(1), 2), (Some(2), 3)]);
        let fresh = Client::Fresh.schedule(&dates, 4, 5);
        assert_eq!(pairs(&fresh), [(None, 4), (None, 5)]);
        assert!(Client::Weekly.schedule(&dates, 5, 5).is_empty());
    }
}
