//! A run of every real plugin library on a tiny random policy, laid out as `dir/plugins/`,
//! `dir/policy/` and `dir/run.toml`: the LRPO bandit, lid.176, the calibrated e5-small reward,
//! and the libtorch sampler and GRPO optimizer on a Llama of 2 layers of width 32 with
//! SmolLM2's vocabulary and chat template, so a step takes about a second. Shared by the test
//! binaries that train it (`#[path]`-included).

use lrpo_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn cache() -> PathBuf {
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
pub fn tiny_policy(dir: &Path) -> PathBuf {
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

/// The run `tch`: 8 question groups of 4 per step unless `data` says otherwise; `trainer` and
/// `data` are extra lines for those tables, `grpo` extra keys of the optimizer's config.
pub fn setup_with(data: &str, trainer: &str, grpo: &str) -> tempfile::TempDir {
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
    let prepared = repo().join("examples/data/prepared");
    let data = if data.is_empty() { "train_batch_size = 8\ngroup_size = 4\n" } else { data };
    let text = format!(
        "[run]\nname = \"tch\"\nout_dir = \"runs\"\nthreads = 2\n\n\
         [data]\ntrain_files = [\"{train}\"]\nval_files = [\"{val}\"]\n{data}\n\
         [model]\npath = \"{policy}\"\n\n\
         [trainer]\n{trainer}\n\n\
         [components.router.lrpo]\nplugin = \"lrpo_router_bandit\"\nkind = \"lrpo-bandit\"\nconfig = {{ update_every = 1, log_every = 1, orig_lang_min = 1 }}\n\n\
         [components.language_id.lid176]\nplugin = \"lrpo_langid_fasttext\"\nkind = \"fasttext\"\n\n\
         [components.reward_model.e5]\nplugin = \"lrpo_reward_calibrated\"\nkind = \"calibrated-embedding\"\n\
         config = {{ pair_stats = \"{stats}\" }}\n\n\
         [components.rollout_engine.tiny]\nplugin = \"lrpo_rollout_cuda\"\nkind = \"sampler\"\n\n\
         [components.optimizer.grpo]\nplugin = \"lrpo_optim_grpo\"\nkind = \"grpo\"\n\
         config = {{ lr = 0.01, micro_batch_size = 4{grpo} }}\n",
        train = prepared.join("train.parquet").display(),
        val = prepared.join("test.parquet").display(),
        policy = policy.display(),
        stats = cache().join("calibration/multilingual-e5-small.parallel.csv").display(),
    );
    write_file(dir.path(), "run.toml", &text);
    dir
}
