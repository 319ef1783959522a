//! The `grpo` optimizer: a trainable policy, an optional frozen reference, and one GRPO update
//! per training step (spec §5).

use std::time::Instant;

use lrpo_core::{Error, Result, StepStats, TrainBatch};
use lrpo_torch::DecoderLm;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::adamw::{grad_norm, AdamW, AdamWParams};
use crate::advantage::advantages;
use crate::batch::{passes, validate, MicroBatch};
use crate::config::GrpoConfig;
use crate::loss::{aggregate, entropy_from_logits, kl_penalty, masked_mean, policy_loss, Clip};
use crate::precision::{self, Masters};
use crate::schedule::Schedule;
use crate::score::score;
use crate::stats::StepTotals;

pub struct Grpo {
    pub(crate) config: GrpoConfig,
    pub(crate) policy: DecoderLm,
    pub(crate) reference: Option<DecoderLm>,
    /// The policy's weights under their HF names, sharing storage with the model.
    pub(crate) params: Vec<(String, Tensor)>,
    /// fp32 weights that the updates land on when the model computes in bf16/f16.
    pub(crate) masters: Option<Masters>,
    pub(crate) optimizer: AdamW,
    pub(crate) schedule: Schedule,
    /// Completed training steps; indexes the learning-rate schedule.
    pub(crate) steps_done: u64,
    /// Only drawn from when `shuffle` is on; saved so a resumed run shuffles identically.
    pub(crate) rng: ChaCha8Rng,
    pub(crate) device: Device,
}

impl std::fmt::Debug for Grpo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Grpo(step {}, {} params)", self.steps_done, self.params.len())
    }
}

impl Grpo {
    pub fn new(config: GrpoConfig) -> Result<Self> {
        config.validate()?;
        let device = lrpo_torch::parse_device("device", &config.device)?;
        let kind = lrpo_torch::parse_dtype("dtype", &config.dtype)?;
        let threads = if config.threads == 0 { lrpo_sdk::thread_budget() } else { config.threads };
        lrpo_torch::configure_cpu_runtime(threads);
        let load = |dir: std::path::PathBuf, key: &str| -> Result<DecoderLm> {
            if !dir.join("config.json").is_file() {
                return Err(Error::config(
                    key,
                    format!(
                        "{} holds no model (config.json missing); run {} to fetch the default models",
                        dir.display(),
                        lrpo_core::paths::SETUP_COMMAND
                    ),
                ));
            }
            DecoderLm::from_dir(&dir, kind, device)
        };
        let policy = load(config.model_dir(), "model_dir")?;
        policy.set_trainable(true);
        let reference = if config.kl_coef != 0.0 {
            let dir = config.ref_model_dir.clone().unwrap_or_else(|| config.model_dir());
            let reference = load(dir, "ref_model_dir")?;
            reference.set_trainable(false);
            if reference.config.vocab_size != policy.config.vocab_size {
                return Err(Error::config("ref_model_dir", "reference and policy vocabularies differ"));
            }
            Some(reference)
        } else {
            None
        };
        let params = policy.named_parameters();
        let masters = if kind == Kind::Float {
            None
        } else {
            let fp32 = DecoderLm::from_dir(&config.model_dir(), Kind::Float, device)?;
            Some(Masters::new(fp32.named_parameters().into_iter().map(|(_, t)| t).collect(), kind))
        };
        let tensors: Vec<Tensor> = match &masters {
            Some(m) => m.weights.iter().map(Tensor::shallow_clone).collect(),
            None => params.iter().map(|(_, t)| t.shallow_clone()).collect(),
        };
        let optimizer = AdamW::new(
            &tensors,
            AdamWParams {
                beta1: config.betas[0],
                beta2: config.betas[1],
                eps: config.eps,
                weight_decay: config.weight_decay,
            },
        );
        let schedule = Schedule {
            lr: config.lr,
            kind: config.lr_schedule,
            warmup_steps: config.warmup_steps,
            total_steps: config.total_steps,
            min_lr_ratio: config.min_lr_ratio,
        };
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Ok(Grpo { config, policy, reference, params, masters, optimizer, schedule, steps_done: 0, rng, device })
    }

