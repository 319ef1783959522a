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
         [trainer]\ntotal_steps = 4\nsave_freq = 2\ntest_freq = 2\nval_max_questions = 4\nmax_new_tokens = 12\nmodel_dir = \"{policy}\"\n\n\
         [components.router.lrpo]\nplugin = \"lrpo_router_bandit\"\nkind = \"lrpo-bandit\"\nconfig = {{ update_every = 1, log_every = 1, orig_lang_min = 1 }}\n\n\
         [components.language_id.lid176]\nplugin = \"lrpo_langid_fasttext\"\nkind = \"fasttext\"\n\n\
         [components.reward_model.e5]\nplugin = \"lrpo_reward_calibrated\"\nkind = \"calibrated-embedding\"\n\
         config = {{ pair_stats = \"{stats}\" }}\n\n\
         [components.rollout_engine.tiny]\nplugin = \"lrpo_rollout_cuda\"\nkind = \"sampler\"\nconfig = {{ model_dir = \"{policy}\" }}\n\n\
         [components.optimizer.grpo]\nplugin = \"lrpo_optim_grpo\"\nkind = \"grpo\"\n\
         config = {{ model_dir = \"{policy}\", lr = 0.01, micro_batch_size = 4, gradient_checkpointing = true }}\n",
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
