//! Shared helpers: the real model, the shared data and the project venv's python.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lrpo_reward_calibrated::{Embedder, EncoderConfig, ParallelCorpus};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

pub fn shared_data() -> PathBuf {
    let dir = repo_root().join("../shared/data");
    assert!(dir.is_dir(), "{} is missing (the shared real data)", dir.display());
    dir
}

/// The project venv's python; missing means the set-up has not run, which fails the test.
pub fn python() -> PathBuf {
    let py = repo_root().join(".venv/bin/python");
    assert!(py.is_file(), "{} is missing: run scripts/setup.sh to create the project venv", py.display());
    py
}

/// The imported multilingual-e5-small directory, failing with the set-up command when absent.
pub fn e5_dir() -> PathBuf {
    let dir = lrpo_core::paths::model_dir("multilingual-e5-small");
    assert!(
        dir.join(lrpo_torch::import::MARKER).is_file(),
        "{} is not imported: run {}",
        dir.display(),
        lrpo_core::paths::SETUP_COMMAND
    );
    dir
}

pub fn e5_embedder() -> Embedder {
    e5_dir();
    lrpo_torch::configure_cpu_runtime(2);
    Embedder::load(EncoderConfig::default(), "encoder").expect("loading multilingual-e5-small")
}

/// XQuAD questions: language code -> id -> question, over the ids all languages share.
pub fn xquad_questions() -> BTreeMap<String, BTreeMap<String, String>> {
    let corpus = ParallelCorpus::load(&[shared_data().join("xquad")], None).expect("loading XQuAD");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for t in corpus.texts {
        out.entry(t.lang.to_string()).or_default().insert(t.id, t.text);
    }
    out
}
