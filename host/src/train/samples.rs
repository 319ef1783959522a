//! `samples.jsonl`: a few generated responses per training step (question, target and detected
//! language, reward, response), so a user can read what the policy says as it trains; the
//! report shows the latest ones. Metrics are numbers; these are the words behind them.

use lrpo_core::Lang;
use serde::{Deserialize, Serialize};

pub const FILE: &str = "samples.jsonl";

#[derive(Debug, Serialize)]
pub struct Sample<'a> {
    pub step: u64,
    pub question: &'a str,
    pub reference: &'a str,
    /// The question's own language (the reference answer's).
    pub question_lang: &'a Lang,
    pub target_lang: &'a Lang,
    pub detected_lang: Option<&'a Lang>,
    pub detected_prob: f32,
    pub reward: f64,
    pub gate: f64,
    pub response: &'a str,
}

/// A sample as read back for the report.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SampleRecord {
    pub step: u64,
    pub question: String,
    pub reference: String,
    #[serde(default)]
    pub question_lang: String,
    pub target_lang: String,
    pub detected_lang: Option<String>,
    pub detected_prob: f32,
    pub reward: f64,
    pub gate: f64,
    pub response: String,
}

/// `k` rows spread evenly over `n` (one from each stretch of the batch, so different groups and
/// languages show, not the first group's copies).
pub fn pick(n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    (0..k).map(|i| i * n / k).collect()
}

/// The samples of the newest step in `run_dir/samples.jsonl` (empty when there are none).
/// Unreadable lines are skipped: a run killed mid-write leaves a partial last line.
pub fn latest(run_dir: &std::path::Path) -> Vec<SampleRecord> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(FILE)) else { return vec![] };
    let all: Vec<SampleRecord> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let Some(last) = all.iter().map(|s| s.step).max() else { return vec![] };
    all.into_iter().filter(|s| s.step == last).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_spread_over_the_batch() {
        assert_eq!(pick(16, 4), vec![0, 4, 8, 12]);
        assert_eq!(pick(3, 4), vec![0, 1, 2]);
        assert!(pick(16, 0).is_empty());
    }

    #[test]
    fn the_latest_step_is_read_back_and_a_torn_line_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let en = Lang::new("en");
        let line = |step| {
            serde_json::to_string(&Sample {
                step,
                question: "q",
                reference: "r",
                question_lang: &en,
                target_lang: &en,
                detected_lang: None,
                detected_prob: 0.0,
                reward: 0.5,
                gate: 1.0,
                response: "hello",
            })
            .unwrap()
        };
        let text = format!("{}\n{}\n{}\n{{\"step\": 3, \"quest", line(1), line(2), line(2));
        std::fs::write(dir.path().join(FILE), text).unwrap();
        let got = latest(dir.path());
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|s| s.step == 2 && s.response == "hello" && s.target_lang == "en"));
        assert!(latest(&dir.path().join("none")).is_empty());
    }
}
