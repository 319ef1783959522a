//! One GRPO step in Rust against the same step written in PyTorch (tests/py/grpo_reference.py):
//! same tiny random Llama, same batch; loss within 1e-6 relative, weights within 1e-6.

use crate::common::*;
use lrpo_core::Optimizer;
use serde_json::json;

/// `loss_floor`: below this magnitude the loss is compared absolutely (a near-cancelling sum of
/// advantage-weighted terms has no meaningful relative precision).
fn parity(config: serde_json::Value, loss_floor: f64) -> lrpo_core::StepStats {
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
        assert!(diff < 1e-6, "`{name}` differs from PyTorch by {diff}");
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
            "lr": 1e-3, "weight_decay": 0.01, "grad_clip": 1.0
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
fn gradient_checkpointing_gives_the_same_step() {
    // Same bar as without checkpointing: the recomputed backward must match PyTorch's plain one.
    parity(
        json!({
            "loss_agg_mode": "token-mean", "micro_batch_size": 2, "mini_batch_size": 6, "ppo_epochs": 2,
            "kl_coef": 0.05, "kl_estimator": "k3", "entropy_coeff": 0.01, "lr": 1e-3, "grad_clip": 1.0,
            "gradient_checkpointing": true
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
            "mini_batch_size": 6, "ppo_epochs": 2, "kl_coef": 0.05, "kl_estimator": "k3", "lr": 1e-3, "grad_clip": 1.0
        }),
        1e-12,
    );
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
