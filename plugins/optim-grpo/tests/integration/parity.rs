//! One GRPO step in Rust against the same step written in PyTorch (tests/py/grpo_reference.py):
//! same tiny random Llama, same batch; loss within 1e-6 relative, weights within 1e-6 when every
//! row runs its own prompt as PyTorch does, and within 2e-5 when the rollouts of a question share
//! theirs (`share_prompts`, which an f32 step on the CPU does by default). The looser bar is AdamW's, not the layout's: m/√v turns the last-bit
//! differences of near-zero gradient elements into differences of a fraction of the step (lr
//! 1e-3 here); the gradients of the two layouts are held to each other directly below.

use crate::common::*;
use lrpo_core::Optimizer;
use serde_json::json;

/// `loss_floor`: below this magnitude the loss is compared absolutely (a near-cancelling sum of
/// advantage-weighted terms has no meaningful relative precision).
fn parity(config: serde_json::Value, loss_floor: f64) -> lrpo_core::StepStats {
    // Unset, the f32 step on the CPU shares prompts.
    let shared = config.get("share_prompts").and_then(|v| v.as_bool()).unwrap_or(true);
    let weight_tol = if shared { 2e-5 } else { 1e-6 };
    let dir = tempfile::tempdir().expect("tempdir");
    reference_step(dir.path(), &config);
    let mut opt = optimizer(dir.path(), &config);
    let before = snapshot(&opt);
    let stats = opt.step(&batch(dir.path())).expect("step");
    let expected = expected(dir.path());
    let want_loss = expected.iter().find(|(n, _)| n == "loss").expect("loss").1.double_value(&[0]);
    let loss = stats.get("loss").expect("loss stat");
    let rel = (loss - want_loss).abs() / want_loss.abs().max(loss_floor);
    assert!(rel < 1e-6, "loss {loss} vs PyTorch {want_loss}: relative difference {rel}");
    let params = opt.policy().named_parameters();
    assert_eq!(params.len(), expected.len() - 1, "parameter count");
    let mut moved = 0.0f64;
    for (name, p) in &params {
        let want = &expected.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("PyTorch has no `{name}`")).1;
        let diff = max_abs_diff(p, want);
        assert!(diff < weight_tol, "`{name}` differs from PyTorch by {diff}");
        let old = &before.iter().find(|(n, _)| n == name).unwrap().1;
        moved = moved.max(max_abs_diff(p, old));
    }
    // The step must really change the weights, or equal weights would prove nothing.
    assert!(moved > 1e-5, "weights moved by at most {moved}");
    stats
}

#[test]
fn token_mean_with_minibatches_epochs_kl_and_entropy_matches_pytorch() {
    let stats = parity(
        json!({
            "loss_agg_mode": "token-mean", "micro_batch_size": 2, "mini_batch_size": 6, "ppo_epochs": 2,
            "kl_coef": 0.05, "kl_estimator": "k3", "entropy_coeff": 0.01, "clip_ratio_low": 0.2, "clip_ratio_high": 0.28,
            "lr": 1e-3, "weight_decay": 0.01, "grad_clip": 1.0, "share_prompts": true
        }),
        1e-12,
    );
    assert_eq!(stats.get("updates"), Some(4.0));
    assert_eq!(stats.get("skipped_updates"), Some(0.0));
    assert!(stats.get("kl_loss").unwrap() > 0.0, "later updates move away from the reference");
}

#[test]
fn seq_mean_token_mean_single_update_matches_pytorch() {
    let stats = parity(
        json!({
            "loss_agg_mode": "seq-mean-token-mean", "micro_batch_size": 4, "ppo_epochs": 1,
            "kl_coef": 0.001, "lr": 1e-3, "grad_clip": 1.0
        }),
        1e-12,
    );
    // One update: π_old is the policy itself, so the ratio is exactly 1 and nothing is clipped.
    assert_eq!(stats.get("pg_clipfrac"), Some(0.0));
    assert_eq!(stats.get("ppo_kl"), Some(0.0));
    assert_eq!(stats.get("updates"), Some(1.0));
}

#[test]
fn rloo_with_k2_and_clip_matches_pytorch() {
    parity(
        json!({
            "adv_estimator": "rloo", "loss_agg_mode": "token-mean", "micro_batch_size": 3, "mini_batch_size": 4,
            "kl_coef": 0.1, "kl_estimator": "k2", "lr": 5e-4, "grad_clip": 0.05
        }),
        1.0,
    );
}

#[test]
fn one_row_per_response_and_one_pass_per_micro_batch_give_the_same_step() {
    // The other tests' micro-batches go through the model together (the default token budget
    // holds a whole mini-batch of this batch); here every micro-batch has its own forward and
    // backward, as in PyTorch.
    parity(
        json!({
            "loss_agg_mode": "token-mean", "micro_batch_size": 3, "mini_batch_size": 6, "ppo_epochs": 2,
            "kl_coef": 0.05, "kl_estimator": "k3", "entropy_coeff": 0.01, "lr": 1e-3, "grad_clip": 1.0,
            "share_prompts": false, "max_tokens_per_pass": 0
        }),
        1e-12,
    );
}

#[test]
fn micro_batches_in_one_pass_give_the_same_step() {
    // seq-mean-token-mean over micro-batches of 3 in one pass: each keeps its own means.
    parity(
        json!({
            "loss_agg_mode": "seq-mean-token-mean", "micro_batch_size": 3, "mini_batch_size": 12,
            "kl_coef": 0.05, "kl_estimator": "k3", "lr": 1e-3, "grad_clip": 1.0, "share_prompts": false
        }),
        1e-12,
    );
}

