//! Bootstrap confidence intervals (independent and moving-block) and rank correlation. Seeded,
//! so a report is the same every time it is made.

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

/// The block length of [`block_bootstrap_change`] for `n` steps: about n^(1/3), the usual
/// rate for a moving-block bootstrap of a mean, and at least 2 so neighbours stay together.
pub fn block_length(n: usize) -> usize {
    ((n as f64).cbrt().round() as usize).max(2)
}

/// The change of a training curve: mean of its last fifth minus mean of its first fifth (at
/// least one step each), with a 95% moving-block bootstrap interval. Steps of one run are not
/// independent (a step's policy is the previous one's, plus one update), so the curve is
/// resampled in contiguous blocks of [`block_length`] steps, which keeps that dependence
/// within each block instead of pretending every step is a fresh draw.
pub fn block_bootstrap_change(curve: &[f64], seed: u64) -> Interval {
    let n = curve.len();
    let fifth = (n / 5).max(1);
    let change = |c: &[f64]| mean(&c[c.len() - fifth..]) - mean(&c[..fifth]);
    if n < 2 * fifth + 1 {
        let d = if n >= 2 { change(curve) } else { 0.0 };
        return Interval { estimate: d, low: d, high: d };
    }
    // Resample the residuals around the curve's linear trend in blocks, then add the trend back:
    // resampling the raw curve would scramble the very trend whose size is being measured.
    let (a, b) = linear_fit(curve);
    let trend: Vec<f64> = (0..n).map(|i| a + b * i as f64).collect();
    let resid: Vec<f64> = curve.iter().zip(&trend).map(|(y, t)| y - t).collect();
    let len = block_length(n).min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draws = (0..RESAMPLES)
        .map(|_| {
            let mut sample = Vec::with_capacity(n);
            while sample.len() < n {
                let start = rng.gen_range(0..=n - len);
                sample.extend_from_slice(&resid[start..start + len]);
            }
            sample.truncate(n);
            let series: Vec<f64> = sample.iter().zip(&trend).map(|(r, t)| r + t).collect();
            change(&series)
        })
        .collect();
    percentile_interval(change(curve), draws)
}

/// Least-squares line through (i, y_i): (intercept, slope).
fn linear_fit(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let mx = (n - 1.0) / 2.0;
    let my = mean(y);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in y.iter().enumerate() {
        sxy += (i as f64 - mx) * (v - my);
        sxx += (i as f64 - mx).powi(2);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

/// The paired difference of `a - b` resampled in moving blocks of [`block_length`] (steps of
/// two arms are paired by step, and neighbouring steps are dependent), with the two-sided
/// bootstrap p-value of "no difference".
pub fn paired_block_bootstrap_diff(a: &[f64], b: &[f64], seed: u64) -> (Interval, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len();
    if n < 2 {
        let m = mean(&d);
        return (Interval { estimate: m, low: m, high: m }, 1.0);
    }
    let len = block_length(n).min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centred: Vec<f64> = d.iter().map(|x| x - mean(&d)).collect();
    let mut draws = Vec::with_capacity(RESAMPLES);
    let mut null = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let (mut sum, mut sum0, mut k) = (0.0, 0.0, 0);
        while k < n {
            let start = rng.gen_range(0..=n - len);
            for i in start..(start + len).min(start + n - k) {
                sum += d[i];
                sum0 += centred[i];
                k += 1;
            }
        }
        draws.push(sum / n as f64);
        null.push(sum0 / n as f64);
    }
    // p: how often a mean as far from zero arises when the true mean is zero (the centred
    // series resampled the same way).
    let observed = mean(&d).abs();
    let p = null.iter().filter(|x| x.abs() >= observed).count() as f64 / RESAMPLES as f64;
    (percentile_interval(mean(&d), draws), p.max(1.0 / RESAMPLES as f64).min(1.0))
}

/// Spearman's rank correlation of paired values (average ranks for ties); `None` with fewer
/// than three pairs or when one side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let (mx, my) = (mean(&rx), mean(&ry));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_curve_shows_its_change_and_a_flat_noisy_one_does_not() {
        // Rising by 0.01 a step with a wobble; and the wobble alone.
        let wobble = |i: usize| 0.05 * ((i * 7 % 5) as f64 - 2.0);
        let rising: Vec<f64> = (0..40).map(|i| 0.4 + 0.01 * i as f64 + wobble(i)).collect();
        let flat: Vec<f64> = (0..40).map(|i| 0.5 + wobble(i)).collect();
        let up = block_bootstrap_change(&rising, 3);
        assert!(up.excludes_zero() && up.low > 0.1, "{up:?}");
        assert!((up.estimate - 0.32).abs() < 0.05, "{up:?}");
        let none = block_bootstrap_change(&flat, 3);
        assert!(!none.excludes_zero(), "{none:?}");
    }

    #[test]
    fn autocorrelated_steps_get_a_wider_interval_than_independent_ones() {
        // A slow random walk around a constant: neighbouring steps are alike. The independent
        // bootstrap is fooled into a narrow interval; the block bootstrap is not.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut level = 0.0;
        let a: Vec<f64> = (0..60)
            .map(|_| {
                level = 0.9 * level + rng.gen_range(-0.1..0.1);
                level
            })
            .collect();
        let zeros = vec![0.0; a.len()];
        let (independent, _) = paired_bootstrap_diff(&a, &zeros, 4);
        let (blocks, _) = paired_block_bootstrap_diff(&a, &zeros, 4);
        assert!(blocks.high - blocks.low > independent.high - independent.low, "{blocks:?} vs {independent:?}");
    }

    #[test]
    fn spearman_ranks_ties_and_refuses_too_little() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 0.9487).abs() < 1e-3, "{r}");
        assert_eq!(spearman(&[1.0, 2.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }

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
