//! Checkpoints resume bit for bit; non-finite gradients skip the update; weights export as views.

use crate::common::*;
use lrpo_core::Optimizer;
use serde_json::json;
use tch::Tensor;

fn config() -> serde_json::Value {
    json!({"micro_batch_size": 3, "mini_batch_size": 6, "ppo_epochs": 2, "shuffle": true, "seed": 11,
           "kl_coef": 0.01, "lr": 1e-3, "warmup_steps": 1, "lr_schedule": "cosine", "total_steps": 5})
}

fn shifted(batch: &lrpo_core::TrainBatch) -> lrpo_core::TrainBatch {
    let mut b = batch.clone();
    b.step += 1;
    for (i, s) in b.samples.iter_mut().enumerate() {
        s.reward = ((i * 7) % 5) as f64 / 4.0;
    }
    b
}

#[test]
fn save_load_gives_the_identical_next_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    reference_step(dir.path(), &json!({}));
    let first = batch(dir.path());
    let second = shifted(&first);

    let mut a = optimizer(dir.path(), &config());
    a.step(&first).expect("step 1");
    let state = a.save_state().expect("save");
    let stats_a = a.step(&second).expect("step 2");

    let mut b = optimizer(dir.path(), &config());
    b.load_state(&state).expect("load");
    assert_eq!(b.steps_done(), 1);
    let stats_b = b.step(&second).expect("step 2 after resume");

    for ((name, pa), (_, pb)) in a.policy().named_parameters().iter().zip(b.policy().named_parameters()) {
        assert!(pa.equal(&pb), "`{name}` differs after resuming");
    }
    let (sa, sb) = (stats_a.values, stats_b.values);
    for key in ["loss", "pg_loss", "kl_loss", "grad_norm", "lr"] {
        assert_eq!(sa[key].to_bits(), sb[key].to_bits(), "stat `{key}`: {} vs {}", sa[key], sb[key]);
    }
    // The resumed optimizer's next checkpoint equals the uninterrupted one's.
    assert_eq!(a.save_state().unwrap(), b.save_state().unwrap());
}

#[test]
fn bad_checkpoints_are_rejected_and_leave_the_optimizer_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    reference_step(dir.path(), &json!({}));
    let mut opt = optimizer(dir.path(), &json!({"kl_coef": 0.0}));
    let before = snapshot(&opt);
    let e = opt.load_state(b"not a checkpoint").unwrap_err();
    assert!(matches!(e, lrpo_core::Error::State(_)), "{e}");
    let mut state = opt.save_state().unwrap();
    let n = state.len();
    state.truncate(n - 16);
    assert!(opt.load_state(&state).is_err());
    for ((name, p), (_, q)) in opt.policy().named_parameters().iter().zip(&before) {
        assert!(p.equal(q), "`{name}` changed by a failed load");
    }
}

#[test]
fn non_finite_gradient_skips_the_update_and_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    reference_step(dir.path(), &json!({}));
    let batch = batch(dir.path());
    let mut opt = optimizer(dir.path(), &json!({"kl_coef": 0.0, "lr": 1e-3, "micro_batch_size": 12}));
    // An infinite weight in a row every sample reads (its first prompt token's embedding).
    let token = batch.samples[0].prompt_tokens[0] as i64;
    {
        let _g = tch::no_grad_guard();
        let (_, embed) =
            opt.policy().named_parameters().into_iter().find(|(n, _)| n == "model.embed_tokens.weight").unwrap();
        let _ = embed.get(token).get(0).fill_(f64::INFINITY);
    }
    let before = snapshot(&opt);
    let state_before = opt.save_state().unwrap();
    let stats = opt.step(&batch).expect("a skipped update is not an error");
    assert_eq!(stats.get("skipped_updates"), Some(1.0));
    assert_eq!(stats.get("updates"), Some(1.0));
    for ((name, p), (_, q)) in opt.policy().named_parameters().iter().zip(&before) {
        let same = Tensor::equal(&p.nan_to_num(0.0, None, None), &q.nan_to_num(0.0, None, None));
        assert!(same, "`{name}` changed although the update was skipped");
    }
    // Moments and Adam step counts are untouched; only the training-step counter advanced.
    let mut fresh = optimizer(dir.path(), &json!({"kl_coef": 0.0, "lr": 1e-3, "micro_batch_size": 12}));
    fresh.load_state(&opt.save_state().unwrap()).unwrap();
    assert_eq!(fresh.steps_done(), 1);
    fresh.load_state(&state_before).unwrap();
    assert_eq!(fresh.steps_done(), 0);
}

#[test]
fn exported_weights_are_views_of_the_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    reference_step(dir.path(), &json!({}));
    let mut opt = optimizer(dir.path(), &json!({"kl_coef": 0.0, "lr": 1e-2}));
    let set = opt.export_weights().expect("export");
    let params = opt.policy().named_parameters();
    assert_eq!(set.tensors.len(), params.len());
    for (name, p) in &params {
        let view = set.get(name).unwrap_or_else(|| panic!("`{name}` not exported"));
        assert_eq!(view.data, p.data_ptr() as *const u8, "`{name}` was copied");
        assert_eq!(view.shape, p.size());
    }
    drop(set);
    // A step after export still works (the set kept no autograd state alive).
    opt.step(&batch(dir.path())).expect("step");
}
