//! Per-token loss pieces and their aggregation (spec §5.2–5.4), on `[rows, len]` grids with a
//! 0/1 float mask of the response tokens.

use tch::{Kind, Tensor};

use crate::config::{KlEstimator, LossAggregation};

/// Guard of verl's masked mean against an all-padding micro-batch.
pub const MASK_EPS: f64 = 1e-8;

/// Clip settings of the dual-clip PPO objective.
#[derive(Debug, Clone, Copy)]
pub struct Clip {
    pub low: f64,
    pub high: f64,
    pub c: f64,
}

/// Per-token policy loss and the two clip indicators.
#[derive(Debug)]
pub struct PolicyLoss {
    pub loss: Tensor,
    /// 1 where the ratio clip was active (`pg_clipfrac`).
    pub clipped: Tensor,
    /// 1 where the dual clip bound was active (`pg_clipfrac_lower`).
    pub clipped_lower: Tensor,
    /// log π_old − log πθ per token, for the `ppo_kl` statistic.
    pub approx_kl: Tensor,
}

/// Dual-clip PPO per token. `advantages` broadcasts against the log-prob grids.
pub fn policy_loss(logp: &Tensor, old_logp: &Tensor, advantages: &Tensor, clip: Clip) -> PolicyLoss {
    let neg_approx_kl = (logp - old_logp).clamp(-20.0, 20.0);
    let ratio = neg_approx_kl.exp();
    let neg_adv = -advantages;
    let unclipped = &neg_adv * &ratio;
    let clipped = &neg_adv * ratio.clamp(1.0 - clip.low, 1.0 + clip.high);
    let clip_loss = unclipped.maximum(&clipped);
    let clip_active = clipped.gt_tensor(&unclipped).to_kind(Kind::Float);
    let dual_bound = &neg_adv * clip.c;
    let dual = clip_loss.minimum(&dual_bound);
    let negative = advantages.lt(0.0);
    let dual_active = clip_loss.gt_tensor(&dual_bound).logical_and(&negative).to_kind(Kind::Float);
    let loss = dual.where_self(&negative, &clip_loss);
    PolicyLoss { loss, clipped: clip_active, clipped_lower: dual_active, approx_kl: -neg_approx_kl }
}

/// Per-token KL estimate of πθ from π_ref, as verl's `kl_penalty`.
pub fn kl_penalty(logp: &Tensor, ref_logp: &Tensor, estimator: KlEstimator) -> Tensor {
    match estimator {
        KlEstimator::K1 => logp - ref_logp,
        KlEstimator::K2 => (logp - ref_logp).square() * 0.5,
        KlEstimator::K3 => {
            let delta = (ref_logp - logp).clamp(-20.0, 20.0);
            (delta.exp() - &delta - 1.0).clamp(-10.0, 10.0)
        }
    }
}

/// Entropy of the softmax of `logits` `[.., vocab]` (as verl: logsumexp − Σ p·logit).
pub fn entropy_from_logits(logits: &Tensor) -> Tensor {
    let probs = logits.softmax(-1, Kind::Float);
    logits.logsumexp([-1i64].as_slice(), false)
        - (probs * logits).sum_dim_intlist([-1i64].as_slice(), false, Kind::Float)
}

/// `Σ x·m / (Σ m + 1e-8)` over the whole grid.
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Tensor {
    (x * mask).sum(Kind::Float) / (mask.sum(Kind::Float) + MASK_EPS)
}

