//! Per-step statistics: micro-batch values weighted as they enter the gradient, averaged over
//! the step's updates, plus batch-level figures.

use std::collections::BTreeMap;

use lrpo_core::{StepStats, TrainBatch};

#[derive(Debug, Default)]
pub struct StepTotals {
    /// Sums over finished updates of each update's weighted value.
    sums: BTreeMap<&'static str, f64>,
    current: BTreeMap<&'static str, f64>,
    updates: u64,
    skipped: u64,
    finite_norm_sum: f64,
    sampler_abs_diff: f64,
    sampler_tokens: f64,
    /// Seconds spent in named parts of the step (the all-reduce), summed over its updates.
    times: BTreeMap<&'static str, f64>,
}

impl StepTotals {
    pub fn begin_update(&mut self) {
        self.current.clear();
    }

    pub fn add_micro<const N: usize>(&mut self, weight: f64, values: [(&'static str, f64); N]) {
        for (k, v) in values {
            *self.current.entry(k).or_default() += weight * v;
        }
    }

    pub fn add_sampler_diff(&mut self, abs_diff_sum: f64, tokens: f64) {
        self.sampler_abs_diff += abs_diff_sum;
        self.sampler_tokens += tokens;
    }

    pub fn add_time(&mut self, key: &'static str, seconds: f64) {
        *self.times.entry(key).or_default() += seconds;
    }

    /// Closes an update whose pre-clip gradient norm was `norm` (skipped when not finite).
    pub fn end_update(&mut self, norm: f64) {
        for (k, v) in std::mem::take(&mut self.current) {
            *self.sums.entry(k).or_default() += v;
        }
        self.updates += 1;
        if norm.is_finite() {
            self.finite_norm_sum += norm;
        } else {
            self.skipped += 1;
        }
    }

    pub fn finish(self) -> StepStats {
        let mut stats = StepStats::default();
        let updates = self.updates.max(1) as f64;
        for (k, v) in self.sums {
            stats.set(k, v / updates);
        }
        stats.set("updates", self.updates as f64);
        stats.set("skipped_updates", self.skipped as f64);
        let applied = self.updates - self.skipped;
        // Mean over the updates that were applied; a skipped update's norm is reported by count.
        stats.set("grad_norm", if applied > 0 { self.finite_norm_sum / applied as f64 } else { 0.0 });
        for (k, v) in self.times {
            stats.set(k, v);
        }
        if self.sampler_tokens > 0.0 {
            stats.set("sampler_logprob_abs_diff", self.sampler_abs_diff / self.sampler_tokens);
        }
        stats
    }
}

/// Figures that add up over the ranks' shares of a step; every other one is a mean per row,
/// token or update, the same kind of figure on every rank.
const SUMMED: [&str; 3] = ["prompt_tokens", "response_tokens", "samples"];

/// Makes a rank's statistics the whole step's: sums of [`SUMMED`], means of the rest.
pub fn over_ranks(stats: &mut StepStats, world: &lrpo_sdk::collective::World) -> lrpo_core::Result<()> {
    let mut values: Vec<f64> = stats.values.values().copied().collect();
    world.all_reduce_sum(&mut values)?;
    let ranks = world.size() as f64;
    for ((key, value), total) in stats.values.iter_mut().zip(values) {
        *value = if SUMMED.contains(&key.as_str()) { total } else { total / ranks };
    }
    Ok(())
}

/// Rewards, advantages (token-weighted, as verl logs them) and token counts of the batch.
pub fn batch_stats(stats: &mut StepStats, batch: &TrainBatch, adv: &[f64]) {
    let n = batch.samples.len().max(1) as f64;
    stats.set("reward_mean", batch.samples.iter().map(|s| s.reward).sum::<f64>() / n);
    let tokens: Vec<f64> = batch.samples.iter().map(|s| s.response_tokens.len() as f64).collect();
    let total: f64 = tokens.iter().sum();
    let mean = adv.iter().zip(&tokens).map(|(a, t)| a * t).sum::<f64>() / total.max(1.0);
    let var = adv.iter().zip(&tokens).map(|(a, t)| (a - mean).powi(2) * t).sum::<f64>() / total.max(1.0);
    stats.set("adv_mean", mean);
    stats.set("adv_std", var.sqrt());
    stats.set("response_tokens", total);
    stats.set("prompt_tokens", batch.samples.iter().map(|s| s.prompt_tokens.len() as f64).sum());
    stats.set("samples", batch.samples.len() as f64);
}
