//! Bootstrap confidence intervals. Seeded, so a report is the same every time it is made.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RESAMPLES: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn percentile_interval(estimate: f64, mut draws: Vec<f64>) -> Interval {
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((q * (draws.len() - 1) as f64).round() as usize).min(draws.len() - 1)];
    Interval { estimate, low: at(0.025), high: at(0.975) }
}

/// 95% percentile-bootstrap interval of the mean of `values`.
pub fn bootstrap_mean_ci(values: &[f64], seed: u64) -> Interval {
    if values.len() < 2 {
        let m = mean(values);
        return Interval { estimate: m, low: m, high: m };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draws = (0..RESAMPLES)
        .map(|_| (0..values.len()).map(|_| values[rng.gen_range(0..values.len())]).sum::<f64>() / values.len() as f64)
        .collect();
    percentile_interval(mean(values), draws)
}

/// 95% interval of mean(a - b) over paired observations (same steps, same data), and the
/// two-sided bootstrap p-value of "no difference".
pub fn paired_bootstrap_diff(a: &[f64], b: &[f64], seed: u64) -> (Interval, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    if d.len() < 2 {
        let m = mean(&d);
        return (Interval { estimate: m, low: m, high: m }, 1.0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draws: Vec<f64> = (0..RESAMPLES)
        .map(|_| (0..d.len()).map(|_| d[rng.gen_range(0..d.len())]).sum::<f64>() / d.len() as f64)
        .collect();
    let below = draws.iter().filter(|&&x| x <= 0.0).count() as f64 / draws.len() as f64;
    let above = draws.iter().filter(|&&x| x >= 0.0).count() as f64 / draws.len() as f64;
    let p = (2.0 * below.min(above)).min(1.0);
    (percentile_interval(mean(&d), draws), p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_contains_the_mean_and_tightens_with_data() {
        let few: Vec<f64> = (0..10).map(|i| (i % 3) as f64).collect();
        let many: Vec<f64> = (0..1000).map(|i| (i % 3) as f64).collect();
        let a = bootstrap_mean_ci(&few, 1);
        let b = bootstrap_mean_ci(&many, 1);
        assert!(a.low <= a.estimate && a.estimate <= a.high);
        assert!((b.high - b.low) < (a.high - a.low));
        assert!((b.estimate - 1.0).abs() < 0.01);
    }

    #[test]
    fn a_clear_difference_is_significant_and_none_is_not() {
        let a: Vec<f64> = (0..50).map(|i| 0.6 + 0.01 * ((i * 7) % 5) as f64).collect();
        let b: Vec<f64> = (0..50).map(|i| 0.4 + 0.01 * ((i * 3) % 5) as f64).collect();
        let (ci, p) = paired_bootstrap_diff(&a, &b, 2);
        assert!(ci.excludes_zero() && p < 0.01, "{ci:?} {p}");
        let (ci, p) = paired_bootstrap_diff(&a, &a, 2);
        assert!(!ci.excludes_zero() && p == 1.0, "{ci:?} {p}");
    }
}
