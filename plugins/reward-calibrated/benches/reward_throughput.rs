//! Reward throughput, side by side in one run: `calibrated-embedding` scoring 2,000 XQuAD
//! (response, reference) pairs against sentence-transformers' `encode` and transformers in Python
//! on the same checkpoint, with the same prefixes, truncation, mean pooling, batch size and thread
//! count.
//!
//!   scripts/bench-reward.sh     # installs sentence-transformers, then runs:
//!   cargo bench -p lrpo-reward-calibrated --bench reward_throughput
//!
//! Without sentence-transformers in the venv its row says so and the others run.
//! Env: LRPO_BENCH_THREADS (default: all cores), LRPO_BENCH_PAIRS (default 2000),
//! LRPO_BENCH_REPEATS (default 3; the best run counts on both sides), LRPO_BENCH_DTYPE (`f32` by
//! default, or `bf16` on every side).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use lrpo_core::{Lang, LangPrediction, RewardInput, RewardModel};
use lrpo_reward_calibrated::{CalibratedEmbedding, CalibratedEmbeddingConfig, ParallelCorpus};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let threads = env_usize("LRPO_BENCH_THREADS", std::thread::available_parallelism().map_or(1, |n| n.get()));
    let n_pairs = env_usize("LRPO_BENCH_PAIRS", 2000);
    let repeats = env_usize("LRPO_BENCH_REPEATS", 3).max(1);
    // Both sides load the model in this dtype.
    let dtype = lrpo_testkit::bench::dtype_from_env();

    let corpus = ParallelCorpus::load(&[root.join("../shared/data/xquad")], None).expect("XQuAD in ../shared/data");
    let langs = corpus.languages();
    let mut by_id: std::collections::BTreeMap<&str, std::collections::HashMap<&Lang, &str>> = Default::default();
    for t in &corpus.texts {
        by_id.entry(t.id.as_str()).or_default().insert(&t.lang, t.text.as_str());
    }
    let ids: Vec<&str> = by_id.keys().copied().collect();
    // Pair k: one question in two different languages, cycling through ids and language pairs.
    let inputs: Vec<RewardInput> = (0..n_pairs)
        .map(|k| {
            let a = &langs[k % langs.len()];
            let b = &langs[(k % langs.len() + 1 + (k / langs.len()) % (langs.len() - 1)) % langs.len()];
            let texts = &by_id[ids[k % ids.len()]];
            RewardInput::new(
                texts[a].to_string(),
                texts[b].to_string(),
                a.clone(),
                b.clone(),
                LangPrediction { lang: Some(a.clone()), prob: 0.9 },
            )
        })
        .collect();

    let mut config = CalibratedEmbeddingConfig {
        pair_stats: Some(root.join("../shared/data/lrpo_pair_stats.csv")),
        ..Default::default()
    };
    config.encoder.dtype = dtype.clone();
    let model_dir = config.encoder.resolved_dir();
    let mut reward =
        CalibratedEmbedding::from_config(config, threads).expect("loading the reward (run scripts/setup.sh)");
    reward.score(&inputs[..64.min(inputs.len())]).expect("warm-up");
    let mut best = f64::INFINITY;
    let mut checksum = 0.0;
    for _ in 0..repeats {
        let start = Instant::now();
        let out = reward.score(&inputs).expect("scoring");
        best = best.min(start.elapsed().as_secs_f64());
        checksum = out.iter().map(|r| r.raw_cosine).sum::<f64>() / out.len() as f64;
    }
    let ours = n_pairs as f64 / best;
    eprintln!("lrpo calibrated-embedding: {ours:.1} pairs/s; now the python peer");

    let dir = std::env::temp_dir().join(format!("lrpo-reward-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pairs_path = dir.join("pairs.json");
    let pairs: Vec<(&str, &str)> = inputs.iter().map(|i| (i.response.as_str(), i.reference.as_str())).collect();
    std::fs::write(&pairs_path, serde_json::to_string(&pairs).unwrap()).unwrap();
    let python = lrpo_testkit::python();
    let out = Command::new(&python)
        .arg(root.join("plugins/reward-calibrated/benches/py/reward_throughput.py"))
        .arg(&model_dir)
        .arg(&pairs_path)
        .args([threads.to_string(), repeats.to_string(), dtype.clone()])
        .env("TOKENIZERS_PARALLELISM", "true")
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", python.display()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "python peer failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sorted = peer["sorted_pairs_per_s"].as_f64().unwrap();
    let chunked = peer["chunked_pairs_per_s"].as_f64().unwrap();
    let peer_checksum = peer["mean_cosine"].as_f64().unwrap();
    let st = peer["sentence_transformers_pairs_per_s"].as_f64();
    let st_checksum = peer["sentence_transformers_mean_cosine"].as_f64();

    println!("reward throughput: {n_pairs} XQuAD question pairs, multilingual-e5-small {dtype} on CPU, {threads} thread(s), batch 128, best of {repeats}");
    println!("| implementation | pairs/s | ours / it |");
    println!("|---|---|---|");
    println!("| lrpo calibrated-embedding (tch) | {ours:.1} | 1.00x |");
    match st {
        Some(st) => println!("| sentence-transformers `encode` (sorts by length) | {st:.1} | {:.2}x |", ours / st),
        None => println!("| sentence-transformers `encode` | not installed: run scripts/bench-reward.sh | - |"),
    }
    println!(
        "| transformers, length-sorted batches (sentence-transformers' strategy) | {sorted:.1} | {:.2}x |",
        ours / sorted
    );
    println!(
        "| transformers, 128-pair chunks in input order (the reference's strategy) | {chunked:.1} | {:.2}x |",
        ours / chunked
    );
    let st_checksum = st_checksum.map_or_else(|| "-".to_string(), |c| format!("{c:.6}"));
    println!(
        "mean raw cosine: ours {checksum:.6}, transformers {peer_checksum:.6}, sentence-transformers {st_checksum}"
    );
}
