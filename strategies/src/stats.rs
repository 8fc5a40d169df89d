//! The few statistics the peer packers classify with: median, median absolute deviation, mean
//! and population standard deviation. Empty input gives zeros.

use std::cmp::Ordering;

/// Median of `values` (mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Median and median absolute deviation around it.
pub fn median_and_mad(values: &[f64]) -> (f64, f64) {
    let m = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    (m, median(&deviations))
}

/// Mean and population standard deviation (divided by n, as both peers do).
pub fn mean_and_population_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_ostree_ext_statistics_cases() {
        // ostree-ext's own cases for its statistics module.
        assert_eq!(median_and_mad(&[1.0, 4.0]), (2.5, 1.5));
        let v = [
            1.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0, 5.0, 6.0, 6.0, 6.0, 7.0, 7.0, 7.0, 8.0, 9.0,
            12.0, 52.0, 90.0,
        ];
        assert_eq!(median_and_mad(&v), (6.0, 2.0));
        assert_eq!(mean_and_population_sd(&[1.0, 4.0]), (2.5, 1.5));
        let (_, sd) = mean_and_population_sd(&[
            1.0, 20.0, 300.0, 4000.0, 50000.0, 600000.0, 7000000.0, 80000000.0,
        ]);
        assert!((sd - 26193874.56387471).abs() < 1e-6);
        assert_eq!(median_and_mad(&[]), (0.0, 0.0));
    }
}
