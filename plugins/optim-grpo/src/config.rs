//! The `grpo` component's config table. Defaults are verl's as LRPO runs it (spec §5, §6).

use std::path::PathBuf;

use lrpo_core::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;

/// How per-response advantages are formed from the group's rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdvantageEstimator {
    /// (s − group mean) / (unbiased std + 1e-6).
    Grpo,
    /// s − group mean (no std division).
    DrGrpo,
    /// s − mean of the other responses of the group.
    Rloo,
}

/// Estimator of KL(πθ ‖ π_ref) per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum KlEstimator {
    /// log πθ − log π_ref.
    #[serde(rename = "k1", alias = "kl")]
    K1,
    /// ½ (log πθ − log π_ref)².
    #[serde(rename = "k2", alias = "mse")]
    K2,
    /// Schulman's k3 with verl's clamps (`low_var_kl`).
    #[serde(rename = "k3", alias = "low_var_kl")]
    K3,
}

/// How per-token losses of a micro-batch become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum LossAggregation {
    #[serde(rename = "token-mean")]
    TokenMean,
    #[serde(rename = "seq-mean-token-mean")]
    SeqMeanTokenMean,
    #[serde(rename = "seq-mean-token-sum")]
    SeqMeanTokenSum,
    /// Sum over tokens and sequences divided by a constant length (Dr.GRPO).
    #[serde(rename = "seq-mean-token-sum-norm")]
    SeqMeanTokenSumNorm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    Constant,
    Cosine,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GrpoConfig {
    /// Policy model directory in Hugging Face layout; default: the cached SmolLM2-135M-Instruct.
    #[schemars(schema_with = "lrpo_sdk::schema::input_dir")]
    pub model_dir: Option<PathBuf>,
    /// Reference model directory; default: `model_dir` (the frozen initial policy).
    #[schemars(schema_with = "lrpo_sdk::schema::input_dir")]
    pub ref_model_dir: Option<PathBuf>,
    /// Weight dtype: f32, bf16 or f16.
    pub dtype: String,
    /// cpu, cuda or cuda:N.
    pub device: String,
    /// libtorch intra-op threads; 0 = the host's thread budget.
    pub threads: usize,

    pub adv_estimator: AdvantageEstimator,
    pub clip_ratio_low: f64,
    pub clip_ratio_high: f64,
    /// Dual-clip bound for negative advantages; must be > 1.
    pub clip_ratio_c: f64,
    /// KL loss coefficient; 0 turns the reference model off.
    pub kl_coef: f64,
    pub kl_estimator: KlEstimator,
    pub entropy_coeff: f64,
    pub loss_agg_mode: LossAggregation,
    /// Divisor of `seq-mean-token-sum-norm` (verl: the padded response length).
    pub loss_norm_length: usize,
    /// Logits are divided by this before log-softmax (the rollout temperature).
    pub temperature: f64,

    /// Rows per forward/backward.
    pub micro_batch_size: usize,
    /// Rows per forward of the passes without gradients (the reference policy's log-probs, and
    /// π_old's when a step makes several updates), as verl's `log_prob_micro_batch_size`: no
    /// activations are kept for a backward, so larger batches cost only their logits.
    /// 0 = `micro_batch_size`.
    pub log_prob_micro_batch_size: usize,
    /// Keep only each block's input during the policy forward and recompute the block in the
    /// backward pass: activation memory of one layer instead of all, for about one more forward.
    pub gradient_checkpointing: bool,
    /// Consecutive micro-batches go through the model in one forward and backward while their
    /// tokens (prompt + response of every row) stay within this many; each keeps its own loss,
    /// so the maths is `micro_batch_size`'s, but a backward's per-weight work (writing and
    /// accumulating every weight's gradient) is paid once per pass instead of once per
    /// micro-batch. More tokens per pass: fewer passes, more activation memory. 0 = one
    /// micro-batch a pass. Also sizes the passes without gradients when
    /// `log_prob_micro_batch_size` is 0.
    pub max_tokens_per_pass: usize,
    /// Rows of a pass that share a prompt (the rollouts of one question) run it once: one packed
    /// row per prompt, each response attending to the prompt and itself. The same maths with a
    /// group's prompt paid for once. Unset (the default): on where the model computes in f32 on
    /// the CPU, off elsewhere. Measured on 2 cores (a GRPO step of 4 x 4 rollouts of SmolLM2):
    /// faster in f32 (12.2 s against 13.6 s), slower in bf16 (9.0 s against 7.8 s, where the
    /// packed row's longer attention costs more than the prompt tokens it saves); not measured
    /// on GPUs. Not combined with `gradient_checkpointing`.
    pub share_prompts: Option<bool>,
    /// Rows per optimizer update; 0 = the whole batch (one update per epoch).
    pub mini_batch_size: usize,
    pub ppo_epochs: usize,
    /// Shuffle rows before each epoch's mini-batches.
    pub shuffle: bool,
    pub seed: u64,

    pub lr: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
    /// Max global gradient norm; 0 disables clipping (the norm is still checked for finiteness).
    pub grad_clip: f64,
    pub warmup_steps: u64,
    pub lr_schedule: LrSchedule,
    /// Training steps the cosine schedule spans.
    pub total_steps: u64,
    /// Floor of the cosine schedule as a fraction of `lr`.
    pub min_lr_ratio: f64,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        GrpoConfig {
            model_dir: None,
            ref_model_dir: None,
            dtype: "f32".into(),
            device: "cpu".into(),
            threads: 0,
            adv_estimator: AdvantageEstimator::Grpo,
            clip_ratio_low: 0.2,
            clip_ratio_high: 0.2,
            clip_ratio_c: 3.0,
            kl_coef: 0.001,
            kl_estimator: KlEstimator::K3,
            entropy_coeff: 0.0,
            loss_agg_mode: LossAggregation::TokenMean,
            loss_norm_length: 1024,
            temperature: 1.0,
            micro_batch_size: 4,
            log_prob_micro_batch_size: 0,
            gradient_checkpointing: false,
            max_tokens_per_pass: 2048,
            share_prompts: None,
            mini_batch_size: 0,
            ppo_epochs: 1,
            shuffle: false,
            seed: 0,
            lr: 1e-6,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.01,
            grad_clip: 1.0,
            warmup_steps: 0,
            lr_schedule: LrSchedule::Constant,
            total_steps: 1,
            min_lr_ratio: 0.0,
        }
    }
}

