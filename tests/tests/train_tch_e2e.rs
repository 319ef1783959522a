//! End to end through the real binary with every real plugin library: the LRPO bandit, lid.176,
//! the calibrated e5-small reward, and the libtorch sampler and GRPO optimizer on a tiny random
//! Llama policy (SmolLM2's vocabulary and chat template, 2 layers of width 32), so a step takes
//! about a second. The run trains, validates and checkpoints; a run killed after its first
//! checkpoint and resumed reproduces the uninterrupted run's metrics exactly, libtorch state
//! included.

use lrpo_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cache() -> PathBuf {
    let dir = lrpo_core::paths::cache_dir();
    for need in [
        "models/smollm2-135m-instruct/tokenizer.json",
        "models/lid.176/lid.176.ftz",
        "calibration/multilingual-e5-small.parallel.csv",
    ] {
        assert!(
            dir.join(need).is_file(),
            "{} is missing: run {}",
            dir.join(need).display(),
            lrpo_core::paths::SETUP_COMMAND
        );
    }
    dir
}

/// Creates the tiny random policy under `dir/policy` with the project venv's transformers.
fn tiny_policy(dir: &Path) -> PathBuf {
    let out = dir.join("policy");
    let status = Command::new(lrpo_testkit::python())
        .arg(repo().join("tests/py/tiny_policy.py"))
        .arg(&out)
        .arg(cache().join("models/smollm2-135m-instruct"))
        .env("HF_HUB_OFFLINE", "1")
        .status()
        .expect("run the venv's python (scripts/setup.sh creates it)");
    assert!(status.success(), "tests/py/tiny_policy.py failed");
    out
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for name in
        ["lrpo_router_bandit", "lrpo_langid_fasttext", "lrpo_reward_calibrated", "lrpo_rollout_cuda", "lrpo_optim_grpo"]
    {
        let src = built_library(name);
        std::fs::copy(&src, plugins.join(src.file_name().unwrap())).unwrap();
    }
    let policy = tiny_policy(dir.path());
    let data = repo().join("examples/data/prepared");
    let text = format!(
        "[run]\nname = \"tch\"\nout_dir = \"runs\"\nthreads = 2\n\n\
         [data]\ntrain_files = [\"{train}\"]\nval_files = [\"{val}\"]\ntrain_batch_size = 8\ngroup_size = 4\n\n\
         [model]\npath = \"{policy}\"\n\n\
         [trainer]\ntotal_steps = 4\nsave_freq = 2\ntest_freq = 2\nval_max_questions = 4\nmax_new_tokens = 12\nexport_final = true\n\n\
         [components.router.lrpo]\nplugin = \"lrpo_router_bandit\"\nkind = \"lrpo-bandit\"\nconfig = {{ update_every = 1, log_every = 1, orig_lang_min = 1 }}\n\n\
         [components.language_id.lid176]\nplugin = \"lrpo_langid_fasttext\"\nkind = \"fasttext\"\n\n\
         [components.reward_model.e5]\nplugin = \"lrpo_reward_calibrated\"\nkind = \"calibrated-embedding\"\n\
         config = {{ pair_stats = \"{stats}\" }}\n\n\
         [components.rollout_engine.tiny]\nplugin = \"lrpo_rollout_cuda\"\nkind = \"sampler\"\n\n\
         [components.optimizer.grpo]\nplugin = \"lrpo_optim_grpo\"\nkind = \"grpo\"\n\
         config = {{ lr = 0.01, micro_batch_size = 4, gradient_checkpointing = true }}\n",
        train = data.join("train.parquet").display(),
        val = data.join("test.parquet").display(),
        policy = policy.display(),
        stats = cache().join("calibration/multilingual-e5-small.parallel.csv").display(),
    );
    write_file(dir.path(), "run.toml", &text);
    dir
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
