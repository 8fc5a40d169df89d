//! Compressed download bytes from uncompressed ones: the one rule every report uses
//! ([`AppliedRatio::compressed`], with the ratio [`CompressionModel::ratio`] picks).
//!
//! The simulator counts uncompressed bytes. What a client downloads is compressed, and how well
//! depends on what it downloads: the layers that change at every update hold binaries and
//! libraries, which compress worse than the whole image, so a strategy whose downloads are
//! exactly the changed content (fine-grained layers) downloads content of a worse ratio than
//! one that re-fetches big, mostly unchanged layers. One fixed ratio for everyone flatters the
//! fine-grained strategies.
//!
//! So the compressed figure is uncompressed × a ratio measured on built images for the same
//! strategy ([`MeasuredRatio`], written by `rechunk compare --build`: blob bytes / tar bytes of
//! what its clients downloaded), picked by:
//! - **strategy**: the rows whose `strategy` is the run's label (strategy and parameter
//!   overrides), else the strategy's rows at default parameters; a strategy with no row at all
//!   gets the fixed [`COMPRESSION_RATIO`], marked [`RatioBasis::Fallback`];
//! - **client**: the client's own rows (label's, then the strategy's): the built chains measure
//!   `every`, `weekly` and `monthly` on their downloads (each client's schedule over the built
//!   versions: [`crate::agreement`]), and `fresh` installs as the whole images' ratio. A client
//!   without rows (a ratio file written before `weekly` and `monthly` were measured; a client
//!   that downloaded nothing among the built versions) falls back on `every`'s, moved toward the
//!   whole image's: such a client fetches more of the image per update than `every`, and the
//!   more of the image a download holds, the closer its ratio is to the whole image's (on the
//!   built chains the ratio falls with the share of the image downloaded, across strategies
//!   and budgets alike); so its ratio is `every`'s moved toward `fresh`'s in proportion to how
//!   much more of the image it fetches in the replay ([`Shares`], marked `†` in the reports):
//!   r = r_every + (r_fresh − r_every) × clamp((s − s_every) / (1 − s_every), 0, 1), s = the
//!   client's Σ download / Σ image bytes. Linear in the share, where the measured ratios fall
//!   faster than linearly at first: it overstates those clients' ratio, if anything. Without
//!   `fresh` rows or shares, `every`'s ratio as it is;
//! - **layer budget**: the row at the run's budget ([`RatioBasis::Measured`]); between two
//!   measured budgets, linear in ln(layers) between them ([`RatioBasis::Interpolated`]);
//!   outside the measured budgets, the nearest one ([`RatioBasis::Nearest`]).
//!
//! [`CompressionModel::Fixed`] gives the old estimate, [`COMPRESSION_RATIO`] for every run.

use serde::{Deserialize, Serialize};

use crate::{Client, COMPRESSION_RATIO};

/// One measured ratio: a line of the ratio file `rechunk compare --build` writes
/// (`compression-ratios.csv`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasuredRatio {
    /// Run label: strategy name, then `key=value` overrides (`cluster half_life_builds=8`).
    pub strategy: String,
    pub max_layers: usize,
    pub client: Client,
    /// The layers' compression: `zstd:3`, `gzip:6`.
    pub compression: String,
    /// Compressed (blob) bytes / uncompressed (tar) bytes.
    pub ratio: f64,
    /// Fetches the ratio was measured over.
    pub updates: usize,
    /// What was built and measured: history, versions, scale, downloads or whole images.
    pub source: String,
}

/// Why a ratio file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RatioError {
    #[error("no ratios")]
    Empty,
    #[error("more than one compression ({0} and {1}): keep the rows of one")]
    MixedCompression(String, String),
    #[error("{strategy} at {max_layers} layers, client {client}: ratio {ratio} is not in (0, 2]")]
    BadRatio {
        strategy: String,
        max_layers: usize,
        client: &'static str,
        ratio: f64,
    },
    #[error("{strategy}: max_layers must be at least 1")]
    BadBudget { strategy: String },
    #[error("{strategy} at {max_layers} layers, client {client}: listed twice")]
    Duplicate {
        strategy: String,
        max_layers: usize,
        client: &'static str,
    },
}