    pub fn policy(&self) -> &DecoderLm {
        &self.policy
    }

    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    /// The weights the optimizer updates, in parameter order: the fp32 masters under mixed
    /// precision, the model's own weights in f32.
    pub(crate) fn trainable(&self) -> Vec<Tensor> {
        match &self.masters {
            Some(m) => m.weights.iter().map(Tensor::shallow_clone).collect(),
            None => self.params.iter().map(|(_, t)| t.shallow_clone()).collect(),
        }
    }

    /// The weights the updates land on, under their HF names (fp32 under mixed precision).
    pub fn master_weights(&self) -> Vec<(String, Tensor)> {
        self.params.iter().map(|(n, _)| n.clone()).zip(self.trainable()).collect()
    }

    fn zero_grads(&self) {
        for (_, p) in &self.params {
            p.shallow_clone().zero_grad();
        }
    }

    /// `share_prompts`, or where it is unset, whether the policy computes in f32 on the CPU.
    fn shares_prompts(&self) -> bool {
        let f32_cpu = self.policy.kind() == Kind::Float && self.device == Device::Cpu;
        self.config.share_prompts.unwrap_or(f32_cpu)
    }

    /// Log-probs of every row under `model`, one forward per micro-batch, without autograd.
    fn row_logprobs(&self, model: &DecoderLm, batch: &TrainBatch, adv: &[f64]) -> Result<Vec<Vec<f32>>> {
        let _guard = tch::no_grad_guard();
        let n = batch.samples.len();
        let mut out = vec![Vec::new(); n];
        let rows: Vec<usize> = (0..n).collect();
        // Without a row count of their own these passes take the update's: its micro-batches,
        // combined up to `max_tokens_per_pass`.
        let chunks: Vec<Vec<usize>> = match self.config.log_prob_micro_batch_size {
            0 => {
                let micro: Vec<&[usize]> = rows.chunks(self.config.micro_batch_size).collect();
                passes(batch, &micro, self.config.max_tokens_per_pass).iter().map(|p| p.concat()).collect()
            }
            size => rows.chunks(size).map(<[usize]>::to_vec).collect(),
        };
        for chunk in &chunks {
            let mb = MicroBatch::build(batch, chunk, adv, self.device, self.shares_prompts());
            let (logp, _, _) = score(model, &mb, self.config.temperature, false)?;
            for (i, values) in mb.split_rows(&logp, |i| batch.samples[i].response_tokens.len()) {
                out[i] = values;
            }
        }
        Ok(out)
    }

