//! Per-step metrics: one JSON object per line in `metrics.jsonl`.

use lrpo_core::{Error, Lang, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Mean, population std and count of a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
    pub count: usize,
}

impl Summary {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Summary {
        let v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Summary::default();
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Summary { mean, std: var.sqrt(), count: v.len() }
    }
}

/// One training (or validation) step's record.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepRecord {
    pub step: u64,
    pub epoch: u64,
    /// "train" or "val".
    pub phase: String,
    pub reward: Summary,
    pub reward_by_lang: BTreeMap<String, Summary>,
    /// With `[[reward.parts]]`: each part's own (gated) reward, overall and per language.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reward_parts: BTreeMap<String, PartRecord>,
    /// Share of responses whose detected language matched the routed one.
    pub gate_rate: f64,
    pub response_tokens: Summary,
    pub response_tokens_by_lang: BTreeMap<String, Summary>,
    /// Routed languages and how many rollouts each got.
    pub routed: BTreeMap<String, usize>,
    /// What the optimizer reported (loss, kl, entropy, grad_norm, lr, ...).
    pub optimizer: BTreeMap<String, f64>,
    /// Seconds per phase.
    pub time: BTreeMap<String, f64>,
    /// Generated tokens / (step seconds x devices).
    pub tokens_per_second: f64,
    /// Validation only: each question's reward, in validation-set order, so that arms (or the
    /// same arm before and after training) can be compared question by question.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub question_rewards: Vec<f64>,
    /// Validation only: each question's language gate (1 when the answer was detected in the
    /// question's language), in the same order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub question_gates: Vec<f64>,
}

/// One reward part's values in a step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartRecord {
    pub reward: Summary,
    pub by_lang: BTreeMap<String, Summary>,
}

impl StepRecord {
    /// Fills `reward_parts` from each part's per-row values.
    pub fn summarise_parts(&mut self, langs: &[Lang], parts: &[(String, Vec<f64>)]) {
        for (name, values) in parts {
            let mut by_lang: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for (lang, &v) in langs.iter().zip(values) {
                by_lang.entry(lang.to_string()).or_default().push(v);
            }
            let record = PartRecord {
                reward: Summary::of(values.iter().copied()),
                by_lang: by_lang.into_iter().map(|(l, v)| (l, Summary::of(v))).collect(),
            };
            self.reward_parts.insert(name.clone(), record);
        }
    }

    /// Fills the reward and length summaries from per-row values.
    pub fn summarise(&mut self, langs: &[Lang], rewards: &[f64], gates: &[f64], lengths: &[usize]) {
        self.reward = Summary::of(rewards.iter().copied());
        self.response_tokens = Summary::of(lengths.iter().map(|&l| l as f64));
        self.gate_rate = Summary::of(gates.iter().copied()).mean;
        let mut by_lang: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for ((lang, &r), &len) in langs.iter().zip(rewards).zip(lengths) {
            let e = by_lang.entry(lang.to_string()).or_default();
            e.0.push(r);
            e.1.push(len as f64);
        }
        for (lang, (r, l)) in by_lang {
            self.routed.insert(lang.clone(), r.len());
            self.reward_by_lang.insert(lang.clone(), Summary::of(r));
            self.response_tokens_by_lang.insert(lang, Summary::of(l));
        }
    }
}

/// An append-only JSONL file that is flushed after every line, so a killed run keeps every
/// finished step; or, on the ranks of a data-parallel run that do not write, nothing.
pub struct JsonlWriter {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl JsonlWriter {
    pub fn append(path: &Path) -> Result<JsonlWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path.display(), e))?;
        Ok(JsonlWriter { path: path.to_path_buf(), file: Some(file) })
    }

    /// [`append`](Self::append) when `writes`, else a writer that drops every line.
    pub fn append_if(writes: bool, path: &Path) -> Result<JsonlWriter> {
        if writes {
            JsonlWriter::append(path)
        } else {
            Ok(JsonlWriter { path: path.to_path_buf(), file: None })
        }
    }

    pub fn write_line(&mut self, line: &str) -> Result<()> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        writeln!(file, "{line}").and_then(|_| file.flush()).map_err(|e| Error::io(self.path.display(), e))
    }

    pub fn write<T: Serialize>(&mut self, value: &T) -> Result<()> {
        let line = serde_json::to_string(value).map_err(|e| Error::runtime(format!("metrics: {e}")))?;
        self.write_line(&line)
    }
}

/// Drops every line whose `step` is greater than `keep_through`, so a resumed run appends
/// after its checkpoint exactly as the uninterrupted run would have.
pub fn truncate_after(path: &Path, keep_through: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s <= keep_through)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    super::checkpoint::write_atomic(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_population_statistics() {
        let s = Summary::of([1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        assert!((s.std - 1.118033988749895).abs() < 1e-12);
        assert_eq!(Summary::of([]).count, 0);
    }

    #[test]
    fn truncation_keeps_steps_up_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        std::fs::write(&p, "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"step\":3\n").unwrap();
        truncate_after(&p, 2).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"step\":1}\n{\"step\":2}\n");
    }
}
