//! `lrpo-host ab report RUN_DIR`: one table per arm (final and mean training reward, reward
//! per language, validation score, with 95% bootstrap intervals) and which differences between
//! arms are significant. Arms share seeds and data order, so steps are paired across arms.

use super::stats::{bootstrap_mean_ci, paired_bootstrap_diff, Interval};
use lrpo_core::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ArmSummary {
    pub name: String,
    pub steps: usize,
    /// Step-mean rewards, in step order.
    pub step_rewards: Vec<f64>,
    /// Mean over the last tenth of the steps (at least one).
    pub final_reward: Interval,
    pub mean_reward: Interval,
    /// Language -> (row-weighted mean reward, rollouts).
    pub by_language: BTreeMap<String, (f64, usize)>,
    /// Mean reward of the last validation, if any ran.
    pub validation: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub diff: Interval,
    pub p_value: f64,
}

#[derive(Debug, Clone)]
pub struct AbReport {
    pub arms: Vec<ArmSummary>,
    pub comparisons: Vec<Comparison>,
}

fn read_metrics(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::input(format!("{}, line {}", path.display(), i + 1), e.to_string()))
        })
        .collect()
}

fn summarise(name: &str, metrics: &[Value]) -> ArmSummary {
    let train: Vec<&Value> = metrics.iter().filter(|m| m["phase"] == "train").collect();
    let step_rewards: Vec<f64> = train.iter().filter_map(|m| m["reward"]["mean"].as_f64()).collect();
    let tail = (step_rewards.len() / 10).max(1).min(step_rewards.len());
    let final_reward = bootstrap_mean_ci(&step_rewards[step_rewards.len() - tail..], 11);
    let mean_reward = bootstrap_mean_ci(&step_rewards, 12);
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for m in &train {
        if let Some(langs) = m["reward_by_lang"].as_object() {
            for (lang, s) in langs {
                let count = s["count"].as_u64().unwrap_or(0) as usize;
                let e = sums.entry(lang.clone()).or_default();
                e.0 += s["mean"].as_f64().unwrap_or(0.0) * count as f64;
                e.1 += count;
            }
        }
    }
    let by_language = sums.into_iter().map(|(l, (sum, n))| (l, (sum / n.max(1) as f64, n))).collect();
    let validation = metrics.iter().rev().find(|m| m["phase"] == "val").and_then(|m| m["reward"]["mean"].as_f64());
    ArmSummary {
        name: name.into(),
        steps: step_rewards.len(),
        step_rewards,
        final_reward,
        mean_reward,
        by_language,
        validation,
    }
}

/// Reads every arm under `run_dir` (sub-directories with a `metrics.jsonl`; a single-arm run
/// directory counts as one arm).
pub fn ab_report(run_dir: &Path) -> Result<AbReport> {
    let mut arm_dirs: Vec<(String, PathBuf)> = std::fs::read_dir(run_dir)
        .map_err(|e| Error::input(run_dir.display().to_string(), format!("not a run directory: {e}")))?
        .flatten()
        .filter(|e| e.path().join("metrics.jsonl").is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    arm_dirs.sort();
    if arm_dirs.is_empty() && run_dir.join("metrics.jsonl").is_file() {
        arm_dirs.push(("main".into(), run_dir.to_path_buf()));
    }
    if arm_dirs.is_empty() {
        return Err(Error::input(
            run_dir.display().to_string(),
            "no metrics.jsonl here or in any arm directory below it",
        ));
    }
    let mut arms = Vec::new();
    for (name, dir) in &arm_dirs {
        arms.push(summarise(name, &read_metrics(&dir.join("metrics.jsonl"))?));
    }
    let mut comparisons = Vec::new();
    for i in 0..arms.len() {
        for j in i + 1..arms.len() {
            let n = arms[i].step_rewards.len().min(arms[j].step_rewards.len());
            let (diff, p_value) = paired_bootstrap_diff(&arms[i].step_rewards[..n], &arms[j].step_rewards[..n], 13);
            comparisons.push(Comparison { a: arms[i].name.clone(), b: arms[j].name.clone(), diff, p_value });
        }
    }
    Ok(AbReport { arms, comparisons })
}

fn ci(i: &Interval) -> String {
    format!("{:.4} [{:.4}, {:.4}]", i.estimate, i.low, i.high)
}

impl fmt::Display for AbReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for arm in &self.arms {
            writeln!(f, "arm `{}` ({} steps)", arm.name, arm.steps)?;
            writeln!(f, "  final reward (last 10% of steps)  {}", ci(&arm.final_reward))?;
            writeln!(f, "  mean reward (all steps)           {}", ci(&arm.mean_reward))?;
            match arm.validation {
                Some(v) => writeln!(f, "  validation reward (last)          {v:.4}")?,
                None => writeln!(f, "  validation reward                 (no validation ran)")?,
            }
            let langs: Vec<String> = arm.by_language.iter().map(|(l, (m, n))| format!("{l} {m:.3} (n={n})")).collect();
            writeln!(f, "  reward per language               {}", langs.join(", "))?;
        }
        if !self.comparisons.is_empty() {
            writeln!(f, "differences in per-step mean reward (paired over steps, 95% bootstrap):")?;
        }
        for c in &self.comparisons {
            let verdict = if c.diff.excludes_zero() { "significant" } else { "not significant" };
            writeln!(f, "  {} - {}: {} p={:.3} {verdict}", c.a, c.b, ci(&c.diff), c.p_value)?;
        }
        Ok(())
    }
}
