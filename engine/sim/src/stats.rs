//! Summary statistics over one contender's updates for one client: what the tables, the JSON
//! output and the plots report.

use serde::Serialize;

use crate::{Client, Run};

/// Averages and percentiles of one run × client.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub updates: usize,
    pub total_download_bytes: u64,
    pub mean_download_bytes: f64,
    /// Median by the nearest-rank method (the lower middle for an even count).
    pub median_download_bytes: u64,
    /// 90th percentile by the nearest-rank method.
    pub p90_download_bytes: u64,
    pub mean_compressed_download_bytes: f64,
    pub mean_reuse_ratio: f64,
    pub mean_layers_fetched: f64,
    pub mean_replanned_bytes: f64,
    pub mean_layer_count: f64,
}

/// Summarises the updates of `run` made by `client` (all zero when there are none).
pub fn summarize(run: &Run, client: Client) -> Summary {
    let updates: Vec<_> = run.updates.iter().filter(|u| u.client == client).collect();
    let n = updates.len();
    if n == 0 {
        return Summary::default();
    }
    let mut downloads: Vec<u64> = updates.iter().map(|u| u.cost.download_bytes).collect();
    downloads.sort_unstable();
    let mean =
        |f: &dyn Fn(&crate::Update) -> f64| updates.iter().map(|u| f(u)).sum::<f64>() / n as f64;
    let total: u64 = downloads.iter().sum();
    Summary {
        updates: n,
        total_download_bytes: total,
        mean_download_bytes: total as f64 / n as f64,
        median_download_bytes: nearest_rank(&downloads, 0.5),
        p90_download_bytes: nearest_rank(&downloads, 0.9),
        mean_compressed_download_bytes: mean(&|u| u.compressed_download_bytes as f64),
        mean_reuse_ratio: mean(&|u| u.cost.reuse_ratio),
        mean_layers_fetched: mean(&|u| u.cost.layers_fetched as f64),
        mean_replanned_bytes: mean(&|u| u.replanned_bytes as f64),
        mean_layer_count: mean(&|u| u.layer_count as f64),
    }
}

/// The smallest value with at least `q` of the values at or below it. `sorted` is not empty.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 0.5), 5);
        assert_eq!(nearest_rank(&v, 0.9), 9);
        assert_eq!(nearest_rank(&[7], 0.9), 7);
        assert_eq!(nearest_rank(&[1, 2, 3], 0.5), 2);
    }
}