impl GrpoConfig {
    pub fn model_dir(&self) -> PathBuf {
        self.model_dir.clone().unwrap_or_else(|| lrpo_core::paths::model_dir("smollm2-135m-instruct"))
    }

    /// Rejects values that would make the step meaningless or divide by zero.
    pub fn validate(&self) -> Result<()> {
        let finite = |key: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::config(key, format!("must be finite, got {v}")))
            }
        };
        for (key, v) in [
            ("clip_ratio_low", self.clip_ratio_low),
            ("clip_ratio_high", self.clip_ratio_high),
            ("clip_ratio_c", self.clip_ratio_c),
            ("kl_coef", self.kl_coef),
            ("entropy_coeff", self.entropy_coeff),
            ("temperature", self.temperature),
            ("lr", self.lr),
            ("eps", self.eps),
            ("weight_decay", self.weight_decay),
            ("grad_clip", self.grad_clip),
            ("min_lr_ratio", self.min_lr_ratio),
        ] {
            finite(key, v)?;
        }
        if !(0.0..1.0).contains(&self.clip_ratio_low) || self.clip_ratio_high < 0.0 {
            return Err(Error::config("clip_ratio_low", "clip ratios must satisfy 0 <= low < 1 and high >= 0"));
        }
        if self.clip_ratio_c <= 1.0 {
            return Err(Error::config("clip_ratio_c", format!("must be > 1, got {}", self.clip_ratio_c)));
        }
        if self.temperature <= 0.0 {
            return Err(Error::config("temperature", "must be > 0"));
        }
        if self.micro_batch_size == 0 {
            return Err(Error::config("micro_batch_size", "must be >= 1"));
        }
        if self.ppo_epochs == 0 {
            return Err(Error::config("ppo_epochs", "must be >= 1"));
        }
        if self.loss_norm_length == 0 {
            return Err(Error::config("loss_norm_length", "must be >= 1"));
        }
        if self.lr < 0.0 || self.eps <= 0.0 || self.weight_decay < 0.0 || self.grad_clip < 0.0 {
            return Err(Error::config("lr", "lr, weight_decay and grad_clip must be >= 0 and eps > 0"));
        }
        for (i, b) in self.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                return Err(Error::config(format!("betas[{i}]"), format!("must be in [0, 1), got {b}")));
            }
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err(Error::config("min_lr_ratio", "must be in [0, 1]"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_the_lrpo_defaults() {
        let c: GrpoConfig = serde_json::from_str("{}").unwrap();
        c.validate().unwrap();
        assert_eq!((c.clip_ratio_low, c.clip_ratio_high, c.clip_ratio_c), (0.2, 0.2, 3.0));
        assert_eq!((c.kl_coef, c.kl_estimator, c.loss_agg_mode), (0.001, KlEstimator::K3, LossAggregation::TokenMean));
        assert_eq!((c.lr, c.betas, c.eps, c.weight_decay, c.grad_clip), (1e-6, [0.9, 0.999], 1e-8, 0.01, 1.0));
        assert!(c.model_dir().ends_with("models/smollm2-135m-instruct"));
    }

    #[test]
    fn verl_names_are_accepted_and_typos_rejected() {
        let c: GrpoConfig = serde_json::from_str(
            r#"{"kl_estimator": "low_var_kl", "adv_estimator": "dr_grpo", "loss_agg_mode": "seq-mean-token-sum-norm"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.kl_estimator, c.adv_estimator, c.loss_agg_mode),
            (KlEstimator::K3, AdvantageEstimator::DrGrpo, LossAggregation::SeqMeanTokenSumNorm)
        );
        let e = serde_json::from_str::<GrpoConfig>(r#"{"kl_coeff": 0.1}"#).unwrap_err().to_string();
        assert!(e.contains("kl_coeff"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |json: &str| serde_json::from_str::<GrpoConfig>(json).unwrap().validate().unwrap_err().to_string();
        assert!(bad(r#"{"clip_ratio_c": 0.5}"#).contains("clip_ratio_c"));
        assert!(bad(r#"{"micro_batch_size": 0}"#).contains("micro_batch_size"));
        assert!(bad(r#"{"betas": [0.9, 1.5]}"#).contains("betas[1]"));
        assert!(bad(r#"{"temperature": 0}"#).contains("temperature"));
    }
}