/// One scalar from a `[rows, len]` per-token grid.
pub fn aggregate(x: &Tensor, mask: &Tensor, mode: LossAggregation, norm_length: usize) -> Tensor {
    let dims = [-1i64];
    match mode {
        LossAggregation::TokenMean => masked_mean(x, mask),
        LossAggregation::SeqMeanTokenMean => {
            let per_seq = (x * mask).sum_dim_intlist(dims.as_slice(), false, Kind::Float)
                / mask.sum_dim_intlist(dims.as_slice(), false, Kind::Float);
            per_seq.mean(Kind::Float)
        }
        LossAggregation::SeqMeanTokenSum => {
            (x * mask).sum_dim_intlist(dims.as_slice(), false, Kind::Float).mean(Kind::Float)
        }
        LossAggregation::SeqMeanTokenSumNorm => {
            (x * mask).sum_dim_intlist(dims.as_slice(), false, Kind::Float).sum(Kind::Float) / norm_length as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    fn k3(logp: f64, ref_logp: f64) -> f64 {
        let t = |v: f64| Tensor::from_slice(&[v]);
        kl_penalty(&t(logp), &t(ref_logp), KlEstimator::K3).double_value(&[0])
    }

    #[test]
    fn tv10_k3_values_and_clamps() {
        for (logp, ref_logp, want) in [
            (-1.0, -1.2, 0.018730753077981888),
            (-2.0, -1.0, std::f64::consts::E - 2.0),
            (-0.1, -30.0, 10.0),
            (-30.0, -0.1, 10.0),
        ] {
            let got = k3(logp, ref_logp);
            assert!((got - want).abs() < 1e-12, "k3({logp}, {ref_logp}) = {got}, want {want}");
        }
    }

    #[test]
    fn k1_k2_estimators() {
        let lp = Tensor::from_slice(&[-1.0f64, -2.0]);
        let rp = Tensor::from_slice(&[-1.5f64, -1.0]);
        let k1: Vec<f64> = Vec::try_from(kl_penalty(&lp, &rp, KlEstimator::K1)).unwrap();
        let k2: Vec<f64> = Vec::try_from(kl_penalty(&lp, &rp, KlEstimator::K2)).unwrap();
        assert_eq!(k1, vec![0.5, -1.0]);
        assert_eq!(k2, vec![0.125, 0.5]);
    }

    #[test]
    fn k3_gradient_is_one_minus_ref_over_policy() {
        let lp = Tensor::from_slice(&[-1.0f64]).set_requires_grad(true);
        let rp = Tensor::from_slice(&[-1.2f64]);
        kl_penalty(&lp, &rp, KlEstimator::K3).sum(Kind::Double).backward();
        let want = 1.0 - (-1.2f64).exp() / (-1.0f64).exp();
        assert!((lp.grad().double_value(&[0]) - want).abs() < 1e-12);
    }

    #[test]
    fn tv10_dual_clip_ppo() {
        let clip = Clip { low: 0.2, high: 0.2, c: 3.0 };
        for (adv, ratio, want) in [
            (1.0, 1.0, -1.0),
            (1.0, 1.3, -1.2),
            (1.0, 0.7, -0.7),
            (-1.0, 0.7, 0.8),
            (-1.0, 1.3, 1.3),
            (-1.0, 4.0, 3.0),
            (0.5, 1.1, -0.55),
        ] {
            let old = Tensor::from_slice(&[0.0f64]);
            let logp = Tensor::from_slice(&[f64::ln(ratio)]);
            let pl = policy_loss(&logp, &old, &Tensor::from_slice(&[adv]), clip);
            let got = pl.loss.double_value(&[0]);
            assert!((got - want).abs() < 1e-12, "(Â={adv}, ρ={ratio}) -> {got}, want {want}");
            let dual = pl.clipped_lower.double_value(&[0]);
            assert_eq!(dual, if adv < 0.0 && ratio > 3.0 { 1.0 } else { 0.0 }, "dual-clip flag for ({adv}, {ratio})");
        }
    }

    #[test]
    fn separate_low_and_high_clip() {
        let clip = Clip { low: 0.1, high: 0.3, c: 3.0 };
        let old = Tensor::from_slice(&[0.0f64, 0.0]);
        let logp = Tensor::from_slice(&[f64::ln(1.5), f64::ln(0.5)]);
        let adv = Tensor::from_slice(&[1.0f64, -1.0]);
        let got: Vec<f64> = Vec::try_from(policy_loss(&logp, &old, &adv, clip).loss).unwrap();
        assert!((got[0] + 1.3).abs() < 1e-12 && (got[1] - 0.9).abs() < 1e-12, "{got:?}");
    }

    #[test]
    fn tv10_aggregation() {
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 9.0, 4.0, 9.0, 9.0, 9.0]).view([2, 4]);
        let m = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]).view([2, 4]);
        let tm = scalar(&aggregate(&x, &m, LossAggregation::TokenMean, 1));
        assert!((tm - 2.5 * (1.0 - 4e-9)).abs() < 1e-6, "{tm}");
        assert!((scalar(&aggregate(&x, &m, LossAggregation::SeqMeanTokenMean, 1)) - 3.0).abs() < 1e-6);
        assert!((scalar(&aggregate(&x, &m, LossAggregation::SeqMeanTokenSum, 1)) - 5.0).abs() < 1e-6);
        assert!((scalar(&aggregate(&x, &m, LossAggregation::SeqMeanTokenSumNorm, 4)) - 2.5).abs() < 1e-6);
    }

    #[test]
    fn entropy_of_uniform_is_log_vocab() {
        let logits = Tensor::zeros([3, 16], (Kind::Float, tch::Device::Cpu));
        let h: Vec<f32> = Vec::try_from(entropy_from_logits(&logits)).unwrap();
        for v in h {
            assert!((f64::from(v) - 16f64.ln()).abs() < 1e-6);
        }
    }
}