/// Measured ratios of one compression, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct RatioTable {
    rows: Vec<MeasuredRatio>,
    /// Where the rows come from, for the reports: a file name, "shipped ...".
    pub origin: String,
}

impl RatioTable {
    /// Checks `rows`: at least one, one compression, ratios in (0, 2], budgets ≥ 1, no
    /// strategy × budget × client twice.
    pub fn new(rows: Vec<MeasuredRatio>, origin: impl Into<String>) -> Result<Self, RatioError> {
        let first = rows.first().ok_or(RatioError::Empty)?;
        for (i, r) in rows.iter().enumerate() {
            if r.compression != first.compression {
                return Err(RatioError::MixedCompression(
                    first.compression.clone(),
                    r.compression.clone(),
                ));
            }
            if !(r.ratio > 0.0 && r.ratio <= 2.0) {
                return Err(RatioError::BadRatio {
                    strategy: r.strategy.clone(),
                    max_layers: r.max_layers,
                    client: r.client.name(),
                    ratio: r.ratio,
                });
            }
            if r.max_layers == 0 {
                return Err(RatioError::BadBudget {
                    strategy: r.strategy.clone(),
                });
            }
            let same = |o: &MeasuredRatio| {
                o.strategy == r.strategy && o.max_layers == r.max_layers && o.client == r.client
            };
            if rows[..i].iter().any(same) {
                return Err(RatioError::Duplicate {
                    strategy: r.strategy.clone(),
                    max_layers: r.max_layers,
                    client: r.client.name(),
                });
            }
        }
        Ok(RatioTable {
            rows,
            origin: origin.into(),
        })
    }

    pub fn rows(&self) -> &[MeasuredRatio] {
        &self.rows
    }

    /// The compression every row was measured with.
    pub fn compression(&self) -> &str {
        &self.rows[0].compression
    }

    /// The measured budgets, ascending.
    pub fn budgets(&self) -> Vec<usize> {
        let mut b: Vec<usize> = self.rows.iter().map(|r| r.max_layers).collect();
        b.sort_unstable();
        b.dedup();
        b
    }
}

/// How compressed bytes are estimated.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum CompressionModel {
    /// [`COMPRESSION_RATIO`] for every run (the estimate before ratios were measured).
    #[default]
    Fixed,
    /// The ratio measured for the run's strategy (module doc for the rule).
    Measured(RatioTable),
}

/// Where a ratio comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RatioBasis {
    /// Measured at this layer budget.
    Measured,
    /// Linear in ln(layers) between the two nearest measured budgets.
    Interpolated,
    /// Outside the measured budgets: the nearest one's.
    Nearest,
    /// No ratio measured for this strategy: the fixed [`COMPRESSION_RATIO`].
    Fallback,
    /// The fixed [`COMPRESSION_RATIO`], asked for ([`CompressionModel::Fixed`]).
    Fixed,
}

impl RatioBasis {
    pub fn name(self) -> &'static str {
        match self {
            RatioBasis::Measured => "measured",
            RatioBasis::Interpolated => "interpolated",
            RatioBasis::Nearest => "nearest",
            RatioBasis::Fallback => "fallback",
            RatioBasis::Fixed => "fixed",
        }
    }
}

/// How much of its images a client fetched in the replay (Σ download bytes / Σ image bytes of
/// its updates), and how much the `every` client of the same run fetched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shares {
    pub client: f64,
    pub every: f64,
}

/// The ratio one run × client's compressed figures use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppliedRatio {
    /// Compressed bytes per uncompressed byte.
    pub ratio: f64,
    /// Where the layer-budget ratio comes from.
    pub basis: RatioBasis,
    /// For a client without measured rows (the fallback): the share of the image it fetched,
    /// by which `every`'s ratio was moved toward the whole image's (module doc); `None` for a
    /// client's own measured ratio.
    pub share_scaled: Option<f64>,
    /// The compression it was measured with (`None` for the fixed estimate, which is gzip of
    /// one real FCOS image).
    pub compression: Option<String>,
}

impl AppliedRatio {
    /// The fixed estimate.
    pub fn fixed(basis: RatioBasis) -> AppliedRatio {
        AppliedRatio {
            ratio: COMPRESSION_RATIO,
            basis,
            share_scaled: None,
            compression: None,
        }
    }

