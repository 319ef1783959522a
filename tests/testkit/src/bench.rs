//! What the rollout benchmarks share: their prompts, the median, and transformers' `generate`
//! as the peer, kept running in a Python child so that each round times generation only.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The median of `xs` (the upper one of an even count); `xs` must not be empty.
/// `LRPO_BENCH_DTYPE`: the precision both sides of a benchmark run in, `f32` (default) or `bf16`.
pub fn dtype_from_env() -> String {
    let dtype = std::env::var("LRPO_BENCH_DTYPE").unwrap_or_else(|_| "f32".into());
    assert!(matches!(dtype.as_str(), "f32" | "bf16"), "LRPO_BENCH_DTYPE is f32 or bf16, not `{dtype}`");
    dtype
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The rollout benchmarks' 8 questions: the first XQuAD question of each language, then the
/// second English one.
pub fn xquad_questions() -> Vec<String> {
    let dir = crate::shared_data().join("xquad");
    [("en", 0), ("de", 0), ("es", 0), ("ru", 0), ("ar", 0), ("vi", 0), ("zh", 0), ("en", 1)]
        .iter()
        .map(|(lang, i)| {
            let path = dir.join(format!("xquad.{lang}.json"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let json: serde_json::Value = serde_json::from_str(&text).expect("XQuAD JSON");
            json["data"][0]["paragraphs"][0]["qas"][i]["question"].as_str().expect("a question").to_string()
        })
        .collect()
}

/// transformers' sampled `generate` (temperature 1, no top-k / top-p) on the given prompt ids,
/// `samples` per prompt, in the project venv (`py/hf_generate.py`).
pub struct HfGenerate {
    child: Child,
    to_py: Option<ChildStdin>,
    from_py: BufReader<ChildStdout>,
    /// The prompt ids the script reads; removed with the peer.
    _prompts: tempfile::NamedTempFile,
}

impl HfGenerate {
    /// `dtype`: `f32` or `bf16`, the precision transformers loads the model in.
    pub fn start(
        model_dir: &Path,
        prompt_ids: &[Vec<u32>],
        threads: usize,
        samples: usize,
        new_tokens: u32,
        dtype: &str,
    ) -> Self {
        let mut prompts = tempfile::NamedTempFile::new().expect("a temp file");
        serde_json::to_writer(&mut prompts, prompt_ids).expect("write the prompt ids");
        let mut child = Command::new(crate::python())
            .arg(crate::repo_root().join("tests/testkit/py/hf_generate.py"))
            .arg(model_dir)
            .arg(prompts.path())
            .args([threads.to_string(), samples.to_string(), new_tokens.to_string(), dtype.to_string()])
            .env("TOKENIZERS_PARALLELISM", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the project venv's python (scripts/setup.sh creates it)");
        let to_py = child.stdin.take();
        let mut from_py = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        from_py.read_line(&mut line).expect("python starts");
        assert_eq!(line.trim(), "ready", "transformers failed to start");
        HfGenerate { child, to_py, from_py, _prompts: prompts }
    }

    /// One generate call: (seconds, response tokens up to and including each first EOS).
    pub fn run(&mut self) -> (f64, f64) {
        let to_py = self.to_py.as_mut().expect("running");
        writeln!(to_py, "run").and_then(|_| to_py.flush()).expect("talk to python");
        let mut line = String::new();
        self.from_py.read_line(&mut line).expect("python result");
        let mut fields = line.split_whitespace().map(|f| f.parse::<f64>().expect("a number"));
        (fields.next().expect("seconds"), fields.next().expect("tokens"))
    }
}

impl Drop for HfGenerate {
    fn drop(&mut self) {
        drop(self.to_py.take()); // end of stdin ends the script
        let _ = self.child.wait();
    }
}
