//! Previous-plan policy of the peers: whether a peer keeps the plan of the build before, and
//! from which build on, as its users run it. One home for the rule so that every peer's
//! `prior` / `chain_from` parameters mean the same thing.
//!
//! A chain of plans starts at its first build planned from scratch at or after the start; every
//! later build is handed the plan before it. Before the start each build is planned from
//! scratch, as the tool does without a previous plan.

use std::fmt;
use std::str::FromStr;

use rechunk_model::{Plan, PlanInput, Timestamp, DAY};

use crate::signal;

/// Whether a previous plan is used (`prior=none|chain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prior {
    /// Every build is planned from scratch.
    None,
    /// The previous build's plan is used once the chain has started.
    Chain,
}

/// Where a chain starts (`chain_from=start|year|YYYY-MM-DD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainStart {
    /// At the first build.
    Start,
    /// At the first build whose change dates cover a year: at once with rpm changelogs, else
    /// once the replayed history reaches a year back.
    Year,
    /// At the first build on or after this date (UTC midnight).
    Date(Timestamp),
}

/// A peer's previous-plan policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorPolicy {
    pub prior: Prior,
    pub chain_from: ChainStart,
}

impl PriorPolicy {
    pub const NONE: PriorPolicy = PriorPolicy {
        prior: Prior::None,
        chain_from: ChainStart::Start,
    };

    /// The previous plan `input` offers, if this policy uses it. A plan is used when the build
    /// it was made for (the one before `input.now` in the history, or `now` when the history
    /// does not say) is at or after the chain start.
    pub fn previous<'a>(&self, input: &PlanInput<'a>) -> Option<&'a Plan> {
        let previous = input.previous?;
        if self.prior == Prior::None {
            return None;
        }
        let builds = &input.history.builds;
        let made_at = match builds.len() {
            n if n >= 2 && builds[n - 1] == input.now => builds[n - 2],
            n if n >= 1 && builds[n - 1] < input.now => builds[n - 1],
            _ => input.now,
        };
        let started = match self.chain_from {
            ChainStart::Start => true,
            ChainStart::Date(date) => made_at >= date,
            ChainStart::Year => {
                input
                    .components
                    .iter()
                    .any(|c| !c.changelog_times.is_empty())
                    || signal::history_covers_year(input.history, made_at)
            }
        };
        started.then_some(previous)
    }
}

impl FromStr for Prior {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "none" => Ok(Prior::None),
            "chain" => Ok(Prior::Chain),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Prior {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Prior::None => "none",
            Prior::Chain => "chain",
        })
    }
}

impl FromStr for ChainStart {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "start" => Ok(ChainStart::Start),
            "year" => Ok(ChainStart::Year),
            date => parse_date(date).map(ChainStart::Date).ok_or(()),
        }
    }
}

impl fmt::Display for ChainStart {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ChainStart::Start => f.write_str("start"),
            ChainStart::Year => f.write_str("year"),
            ChainStart::Date(t) => match chrono::DateTime::from_timestamp(*t, 0) {
                Some(d) => write!(f, "{}", d.format("%Y-%m-%d")),
                None => write!(f, "{t}"),
            },
        }
    }
}

/// `YYYY-MM-DD` as UTC midnight.
fn parse_date(text: &str) -> Option<Timestamp> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let days = date
        .signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
        .num_days();
    days.checked_mul(DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, Component, ComponentKind, Layer};

    fn uses(policy: PriorPolicy, builds: &[Timestamp], changelog: bool) -> bool {
        let mut c = Component::new("a", ComponentKind::Package, "1", 1);
        if changelog {
            c.changelog_times = vec![1];
        }
        let comps = [c];
        let history = ChangeHistory {
            builds: builds.to_vec(),
            ..ChangeHistory::default()
        };
        let plan = Plan::new(vec![Layer::new(["a"])]);
        let input = PlanInput {
            components: &comps,
            now: *builds.last().unwrap_or(&0),
            history: &history,
            previous: Some(&plan),
            max_layers: 4,
        };
        policy.previous(&input).is_some()
    }

    #[test]
    fn chains_start_where_the_policy_says() {
        let chain = |from| PriorPolicy {
            prior: Prior::Chain,
            chain_from: from,
        };
        let weekly: Vec<Timestamp> = (0..60).map(|w| w * 7 * DAY).collect();
        assert!(!uses(PriorPolicy::NONE, &weekly, true));
        assert!(uses(chain(ChainStart::Start), &weekly[..2], false));
        // A date: the previous build (week 9, day 63) must be on or after it.
        let day = |d| ChainStart::Date(d * DAY);
        assert!(uses(chain(day(63)), &weekly[..11], false));
        assert!(!uses(chain(day(64)), &weekly[..11], false));
        // A year: the previous build must see a year of history (week 53 = day 371)...
        assert!(!uses(chain(ChainStart::Year), &weekly[..54], false));
        assert!(uses(chain(ChainStart::Year), &weekly[..55], false));
        // ...unless rpm changelogs give the year at once.
        assert!(uses(chain(ChainStart::Year), &weekly[..2], true));
    }

    #[test]
    fn parameters_parse_and_print_back() {
        assert_eq!("chain".parse(), Ok(Prior::Chain));
        assert_eq!("none".parse(), Ok(Prior::None));
        assert!("always".parse::<Prior>().is_err());
        let date: ChainStart = "2023-07-18".parse().unwrap_or(ChainStart::Start);
        assert_eq!(date, ChainStart::Date(1_689_638_400));
        assert_eq!(date.to_string(), "2023-07-18");
        assert_eq!("year".parse(), Ok(ChainStart::Year));
        assert!("2023-13-01".parse::<ChainStart>().is_err());
    }
}