    /// Estimated compressed bytes of `uncompressed` bytes of layers: the one function every
    /// report's compressed figure comes from.
    pub fn compressed(&self, uncompressed: u64) -> u64 {
        (uncompressed as f64 * self.ratio).round() as u64
    }
}

impl CompressionModel {
    /// The ratio for a run (`label`, its `strategy` name, its layer budget) and `client`, whose
    /// [`Shares`] in the replay are `shares` (used only for a client without rows: a client's
    /// own measured rows win).
    pub fn ratio(
        &self,
        label: &str,
        strategy: &str,
        max_layers: usize,
        client: Client,
        shares: Option<Shares>,
    ) -> AppliedRatio {
        let table = match self {
            CompressionModel::Fixed => return AppliedRatio::fixed(RatioBasis::Fixed),
            CompressionModel::Measured(t) => t,
        };
        // The label's rows for client `c`, else the strategy's (default parameters).
        let rows_for = |c: Client| -> Option<Vec<&MeasuredRatio>> {
            [label, strategy].into_iter().find_map(|name| {
                let mut rows: Vec<&MeasuredRatio> = table
                    .rows
                    .iter()
                    .filter(|r| r.strategy == name && r.client == c)
                    .collect();
                rows.sort_by_key(|r| r.max_layers);
                (!rows.is_empty()).then_some(rows)
            })
        };
        let compression = Some(table.compression().to_owned());
        if let Some(rows) = rows_for(client) {
            let (ratio, basis) = by_budget(&rows, max_layers);
            return AppliedRatio {
                ratio,
                basis,
                share_scaled: None,
                compression,
            };
        }
        let Some(every) = rows_for(Client::Every) else {
            return AppliedRatio::fixed(RatioBasis::Fallback);
        };
        let (r_every, basis) = by_budget(&every, max_layers);
        let toward_image = rows_for(Client::Fresh)
            .zip(shares)
            .filter(|(_, s)| s.every < 1.0 && s.client.is_finite() && s.every.is_finite());
        let (ratio, share_scaled) = match toward_image {
            Some((fresh, s)) => {
                let (r_fresh, _) = by_budget(&fresh, max_layers);
                let t = ((s.client - s.every) / (1.0 - s.every)).clamp(0.0, 1.0);
                (r_every + t * (r_fresh - r_every), Some(s.client))
            }
            None => (r_every, None),
        };
        AppliedRatio {
            ratio,
            basis,
            share_scaled,
            compression,
        }
    }

    /// The compression of the measured ratios (`None` for [`CompressionModel::Fixed`]).
    pub fn compression(&self) -> Option<&str> {
        match self {
            CompressionModel::Fixed => None,
            CompressionModel::Measured(t) => Some(t.compression()),
        }
    }
}