    /// One GRPO training step: advantages, then `ppo_epochs` passes of mini-batch updates.
    pub fn train_step(&mut self, batch: &TrainBatch) -> Result<StepStats> {
        let started = Instant::now();
        validate(batch, self.policy.config.vocab_size)?;
        let cfg = self.config.clone();
        let n = batch.samples.len();
        let group_ids: Vec<u64> = batch.samples.iter().map(|s| s.group_id).collect();
        let rewards: Vec<f64> = batch.samples.iter().map(|s| s.reward).collect();
        let adv = advantages(cfg.adv_estimator, &group_ids, &rewards);
        let lr = self.schedule.lr_at(self.steps_done);
        // In a data-parallel run this rank holds 1/ranks of the step (whole groups, equal
        // shares); a mini-batch is `mini_batch_size` rows of the whole step, taken as equal
        // slices of every rank's rows, so the summed gradients are the 1-rank update's.
        let world = lrpo_sdk::collective::world();
        let ranks = world.map_or(1, |w| w.size());
        if let Some(world) = &world {
            let mut rows = [n as f32];
            world.all_reduce_sum(&mut rows)?;
            if rows[0] != (n * ranks) as f32 {
                return Err(Error::runtime(format!(
                    "step {}: this rank holds {n} rows but the {ranks} ranks hold {} in all; every rank needs an equal share",
                    batch.step, rows[0]
                )));
            }
        }
        let whole = n * ranks;
        let global_mini = if cfg.mini_batch_size == 0 { whole } else { cfg.mini_batch_size.min(whole) };
        if !global_mini.is_multiple_of(ranks) {
            return Err(Error::config(
                "mini_batch_size",
                format!("{global_mini} rows do not split evenly over {ranks} ranks; use a multiple of {ranks}"),
            ));
        }
        let mini = global_mini / ranks;
        // With one update per step π_old is the current policy: its detached log-probs give
        // ρ ≡ 1 without a separate pass (verl does the same).
        let recompute_old = n.div_ceil(mini) > 1 || cfg.ppo_epochs > 1;
        let mut totals = StepTotals::default();
        let clock = Instant::now();
        let old_rows = if recompute_old { Some(self.row_logprobs(&self.policy, batch, &adv)?) } else { None };
        totals.add_time("old_logprob_s", clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let ref_rows = match &self.reference {
            Some(reference) => Some(self.row_logprobs(reference, batch, &adv)?),
            None => None,
        };
        totals.add_time("ref_logprob_s", clock.elapsed().as_secs_f64());
        let sampler_rows: Vec<Vec<f32>> = batch.samples.iter().map(|s| s.sampler_logprobs.clone()).collect();
        let clip = Clip { low: cfg.clip_ratio_low, high: cfg.clip_ratio_high, c: cfg.clip_ratio_c };
        let trainable = self.trainable();
        let share_prompts = self.shares_prompts() && !cfg.gradient_checkpointing;
        let mut order: Vec<usize> = (0..n).collect();

        for epoch in 0..cfg.ppo_epochs {
            if cfg.shuffle {
                order.shuffle(&mut self.rng);
            }
            for mini_rows in order.chunks(mini) {
                self.zero_grads();
                let scale = self.masters.as_ref().map_or(1.0, Masters::scale);
                totals.begin_update();
                let micro: Vec<&[usize]> = mini_rows.chunks(cfg.micro_batch_size).collect();
                for pass in passes(batch, &micro, cfg.max_tokens_per_pass) {
                    // The pass's micro-batches go through the model together; each keeps its
                    // own loss (its own token mean) and weight, and the weighted sum has one
                    // backward: the gradient of separate backwards, with the per-weight costs
                    // of a backward paid once.
                    let rows = pass.concat();
                    let mb = MicroBatch::build(batch, &rows, &adv, self.device, share_prompts);
                    let (logp, logits, checkpoint) =
                        score(&self.policy, &mb, cfg.temperature, cfg.gradient_checkpointing)?;
                    let old = match &old_rows {
                        Some(rows) => mb.grid(rows, self.device),
                        None => logp.detach(),
                    };
                    let reference = ref_rows.as_ref().map(|rows| mb.grid(rows, self.device));
                    let sampler = mb.grid(&sampler_rows, self.device);
                    let resp = mb.response_len as i64;
                    let mut pass_loss = Tensor::zeros([], (Kind::Float, self.device));
                    let mut start = 0i64;
                    for micro_rows in pass {
                        let (first, len) = (start, micro_rows.len() as i64);
                        let part = |t: &Tensor| t.narrow(0, first, len);
                        let (logp, old, mask) = (part(&logp), part(&old), part(&mb.mask));
                        let logits = logits.narrow(0, first * resp, len * resp);
                        start += len;
                        // The micro-batch's share of this rank's mini-batch (its statistics), and
                        // of the whole step's (its gradient, summed over the ranks).
                        let share = micro_rows.len() as f64 / mini_rows.len() as f64;
                        let weight = share / ranks as f64;
                        let agg = |x: &Tensor| aggregate(x, &mask, cfg.loss_agg_mode, cfg.loss_norm_length);
                        let pl = policy_loss(&logp, &old, &part(&mb.advantages), clip);
                        let pg_loss = agg(&pl.loss);
                        let mut loss = pg_loss.shallow_clone();
                        let entropy = if cfg.entropy_coeff != 0.0 {
                            let e = agg(&entropy_from_logits(&logits).view([len, resp]));
                            loss -= &e * cfg.entropy_coeff;
                            e.detach()
                        } else {
                            let _guard = tch::no_grad_guard();
                            agg(&entropy_from_logits(&logits.detach()).view([len, resp]))
                        };
                        let kl = match &reference {
                            Some(reference) => {
                                let k = agg(&kl_penalty(&logp, &part(reference), cfg.kl_estimator));
                                loss += &k * cfg.kl_coef;
                                k.detach()
                            }
                            None => Tensor::zeros([], (Kind::Float, self.device)),
                        };
                        pass_loss += &loss * (weight * scale);
                        let _guard = tch::no_grad_guard();
                        let value = |t: &Tensor| t.to_kind(Kind::Double).double_value(&[]);
                        totals.add_micro(
                            share,
                            [
                                ("loss", value(&loss)),
                                ("pg_loss", value(&pg_loss)),
                                ("kl_loss", value(&kl)),
                                ("entropy", value(&entropy)),
                                ("pg_clipfrac", value(&masked_mean(&pl.clipped, &mask))),
                                ("pg_clipfrac_lower", value(&masked_mean(&pl.clipped_lower, &mask))),
                                ("ppo_kl", value(&masked_mean(&pl.approx_kl, &mask))),
                            ],
                        );
                        if epoch == 0 {
                            let diff = (&old - part(&sampler)).abs();
                            totals.add_sampler_diff(
                                value(&(diff * &mask).sum(Kind::Float)),
                                value(&mask.sum(Kind::Float)),
                            );
                        }
                    }
                    pass_loss.f_backward().map_err(|e| Error::runtime(format!("backward pass: {e}")))?;
                    if let Some(checkpoint) = checkpoint {
                        checkpoint.backward(&self.policy)?;
                    }
                }
                let grads = precision::gradients(&self.params, scale, world.is_none());
                if let Some(world) = &world {
                    let clock = Instant::now();
                    let local: Vec<Tensor> = grads.iter().flatten().map(Tensor::shallow_clone).collect();
                    lrpo_torch::collective::all_reduce_sum(world, &local)?;
                    totals.add_time("allreduce_s", clock.elapsed().as_secs_f64());
                }
                let (norm, clip) = grad_norm(&grads, cfg.grad_clip);
                if norm.is_finite() {
                    self.optimizer.step(&trainable, &grads, lr, clip);
                    if let Some(m) = &self.masters {
                        m.publish(&self.params)?;
                    }
                } else if self.masters.as_ref().is_some_and(|m| m.loss_scale.is_some()) {
                    tracing::debug!(
                        step = batch.step,
                        scale,
                        "f16 gradient overflow; update skipped, loss scale halved"
                    );
                } else {
                    tracing::warn!(step = batch.step, grad_norm = norm, "non-finite gradient norm; update skipped");
                }
                if let Some(s) = self.masters.as_mut().and_then(|m| m.loss_scale.as_mut()) {
                    s.observe(norm.is_finite());
                }
                totals.end_update(norm);
                self.zero_grads();
            }
        }
        self.steps_done += 1;
        let mut stats = totals.finish();
        stats.set("lr", lr);
        crate::stats::batch_stats(&mut stats, batch, &adv);
        stats.set("time_s", started.elapsed().as_secs_f64());
        if let Some(world) = &world {
            crate::stats::over_ranks(&mut stats, world)?;
        }
        Ok(stats)
    }
}
