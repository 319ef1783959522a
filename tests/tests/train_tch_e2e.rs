//! End to end through the real binary with every real plugin library on a tiny random policy
//! (common/tiny_tch.rs), so a step takes about a second. The run trains, validates and checkpoints; a run killed after its first
//! checkpoint and resumed reproduces the uninterrupted run's metrics exactly, libtorch state
//! included.

use lrpo_tests::*;
use std::path::Path;
use std::time::Duration;

#[path = "common/tiny_tch.rs"]
mod tiny_tch;
use tiny_tch::repo;

fn setup() -> tempfile::TempDir {
    tiny_tch::setup_with(
        "",
        "total_steps = 4\nsave_freq = 2\ntest_freq = 2\nval_max_questions = 4\nmax_new_tokens = 12\nexport_final = true",
        ", gradient_checkpointing = true",
    )
}

#[test]
fn tiny_policy_trains_through_every_real_plugin_and_resumes_exactly() {
    let whole = setup();
    let out = train_command(whole.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run = whole.path().join("runs/tch");
    let m = run_metrics(&run);
    let train: Vec<_> = m.iter().filter(|v| v["phase"] == "train").collect();
    assert_eq!(train.len(), 4, "{m:?}");
    assert_eq!(m.iter().filter(|v| v["phase"] == "val").count(), 2);
    for rec in &train {
        let grad_norm = rec["optimizer"]["grad_norm"].as_f64().unwrap_or(f64::NAN);
        assert!(grad_norm.is_finite() && grad_norm > 0.0, "grad norm in {rec}");
        let reward = rec["reward"]["mean"].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&reward), "reward in {rec}");
    }
    // The policy really moves: the optimizer's checkpointed weights differ between saves.
    let state = |step: &str| std::fs::read(run.join(format!("checkpoints/{step}/optimizer.state"))).unwrap();
    assert_ne!(state("step_000002"), state("step_000004"));
    assert_eq!(std::fs::read_to_string(run.join("router_log.jsonl")).unwrap().lines().count(), 4);

    // The trained policy leaves as a Hugging Face directory: `export_final` wrote runs/tch/final
    // (the step-4 policy), and `lrpo-host export` writes any checkpoint's.
    let policy = whole.path().join("policy");
    check_export(&run.join("final"), &policy, &run.join("checkpoints/step_000004/optimizer.state"));
    let out = run_host(
        &["--plugins", "plugins", "export", "runs/tch/checkpoints/step_000002", "--out", "step2-hf"],
        whole.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("step2-hf") && stdout(&out).contains("(float32)"), "{}", stdout(&out));
    check_export(&whole.path().join("step2-hf"), &policy, &run.join("checkpoints/step_000002/optimizer.state"));
    // A second export into the same place needs --force; a run directory exports its newest.
    let out = run_host(&["--plugins", "plugins", "export", "runs/tch", "--out", "step2-hf"], whole.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let out =
        run_host(&["--plugins", "plugins", "export", "runs/tch", "--out", "bf16", "--dtype", "bf16"], whole.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.path().join("bf16/config.json")).unwrap()).unwrap();
    assert_eq!(config["torch_dtype"], "bfloat16");

    // Killed right after its first checkpoint, then resumed: the same run, number for number.
    let killed = setup();
    let ckpt = killed.path().join("runs/tch/checkpoints/step_000002/host.json");
    let mut child = spawn_run_until(killed.path(), &ckpt, Duration::from_secs(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ckpt.exists(), "no checkpoint after 300 s");
    assert!(run_metrics(&killed.path().join("runs/tch")).len() < m.len(), "the run was killed before it finished");
    let out = train_command(killed.path(), &["--resume", "auto"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming arm `main` after step 2"), "{}", stderr(&out));
    assert_eq!(run_metrics(&killed.path().join("runs/tch")), m);
}

/// The export at `dir` is the checkpoint's policy exactly, differs from the base model where
/// training changed it, and loads in transformers with its tokenizer and chat template.
fn check_export(dir: &Path, base: &Path, state: &Path) {
    for file in
        ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]
    {
        assert!(dir.join(file).is_file(), "{} has no {file}", dir.display());
    }
    let script = repo().join("tests/py/check_export.py");
    let report: serde_json::Value =
        lrpo_testkit::python_json(&[script.as_ref(), dir.as_ref(), base.as_ref(), state.as_ref()], &());
    assert_eq!(report["max_diff_vs_checkpoint"], 0.0, "{report}");
    let trained = report["trained_vs_base"].as_u64().unwrap();
    assert!(trained > 0, "training changed no tensor: {report}");
    assert_eq!(report["changed_vs_base"], trained, "{report}");
    assert!(report["chat_prompt"].as_str().unwrap().contains("<|im_start|>assistant"), "{report}");
}