/// The ratio at `budget` from `rows` (one strategy and client, sorted by budget, not empty).
fn by_budget(rows: &[&MeasuredRatio], budget: usize) -> (f64, RatioBasis) {
    if let Some(r) = rows.iter().find(|r| r.max_layers == budget) {
        return (r.ratio, RatioBasis::Measured);
    }
    let below = rows.iter().rev().find(|r| r.max_layers < budget);
    let above = rows.iter().find(|r| r.max_layers > budget);
    match (below, above) {
        (Some(lo), Some(hi)) => {
            let ln = |n: usize| (n as f64).ln();
            let t = (ln(budget) - ln(lo.max_layers)) / (ln(hi.max_layers) - ln(lo.max_layers));
            (
                lo.ratio + t * (hi.ratio - lo.ratio),
                RatioBasis::Interpolated,
            )
        }
        (Some(r), None) | (None, Some(r)) => (r.ratio, RatioBasis::Nearest),
        (None, None) => unreachable!("rows is not empty"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(strategy: &str, max_layers: usize, client: Client, ratio: f64) -> MeasuredRatio {
        MeasuredRatio {
            strategy: strategy.into(),
            max_layers,
            client,
            compression: "zstd:3".into(),
            ratio,
            updates: 4,
            source: "test".into(),
        }
    }

    fn model() -> CompressionModel {
        CompressionModel::Measured(
            RatioTable::new(
                vec![
                    row("cluster", 12, Client::Every, 0.568),
                    row("cluster", 64, Client::Every, 0.672),
                    row("cluster", 64, Client::Fresh, 0.517),
                    row("cluster half_life_builds=8", 64, Client::Every, 0.7),
                ],
                "test",
            )
            .unwrap(),
        )
    }

    #[test]
    fn a_measured_budget_gives_its_ratio() {
        let r = model().ratio("cluster", "cluster", 64, Client::Every, None);
        assert_eq!((r.ratio, r.basis), (0.672, RatioBasis::Measured));
        assert_eq!(r.compression.as_deref(), Some("zstd:3"));
        assert_eq!(r.compressed(1_000_000), 672_000);
    }

    #[test]
    fn between_budgets_the_ratio_is_linear_in_ln_layers() {
        let m = model();
        let r = m.ratio("cluster", "cluster", 32, Client::Every, None);
        let t = (32f64 / 12.0).ln() / (64f64 / 12.0).ln();
        assert_eq!(r.basis, RatioBasis::Interpolated);
        assert!((r.ratio - (0.568 + t * (0.672 - 0.568))).abs() < 1e-12);
        // ln(24) is not halfway between ln(12) and ln(64): the interpolation is not linear in
        // layers.
        let mid = m.ratio("cluster", "cluster", 38, Client::Every, None).ratio;
        assert!(mid > (0.568 + 0.672) / 2.0);
    }

    #[test]
    fn outside_the_budgets_the_nearest_ratio_is_used() {
        let m = model();
        let r = m.ratio("cluster", "cluster", 127, Client::Every, None);
        assert_eq!((r.ratio, r.basis), (0.672, RatioBasis::Nearest));
        let r = m.ratio("cluster", "cluster", 4, Client::Every, None);
        assert_eq!((r.ratio, r.basis), (0.568, RatioBasis::Nearest));
    }

    #[test]
    fn clients_without_rows_fall_back_on_every_and_fresh_uses_its_own() {
        let m = model();
        let fresh = m.ratio("cluster", "cluster", 64, Client::Fresh, None);
        assert_eq!((fresh.ratio, fresh.basis), (0.517, RatioBasis::Measured));
        // Only 64 is measured for fresh: at 16 layers the nearest.
        assert_eq!(
            m.ratio("cluster", "cluster", 16, Client::Fresh, None).ratio,
            0.517
        );
        // Without shares, a client without rows takes `every`'s ratio as it is.
        let weekly = m.ratio("cluster", "cluster", 64, Client::Weekly, None);
        assert_eq!((weekly.ratio, weekly.share_scaled), (0.672, None));
        // With them, it moves toward the whole image's ratio by how much more of the image it
        // fetched than `every`: here halfway from every's share to the whole image.
        let shares = |client, every| Some(Shares { client, every });
        let monthly = m.ratio("cluster", "cluster", 64, Client::Monthly, shares(0.7, 0.4));
        assert!((monthly.ratio - (0.672 + 0.5 * (0.517 - 0.672))).abs() < 1e-12);
        assert_eq!(monthly.share_scaled, Some(0.7));
        assert_eq!(monthly.basis, RatioBasis::Measured);
        // Fetching no more than `every` keeps every's ratio; the whole image, the image's.
        let less = m.ratio("cluster", "cluster", 64, Client::Weekly, shares(0.3, 0.4));
        assert_eq!(less.ratio, 0.672);
        let all = m.ratio("cluster", "cluster", 64, Client::Monthly, shares(1.0, 0.4));
        assert!((all.ratio - 0.517).abs() < 1e-12);
        // A client with its own rows ignores the shares.
        let fresh = m.ratio("cluster", "cluster", 64, Client::Fresh, shares(1.0, 0.4));
        assert_eq!((fresh.ratio, fresh.share_scaled), (0.517, None));
    }

    #[test]
    fn measured_weekly_and_monthly_rows_are_used_and_the_share_rule_is_only_the_fallback() {
        // A ratio file from `compare --build` with weekly and monthly measured: for cluster
        // both, for rpm-ostree only weekly (an older file, say).
        let table = RatioTable::new(
            vec![
                row("cluster", 64, Client::Every, 0.672),
                row("cluster", 64, Client::Weekly, 0.66),
                row("cluster", 64, Client::Monthly, 0.61),
                row("cluster", 64, Client::Fresh, 0.517),
                row("rpm-ostree", 64, Client::Every, 0.616),
                row("rpm-ostree", 64, Client::Weekly, 0.6),
                row("rpm-ostree", 64, Client::Fresh, 0.52),
            ],
            "test",
        )
        .unwrap();
        let m = CompressionModel::Measured(table);
        let shares = Some(Shares {
            client: 0.7,
            every: 0.4,
        });
        for (client, want) in [(Client::Weekly, 0.66), (Client::Monthly, 0.61)] {
            let r = m.ratio("cluster", "cluster", 64, client, shares);
            // The measured row as it is, whatever the shares: no `†`.
            assert_eq!(
                (r.ratio, r.basis, r.share_scaled),
                (want, RatioBasis::Measured, None)
            );
        }
        // Between budgets the client's own rows are interpolated like every's.
        let nearest = m.ratio("cluster", "cluster", 127, Client::Monthly, shares);
        assert_eq!((nearest.ratio, nearest.basis), (0.61, RatioBasis::Nearest));
        let weekly = m.ratio("rpm-ostree", "rpm-ostree", 64, Client::Weekly, shares);
        assert_eq!((weekly.ratio, weekly.share_scaled), (0.6, None));
        // No monthly row for rpm-ostree: the fallback, every's moved halfway to the image's.
        let monthly = m.ratio("rpm-ostree", "rpm-ostree", 64, Client::Monthly, shares);
        assert!((monthly.ratio - (0.616 + 0.5 * (0.52 - 0.616))).abs() < 1e-12);
        assert_eq!(monthly.share_scaled, Some(0.7));
        // A swept setting without rows of its own takes the strategy's measured client rows.
        let swept = m.ratio(
            "cluster half_life_builds=8",
            "cluster",
            64,
            Client::Monthly,
            shares,
        );
        assert_eq!((swept.ratio, swept.share_scaled), (0.61, None));
    }

    #[test]
    fn a_swept_setting_uses_its_own_rows_else_the_strategys() {
        let m = model();
        let own = m.ratio(
            "cluster half_life_builds=8",
            "cluster",
            64,
            Client::Every,
            None,
        );
        assert_eq!(own.ratio, 0.7);
        // The strategy's fresh row before the setting's `every` row: a fresh install fetches
        // the whole image whatever the setting.
        let fresh = m.ratio(
            "cluster half_life_builds=8",
            "cluster",
            64,
            Client::Fresh,
            None,
        );
        assert_eq!(fresh.ratio, 0.517);
        let default = m.ratio("cluster prior_builds=0", "cluster", 64, Client::Every, None);
        assert_eq!(default.ratio, 0.672);
    }

    #[test]
    fn an_unmeasured_strategy_falls_back_to_the_fixed_ratio_and_says_so() {
        let r = model().ratio("graph", "graph", 64, Client::Every, None);
        assert_eq!(r, AppliedRatio::fixed(RatioBasis::Fallback));
        assert_eq!(r.ratio, COMPRESSION_RATIO);
        let fixed = CompressionModel::Fixed.ratio("cluster", "cluster", 64, Client::Every, None);
        assert_eq!(fixed, AppliedRatio::fixed(RatioBasis::Fixed));
    }

    #[test]
    fn bad_tables_are_refused() {
        assert_eq!(RatioTable::new(vec![], "t"), Err(RatioError::Empty));
        let mut gzip = row("single", 64, Client::Every, 0.5);
        gzip.compression = "gzip:6".into();
        assert!(matches!(
            RatioTable::new(vec![row("single", 64, Client::Every, 0.5), gzip], "t"),
            Err(RatioError::MixedCompression(..))
        ));
        for bad in [0.0, -1.0, f64::NAN, 3.0] {
            assert!(matches!(
                RatioTable::new(vec![row("single", 64, Client::Every, bad)], "t"),
                Err(RatioError::BadRatio { .. })
            ));
        }
        let twice = vec![
            row("single", 64, Client::Every, 0.5),
            row("single", 64, Client::Every, 0.6),
        ];
        assert!(matches!(
            RatioTable::new(twice, "t"),
            Err(RatioError::Duplicate { .. })
        ));
        assert!(matches!(
            RatioTable::new(vec![row("single", 0, Client::Every, 0.5)], "t"),
            Err(RatioError::BadBudget { .. })
        ));
    }
}
