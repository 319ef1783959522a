//! `lrpo-host ab report RUN_DIR`: per arm, how its training curves moved (first fifth of the
//! steps against the last, with a moving-block bootstrap interval: steps of one run are not
//! independent draws), its reward per language, its held-out validation before and after
//! training, and where the router sent the copies against what each language earned; then the
//! arms against each other, question by question on the held-out validation, and step by step
//! on the training reward. Arms share seeds and data order, so steps are paired across arms.

use super::stats::{
    block_bootstrap_change, block_length, bootstrap_mean_ci, paired_block_bootstrap_diff, paired_bootstrap_diff,
    spearman, Interval,
};
use crate::train::router_log;
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
    /// Step gate rates (share of rollouts in the routed language), in step order.
    pub step_gates: Vec<f64>,
    /// Last fifth minus first fifth of the steps, moving-block bootstrap.
    pub reward_change: Interval,
    pub gate_change: Interval,
    pub mean_reward: Interval,
    /// Language -> (row-weighted mean reward, rollouts).
    pub by_language: BTreeMap<String, (f64, usize)>,
    /// The first and the last validation, when they differ (held-out questions).
    pub validation: Option<Validation>,
    /// Per topic: the router's final probabilities against each language's mean reward.
    pub routing: Vec<TopicRouting>,
}

/// Held-out validation: per-question rewards and gates of the first and the last validation.
#[derive(Debug, Clone)]
pub struct Validation {
    pub first_step: u64,
    pub last_step: u64,
    pub first: Vec<f64>,
    pub last: Vec<f64>,
    pub first_gates: Vec<f64>,
    pub last_gates: Vec<f64>,
    /// mean(last - first), paired over questions.
    pub change: Interval,
    pub gate_change: Interval,
}

#[derive(Debug, Clone)]
pub struct TopicRouting {
    pub topic: String,
    /// (language, final probability, the arm's mean training reward in that language).
    pub languages: Vec<(String, f64, f64)>,
    /// Spearman's rank correlation of probability and reward over the languages.
    pub rho: Option<f64>,
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
    /// Training reward, paired by step (moving blocks).
    pub comparisons: Vec<Comparison>,
    /// The last validation's reward, paired by held-out question.
    pub validation_comparisons: Vec<Comparison>,
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(vec![]) };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::input(format!("{}, line {}", path.display(), i + 1), e.to_string()))
        })
        .collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default()
}

/// The question-paired change between the first and the last validation that recorded
/// per-question values (runs from before those were logged have none).
fn validation(metrics: &[Value]) -> Option<Validation> {
    let vals: Vec<&Value> =
        metrics.iter().filter(|m| m["phase"] == "val" && m["question_rewards"].is_array()).collect();
    let (first, last) = (vals.first()?, vals.last()?);
    let (a, b) = (numbers(&first["question_rewards"]), numbers(&last["question_rewards"]));
    let (ga, gb) = (numbers(&first["question_gates"]), numbers(&last["question_gates"]));
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    // Questions are independent draws: the plain paired bootstrap fits here.
    let (change, _) = paired_bootstrap_diff(&b, &a, 21);
    let (gate_change, _) = paired_bootstrap_diff(&gb, &ga, 22);
    Some(Validation {
        first_step: first["step"].as_u64().unwrap_or(0),
        last_step: last["step"].as_u64().unwrap_or(0),
        first: a,
        last: b,
        first_gates: ga,
        last_gates: gb,
        change,
        gate_change,
    })
}

/// The router's last logged distribution per topic, set against the arm's reward per language.
fn routing(log: &[Value], by_language: &BTreeMap<String, (f64, usize)>) -> Vec<TopicRouting> {
    let Some((_, report)) = log.iter().rev().find_map(router_log::from_json) else { return vec![] };
    report
        .contexts
        .iter()
        .filter_map(|c| Some((c.key.strip_prefix("topic:")?, c)))
        .map(|(topic, c)| {
            let languages: Vec<(String, f64, f64)> = report
                .languages
                .iter()
                .zip(&c.probs)
                .filter_map(|(l, p)| by_language.get(l.as_str()).map(|(r, _)| (l.to_string(), *p, *r)))
                .collect();
            let (p, r): (Vec<f64>, Vec<f64>) = languages.iter().map(|(_, p, r)| (*p, *r)).unzip();
            TopicRouting { topic: topic.to_string(), rho: spearman(&p, &r), languages }
        })
        .collect()
}

fn summarise(name: &str, metrics: &[Value], log: &[Value]) -> ArmSummary {
    let train: Vec<&Value> = metrics.iter().filter(|m| m["phase"] == "train").collect();
    let step_rewards: Vec<f64> = train.iter().filter_map(|m| m["reward"]["mean"].as_f64()).collect();
    let step_gates: Vec<f64> = train.iter().filter_map(|m| m["gate_rate"].as_f64()).collect();
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
    let by_language: BTreeMap<String, (f64, usize)> =
        sums.into_iter().map(|(l, (sum, n))| (l, (sum / n.max(1) as f64, n))).collect();
    ArmSummary {
        name: name.into(),
        steps: step_rewards.len(),
        reward_change: block_bootstrap_change(&step_rewards, 11),
        gate_change: block_bootstrap_change(&step_gates, 12),
        mean_reward: bootstrap_mean_ci(&step_rewards, 13),
        routing: routing(log, &by_language),
        validation: validation(metrics),
        step_rewards,
        step_gates,
        by_language,
    }
}

