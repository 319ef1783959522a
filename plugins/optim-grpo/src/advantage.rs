//! Outcome advantages per response from the scalar rewards of its group (spec §5.1).

use std::collections::HashMap;

use crate::config::AdvantageEstimator;

/// Added to the unbiased std before dividing, as verl does.
pub const STD_EPS: f64 = 1e-6;

/// One advantage per reward, groups given by `group_ids` (any order; members need not be
/// contiguous). Computed in f64.
pub fn advantages(estimator: AdvantageEstimator, group_ids: &[u64], rewards: &[f64]) -> Vec<f64> {
    debug_assert_eq!(group_ids.len(), rewards.len());
    let mut members: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, &g) in group_ids.iter().enumerate() {
        members.entry(g).or_default().push(i);
    }
    let mut out = vec![0.0; rewards.len()];
    for rows in members.values() {
        let scores: Vec<f64> = rows.iter().map(|&i| rewards[i]).collect();
        for (&i, a) in rows.iter().zip(group_advantages(estimator, &scores)) {
            out[i] = a;
        }
    }
    out
}

/// Advantages of one group's scores.
pub fn group_advantages(estimator: AdvantageEstimator, scores: &[f64]) -> Vec<f64> {
    let k = scores.len();
    if k == 0 {
        return Vec::new();
    }
    // A lone response has no peers: verl takes mean 0 (and std 1 for GRPO).
    if k == 1 {
        let s = scores[0];
        return vec![match estimator {
            AdvantageEstimator::Grpo => s / (1.0 + STD_EPS),
            AdvantageEstimator::DrGrpo | AdvantageEstimator::Rloo => s,
        }];
    }
    // Equal scores carry no preference; exact zeros avoid (s − μ) rounding noise / 1e-6.
    if scores.iter().all(|&s| s == scores[0]) {
        return vec![0.0; k];
    }
    let kf = k as f64;
    let mean = scores.iter().sum::<f64>() / kf;
    match estimator {
        AdvantageEstimator::Grpo => {
            let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (kf - 1.0);
            let std = var.sqrt();
            scores.iter().map(|s| (s - mean) / (std + STD_EPS)).collect()
        }
        AdvantageEstimator::DrGrpo => scores.iter().map(|s| s - mean).collect(),
        // s_i − mean of the others = K/(K−1)·(s_i − μ).
        AdvantageEstimator::Rloo => scores.iter().map(|s| (s - mean) * kf / (kf - 1.0)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AdvantageEstimator::*;

    const TV9: [f64; 8] = [0.9, 0.0, 0.8, 0.0, 0.95, 0.7, 0.0, 0.85];

    fn close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol, "entry {i}: got {g}, want {w}");
        }
    }

    #[test]
    fn tv9_grpo_uses_unbiased_std() {
        let a = group_advantages(Grpo, &TV9);
        close(&a, &[0.8507655, -1.1910716, 0.6238947, -1.1910716, 0.9642009, 0.3970239, -1.1910716, 0.7373301], 1e-6);
        let mean = TV9.iter().sum::<f64>() / 8.0;
        assert!((mean - 0.525).abs() < 1e-12);
    }

    #[test]
    fn tv9_dr_grpo_is_centred_only() {
        close(&group_advantages(DrGrpo, &TV9), &[0.375, -0.525, 0.275, -0.525, 0.425, 0.175, -0.525, 0.325], 1e-12);
    }

    #[test]
    fn tv9_singleton_and_all_equal() {
        close(&group_advantages(Grpo, &[0.5]), &[0.4999995], 1e-7);
        assert_eq!(group_advantages(Grpo, &[0.1; 5]), vec![0.0; 5]);
        assert_eq!(group_advantages(DrGrpo, &[0.3; 3]), vec![0.0; 3]);
        assert_eq!(group_advantages(Rloo, &[0.7; 4]), vec![0.0; 4]);
        assert_eq!(group_advantages(Rloo, &[0.5]), vec![0.5]);
    }

    #[test]
    fn rloo_subtracts_the_mean_of_the_others() {
        let s = [1.0, 0.0, 0.5, 0.25];
        let a = group_advantages(Rloo, &s);
        for i in 0..s.len() {
            let others = (s.iter().sum::<f64>() - s[i]) / 3.0;
            assert!((a[i] - (s[i] - others)).abs() < 1e-12);
        }
    }

    #[test]
    fn groups_are_found_by_id_even_when_interleaved() {
        let ids = [7, 9, 7, 9, 7];
        let r = [1.0, 0.0, 0.0, 1.0, 0.5];
        let a = advantages(Grpo, &ids, &r);
        let g7 = group_advantages(Grpo, &[1.0, 0.0, 0.5]);
        let g9 = group_advantages(Grpo, &[0.0, 1.0]);
        close(&a, &[g7[0], g9[0], g7[1], g9[1], g7[2]], 0.0);
    }
}
