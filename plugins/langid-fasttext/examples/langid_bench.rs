//! Side-by-side throughput: this crate vs the official fastText C++ (`fasttext-predict`, run by
//! the project venv's Python on the same sentences file), on XQuAD questions and sentences.
//!
//! ```text
//! cargo run --release -p lrpo-langid-fasttext --example langid_bench -- [N_SENTENCES]
//! ```

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use lrpo_core::LanguageId;
use lrpo_langid_fasttext::{default_model_path, FastTextConfig, FastTextLangId, FastTextModel, PredictScratch};

const REPEATS: usize = 3;
const ROUNDS: usize = 3;

const REFERENCE: &str = r#"
import json, sys, time
import fasttext
model_path, texts_path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = fasttext.load_model(model_path)
with open(texts_path, encoding="utf-8") as f:
    texts = [json.loads(line) for line in f]
lines = [t + "\n" for t in texts]   # what model.predict appends
def best_of(run):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out
# one call into the binding; the C++ loops over the lines (no per-text Python work)
batch, labels = best_of(lambda: model.f.multilinePredict(lines, 1, 0.0, "strict"))
# the usual per-text Python call
single, _ = best_of(lambda: [model.predict(t, k=1) for t in texts])
json.dump({"batch_seconds": batch, "single_seconds": single, "labels": [l[0] for l in labels]}, sys.stdout)
"#;

fn xquad_sentences(n: usize) -> Vec<String> {
    let mut per_lang = Vec::new();
    for lang in ["ar", "de", "en", "es", "ru", "vi", "zh"] {
        let path = lrpo_testkit::shared_data().join(format!("xquad/xquad.{lang}.json"));
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: serde_json::Value = serde_json::from_str(&raw).expect("xquad JSON");
        let mut texts = Vec::new();
        for article in doc["data"].as_array().into_iter().flatten() {
            for para in article["paragraphs"].as_array().into_iter().flatten() {
                let context = para["context"].as_str().unwrap_or_default().replace('\n', " ");
                let ends = |c: char| matches!(c, '.' | '。' | '?' | '？' | '!' | '！' | '؟');
                texts.extend(
                    context.split_inclusive(ends).map(str::trim).filter(|s| s.chars().count() > 3).map(String::from),
                );
                for qa in para["qas"].as_array().into_iter().flatten() {
                    texts.push(qa["question"].as_str().unwrap_or_default().replace('\n', " "));
                }
            }
        }
        per_lang.push(texts);
    }
    // interleave languages so any prefix is a fair mix
    let longest = per_lang.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest).flat_map(|i| per_lang.iter().filter_map(move |t| t.get(i).cloned())).cycle().take(n).collect()
}

/// CPU seconds this process has used (Linux `/proc/self/stat`, utime + stime at 100 Hz), to show
/// how much of the machine a run really got on a shared box.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Best wall time of `REPEATS` runs; adds the wall and CPU time of all runs to `usage`.
fn best_seconds(usage: &mut (f64, f64), mut run: impl FnMut()) -> f64 {
    (0..REPEATS)
        .map(|_| {
            let (start, cpu) = (Instant::now(), cpu_seconds());
            run();
            let wall = start.elapsed().as_secs_f64();
            usage.0 += wall;
            usage.1 += cpu_seconds() - cpu;
            wall
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let n: usize = std::env::args().nth(1).map(|a| a.parse().expect("N_SENTENCES")).unwrap_or(10_000);
    let model_path = default_model_path();
    let texts = xquad_sentences(n);

    let dir = tempfile::tempdir().expect("temp dir");
    let texts_path = dir.path().join("sentences.jsonl");
    let mut f = std::fs::File::create(&texts_path).unwrap();
    for t in &texts {
        writeln!(f, "{}", serde_json::to_string(t).unwrap()).unwrap();
    }
    drop(f);
    let script = dir.path().join("reference.py");
    std::fs::write(&script, REFERENCE).unwrap();
    let python = lrpo_testkit::python();
    let run_reference = || -> serde_json::Value {
        let out = Command::new(&python)
            .arg(&script)
            .arg(&model_path)
            .arg(&texts_path)
            .arg(REPEATS.to_string())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", python.display()));
        assert!(out.status.success(), "reference failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let model = FastTextModel::load(&model_path).expect("model (run scripts/setup.sh)");
    let lid = |threads: usize| {
        let config = FastTextConfig { threads, ..Default::default() };
        FastTextLangId::from_config(config, threads).unwrap()
    };
    let (mut lid_1, mut lid_2) = (lid(1), lid(2));

    // Rounds alternate between the two sides so that both see the same machine load.
    let mut best = [f64::INFINITY; 5];
    let mut usage = [(0.0, 0.0); 3];
    let mut labels = Vec::new();
    let mut reference = serde_json::Value::Null;
    for _ in 0..ROUNDS {
        reference = run_reference();
        let predict = best_seconds(&mut usage[0], || {
            let mut scratch = PredictScratch::default();
            labels = texts.iter().map(|t| model.predict_with(&mut scratch, t, 1, 0.0)[0].label).collect();
        });
        let one = best_seconds(&mut usage[1], || {
            lid_1.detect(&texts).unwrap();
        });
        let two = best_seconds(&mut usage[2], || {
            lid_2.detect(&texts).unwrap();
        });
        let round = [
            reference["batch_seconds"].as_f64().unwrap(),
            reference["single_seconds"].as_f64().unwrap(),
            predict,
            one,
            two,
        ];
        for (b, r) in best.iter_mut().zip(round) {
            *b = b.min(r);
        }
    }
    let [cpp_seconds, cpp_single_seconds, predict_seconds, lid_1, lid_2] = best;
    let agree = labels
        .iter()
        .zip(reference["labels"].as_array().unwrap())
        .filter(|(&l, r)| model.labels()[l] == r.as_str().unwrap())
        .count();

    let rate = |s: f64| n as f64 / s;
    println!("{n} XQuAD sentences (7 languages), best of {ROUNDS} rounds x {REPEATS} runs; top-1 labels agree on {agree}/{n}");
    println!("{:<58} {:>12} {:>9} {:>11}", "", "sentences/s", "vs C++", "cores busy");
    let row = |name: &str, s: f64, usage: Option<(f64, f64)>| {
        let busy = usage.map(|(wall, cpu)| format!("{:.2}", cpu / wall)).unwrap_or_default();
        println!("{name:<58} {:>12.0} {:>8.2}x {busy:>11}", rate(s), cpp_seconds / s);
    };
    row("fastText C++ (fasttext-predict, one multilinePredict call)", cpp_seconds, None);
    row("fastText C++ via Python, model.predict(text, k=1) per text", cpp_single_seconds, None);
    row("this crate, FastTextModel::predict k=1, 1 thread", predict_seconds, Some(usage[0]));
    row("this crate, `fasttext` component detect, 1 thread", lid_1, Some(usage[1]));
    row("this crate, `fasttext` component detect, 2 threads", lid_2, Some(usage[2]));
}
