//! Shared helpers: the real model and the shared data.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lrpo_reward_calibrated::{Embedder, EncoderConfig, ParallelCorpus};

/// The imported multilingual-e5-small directory, failing with the set-up command when absent.
pub fn e5_dir() -> PathBuf {
    lrpo_testkit::cached_model("multilingual-e5-small", lrpo_torch::import::MARKER)
}

pub fn e5_embedder() -> Embedder {
    e5_dir();
    lrpo_torch::configure_cpu_runtime(2);
    Embedder::load(EncoderConfig::default(), "encoder").expect("loading multilingual-e5-small")
}

/// XQuAD questions: language code -> id -> question, over the ids all languages share.
pub fn xquad_questions() -> BTreeMap<String, BTreeMap<String, String>> {
    let corpus = ParallelCorpus::load(&[lrpo_testkit::shared_data().join("xquad")], None).expect("loading XQuAD");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for t in corpus.texts {
        out.entry(t.lang.to_string()).or_default().insert(t.id, t.text);
    }
    out
}