/// The arm directories under `run_dir` (sub-directories with a `metrics.jsonl`; a single-arm
/// run directory counts as one arm named `main`), by name.
pub fn arm_dirs(run_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut arms: Vec<(String, PathBuf)> = std::fs::read_dir(run_dir)
        .map_err(|e| Error::input(run_dir.display().to_string(), format!("not a run directory: {e}")))?
        .flatten()
        .filter(|e| e.path().join("metrics.jsonl").is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    arms.sort();
    if arms.is_empty() && run_dir.join("metrics.jsonl").is_file() {
        arms.push(("main".into(), run_dir.to_path_buf()));
    }
    if arms.is_empty() {
        return Err(Error::input(
            run_dir.display().to_string(),
            "no metrics.jsonl here or in any arm directory below it",
        ));
    }
    Ok(arms)
}

/// Reads every arm under `run_dir` ([`arm_dirs`]).
pub fn ab_report(run_dir: &Path) -> Result<AbReport> {
    let mut arms = Vec::new();
    for (name, dir) in &arm_dirs(run_dir)? {
        let metrics = read_jsonl(&dir.join("metrics.jsonl"))?;
        arms.push(summarise(name, &metrics, &read_jsonl(&dir.join("router_log.jsonl"))?));
    }
    let mut comparisons = Vec::new();
    let mut validation_comparisons = Vec::new();
    for i in 0..arms.len() {
        for j in i + 1..arms.len() {
            let (a, b) = (&arms[i], &arms[j]);
            let n = a.step_rewards.len().min(b.step_rewards.len());
            let (diff, p_value) = paired_block_bootstrap_diff(&a.step_rewards[..n], &b.step_rewards[..n], 14);
            comparisons.push(Comparison { a: a.name.clone(), b: b.name.clone(), diff, p_value });
            if let (Some(va), Some(vb)) = (&a.validation, &b.validation) {
                if va.last.len() == vb.last.len() {
                    let (diff, p_value) = paired_bootstrap_diff(&va.last, &vb.last, 15);
                    validation_comparisons.push(Comparison { a: a.name.clone(), b: b.name.clone(), diff, p_value });
                }
            }
        }
    }
    Ok(AbReport { arms, comparisons, validation_comparisons })
}

fn ci(i: &Interval) -> String {
    format!("{:+.4} [{:+.4}, {:+.4}]", i.estimate, i.low, i.high)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn verdict(i: &Interval) -> &'static str {
    if i.excludes_zero() {
        "significant"
    } else {
        "not significant"
    }
}

impl fmt::Display for AbReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for arm in &self.arms {
            let fifth = (arm.steps / 5).max(1);
            writeln!(f, "arm `{}` ({} steps)", arm.name, arm.steps)?;
            writeln!(
                f,
                "  training reward: mean {:.4} [{:.4}, {:.4}]; last {fifth} steps - first {fifth}: {} ({})",
                arm.mean_reward.estimate,
                arm.mean_reward.low,
                arm.mean_reward.high,
                ci(&arm.reward_change),
                verdict(&arm.reward_change)
            )?;
            writeln!(
                f,
                "  gate rate: first {fifth} steps {:.3}, last {fifth} {:.3}; change {} ({})",
                mean(&arm.step_gates[..fifth.min(arm.step_gates.len())]),
                mean(&arm.step_gates[arm.step_gates.len().saturating_sub(fifth)..]),
                ci(&arm.gate_change),
                verdict(&arm.gate_change)
            )?;
            let langs: Vec<String> = arm.by_language.iter().map(|(l, (m, n))| format!("{l} {m:.3} (n={n})")).collect();
            writeln!(f, "  reward per language: {}", langs.join(", "))?;
            match &arm.validation {
                Some(v) => writeln!(
                    f,
                    "  held-out validation ({} questions): step {} {:.4} -> step {} {:.4}, change {} ({}); gate {:.3} -> {:.3}, change {}",
                    v.last.len(),
                    v.first_step,
                    mean(&v.first),
                    v.last_step,
                    mean(&v.last),
                    ci(&v.change),
                    verdict(&v.change),
                    mean(&v.first_gates),
                    mean(&v.last_gates),
                    ci(&v.gate_change)
                )?,
                None => writeln!(f, "  held-out validation: none with per-question results")?,
            }
            for t in &arm.routing {
                let mut top = t.languages.clone();
                top.sort_by(|a, b| b.1.total_cmp(&a.1));
                let shown: Vec<String> = top.iter().take(3).map(|(l, p, _)| format!("{l} {p:.3}")).collect();
                let rho = t.rho.map_or("n/a".to_string(), |r| format!("{r:+.2}"));
                writeln!(
                    f,
                    "  router, topic `{}`: most likely {}; rank correlation with reward per language {rho}",
                    t.topic,
                    shown.join(", ")
                )?;
            }
        }
        if !self.validation_comparisons.is_empty() {
            writeln!(f, "arms on the held-out questions (last validation, paired by question, 95% bootstrap):")?;
        }
        for c in &self.validation_comparisons {
            writeln!(f, "  {} - {}: {} p={:.3} {}", c.a, c.b, ci(&c.diff), c.p_value, verdict(&c.diff))?;
        }
        if let Some(n) = self.arms.iter().map(|a| a.steps).min().filter(|_| !self.comparisons.is_empty()) {
            writeln!(
                f,
                "arms on the training reward (paired by step, moving blocks of {} steps, 95% bootstrap; the arms \
                 train on different target languages, so this compares what each arm earned, not one yardstick):",
                block_length(n)
            )?;
        }
        for c in &self.comparisons {
            writeln!(f, "  {} - {}: {} p={:.3} {}", c.a, c.b, ci(&c.diff), c.p_value, verdict(&c.diff))?;
        }
        Ok(())
    }
}