#[test]
fn gradient_checkpointing_gives_the_same_step() {
    // The recomputed backward must match PyTorch's plain one to the per-row bar (checkpointing
    // runs the policy one row per response; sharing off keeps the passes without gradients so
    // too, and one pass per micro-batch keeps PyTorch's matrix shapes).
    parity(
        json!({
            "loss_agg_mode": "token-mean", "micro_batch_size": 2, "mini_batch_size": 6, "ppo_epochs": 2,
            "kl_coef": 0.05, "kl_estimator": "k3", "entropy_coeff": 0.01, "lr": 1e-3, "grad_clip": 1.0,
            "gradient_checkpointing": true, "share_prompts": false, "max_tokens_per_pass": 0
        }),
        1e-12,
    );
}

#[test]
fn log_probs_in_larger_batches_give_the_same_step() {
    // π_old (two updates per epoch) and the reference in passes of 6 rows while the update
    // runs in micro-batches of 2: the same step, to PyTorch's precision.
    parity(
        json!({
            "loss_agg_mode": "token-mean", "micro_batch_size": 2, "log_prob_micro_batch_size": 6,
            "mini_batch_size": 6, "ppo_epochs": 2, "kl_coef": 0.05, "kl_estimator": "k3", "lr": 1e-3, "grad_clip": 1.0,
            "share_prompts": true
        }),
        1e-12,
    );
}

/// The shared-prompt layout against one row per response on the same model and rows: the same
/// log-probs and the same gradient of every weight, to f32 rounding.
#[test]
fn shared_prompts_give_the_log_probs_and_gradients_of_one_row_per_response() {
    use lrpo_optim_grpo::batch::{Layout, MicroBatch};
    use lrpo_optim_grpo::score::score;
    use tch::{Device, Kind, Tensor};

    let dir = tempfile::tempdir().expect("tempdir");
    reference_step(dir.path(), &json!({}));
    let batch = batch(dir.path());
    let model = lrpo_torch::DecoderLm::from_dir(&dir.path().join("model"), Kind::Float, Device::Cpu).expect("model");
    model.set_trainable(true);
    let adv = vec![0.5; batch.samples.len()];
    // Rows 2..7: the end of one question's group and the start of the next (two prompts of
    // unequal length).
    let rows: Vec<usize> = (2..7).collect();
    let run = |share: bool| -> (Tensor, Vec<Tensor>) {
        let mb = MicroBatch::build(&batch, &rows, &adv, Device::Cpu, share);
        assert_eq!(matches!(mb.layout, Layout::Shared { .. }), share);
        let (logp, _, _) = score(&model, &mb, 0.7, false).expect("score");
        let logp = logp * &mb.mask;
        // A loss that weighs every token differently, so each row's gradient counts.
        let weights = Tensor::arange(logp.numel() as i64, (Kind::Float, Device::Cpu)).view(logp.size().as_slice());
        (&logp * (weights + 1.0)).sum(Kind::Float).backward();
        let grads = model.named_parameters().iter().map(|(_, p)| p.grad().copy()).collect();
        for (_, p) in model.named_parameters() {
            p.shallow_clone().zero_grad();
        }
        (logp.detach(), grads)
    };
    let (rows_logp, rows_grads) = run(false);
    let (shared_logp, shared_grads) = run(true);
    let diff = max_abs_diff(&rows_logp, &shared_logp);
    assert!(diff < 1e-5, "log-probs differ by {diff}");
    assert!(rows_logp.abs().sum(Kind::Float).double_value(&[]) > 1.0, "the rows have log-probs");
    for ((name, _), (a, b)) in model.named_parameters().iter().zip(rows_grads.iter().zip(&shared_grads)) {
        let scale = a.abs().max().double_value(&[]);
        assert!(scale > 0.0, "`{name}` got no gradient");
        let diff = max_abs_diff(a, b);
        assert!(diff <= 1e-5 * scale, "`{name}`: gradients differ by {diff:e} (scale {scale:e})");
    }
}

/// The same step on CUDA: loss and updated weights against the PyTorch (CPU) reference.
#[test]
#[ignore = "needs a CUDA device; scripts/gpu-check.sh runs it with --include-ignored"]
fn cuda_step_matches_pytorch() {
    assert!(tch::Cuda::is_available(), "no CUDA device visible to libtorch");
    let config =
        json!({ "loss_agg_mode": "token-mean", "micro_batch_size": 4, "kl_coef": 0.001, "lr": 1e-3, "grad_clip": 1.0 });
    let dir = tempfile::tempdir().expect("tempdir");
    reference_step(dir.path(), &config);
    let mut on_gpu = config.clone();
    on_gpu["device"] = json!("cuda");
    let mut opt = optimizer(dir.path(), &on_gpu);
    let stats = opt.step(&batch(dir.path())).expect("step on CUDA");
    let expected = expected(dir.path());
    let want_loss = expected.iter().find(|(n, _)| n == "loss").expect("loss").1.double_value(&[0]);
    let loss = stats.get("loss").expect("loss stat");
    assert!(
        (loss - want_loss).abs() <= 1e-5 * want_loss.abs().max(1e-12),
        "loss {loss} on CUDA vs PyTorch {want_loss}"
    );
    for (name, p) in opt.policy().named_parameters() {
        let want = &expected.iter().find(|(n, _)| *n == name).unwrap().1;
        let diff = max_abs_diff(&p.to_device(tch::Device::Cpu), want);
        assert!(diff < 1e-5, "`{name}` on CUDA differs from PyTorch by {diff}");
    }
}
