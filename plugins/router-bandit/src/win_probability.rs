//! The probability that each of several independent Normal draws is the largest: what
//! Thompson sampling's routing distribution is for one context, reported beside the bandit's
//! softmax so that every router states the same thing.
//!
//! P(l wins) = ∫ φ(z) Π_{j≠l} Φ((μ_l + σ_l z − μ_j) / σ_j) dz, a one-dimensional integral per
//! language over l's own standardised draw, taken with Simpson's rule on [−8, 8] (the normal
//! tail beyond is below 1e-15), then normalised to sum to one. Written here because it is a few
//! lines over an erf; no statistics crate is otherwise needed.

/// Simpson intervals over [−8, 8]: steps of 0.01 keep a steep Φ factor (a language whose
/// posterior is much narrower) within a few 1e-3 of the exact probability.
const INTERVALS: usize = 1600;
const HALF_WIDTH: f64 = 8.0;

/// Win probabilities of draws from N(mean[l], std[l]²); stds must be > 0 and finite.
pub fn win_probabilities(mean: &[f64], std: &[f64]) -> Vec<f64> {
    let n = mean.len();
    if n == 1 {
        return vec![1.0];
    }
    let h = 2.0 * HALF_WIDTH / INTERVALS as f64;
    let mut p: Vec<f64> = (0..n)
        .map(|l| {
            let mut sum = 0.0;
            for k in 0..=INTERVALS {
                let z = -HALF_WIDTH + k as f64 * h;
                let x = mean[l] + std[l] * z;
                let others: f64 = (0..n).filter(|&j| j != l).map(|j| normal_cdf((x - mean[j]) / std[j])).product();
                let weight = if k == 0 || k == INTERVALS {
                    1.0
                } else if k % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                sum += weight * normal_pdf(z) * others;
            }
            sum * h / 3.0
        })
        .collect();
    let total: f64 = p.iter().sum();
    if total > 0.0 && total.is_finite() {
        p.iter_mut().for_each(|x| *x /= total);
    } else {
        p = vec![1.0 / n as f64; n];
    }
    p
}

fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function, Numerical Recipes' Chebyshev fit (fractional error below
/// 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_posteriors_win_equally_often() {
        let p = win_probabilities(&[0.3; 4], &[0.5; 4]);
        for x in &p {
            assert!((x - 0.25).abs() < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn two_normals_match_the_closed_form() {
        // P(X1 > X2) = Φ((μ1 − μ2) / sqrt(σ1² + σ2²)).
        let (m, s) = ([0.4, -0.1], [0.7, 0.2]);
        let p = win_probabilities(&m, &s);
        let exact = normal_cdf((m[0] - m[1]) / (s[0] * s[0] + s[1] * s[1]).sqrt());
        assert!((p[0] - exact).abs() < 1e-4, "{} vs {exact}", p[0]);
        assert!((p[0] + p[1] - 1.0).abs() < 1e-12);
        assert!((normal_cdf(1.0) - 0.841_344_746).abs() < 1e-7);
    }

    #[test]
    fn a_clear_leader_takes_nearly_everything_and_a_sample_agrees() {
        let (m, s) = ([2.0, 0.0, 0.1], [0.1, 1.0, 0.05]);
        let p = win_probabilities(&m, &s);
        assert!(p[0] > 0.97, "{p:?}");
        // A Monte Carlo check with a fixed generator (Box-Muller over a small LCG).
        let mut state: u64 = 12345;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut wins = [0usize; 3];
        let draws = 200_000;
        for _ in 0..draws {
            let best = (0..3)
                .map(|l| {
                    let z = (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
                    (l, m[l] + s[l] * z)
                })
                .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
            wins[best.0] += 1;
        }
        for l in 0..3 {
            let freq = wins[l] as f64 / draws as f64;
            assert!((freq - p[l]).abs() < 0.005, "language {l}: sampled {freq}, integrated {}", p[l]);
        }
    }
}
