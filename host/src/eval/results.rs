//! The results of an evaluation as `results.json` (read back by `lrpo-host report`) and
//! `results.md` (the tables, also printed).

use super::stats::{Paired, Row};
use lrpo_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// `results.json`'s `kind`, so `report` tells an evaluation from other JSON.
pub const KIND: &str = "lrpo-eval";
pub const JSON_FILE: &str = "results.json";
pub const MARKDOWN_FILE: &str = "results.md";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub kind: String,
    pub data: String,
    pub items: usize,
    /// The endpoint (never the key).
    pub judge_url: String,
    pub judge_model: String,
    /// Hash of the judge prompt's template.
    pub judge_template: String,
    /// `--answer-lang`, when every answer was asked for in one language.
    pub answer_lang: Option<String>,
    pub models: Vec<ModelResults>,
    pub comparison: Option<Comparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResults {
    /// `model` or `baseline`.
    pub role: String,
    pub id: String,
    pub languages: Vec<Row>,
    pub overall: Row,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub model: String,
    pub baseline: String,
    pub languages: Vec<Paired>,
    pub overall: Paired,
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn signed_pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:+.1}", 100.0 * v))
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// The tables as Markdown.
pub fn markdown(r: &Results) -> String {
    let mut md = format!(
        "# Evaluation\n\n{} questions from `{}`, judged by `{}` at {} (judge prompt {}){}.\n\
         Accuracy is CORRECT over judged answers, with a 95% Wilson interval; judge failures are \
         answers the judge gave no label for and count in no rate. Gate: answers the run's language \
         ID places in the expected language.\n",
        r.items,
        r.data,
        r.judge_model,
        r.judge_url,
        &r.judge_template[..r.judge_template.len().min(12)],
        r.answer_lang.as_ref().map(|l| format!("; every answer asked for in `{l}`")).unwrap_or_default()
    );
    for m in &r.models {
        let _ = write!(
            md,
            "\n## {}: `{}`\n\n| language | n | accuracy | 95% CI | wrong language | incorrect | not attempted | judge failures | gate |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            m.role, m.id
        );
        for row in m.languages.iter().chain(std::iter::once(&m.overall)) {
            let name = if row.language == "all" { "**all**".to_string() } else { row.language.clone() };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {}–{} | {} | {} | {} | {} | {} |",
                row.n,
                pct(row.accuracy),
                pct(row.ci_low),
                pct(row.ci_high),
                pct(row.wrong_language_rate),
                row.incorrect,
                row.not_attempted,
                row.judge_failures,
                pct(row.gate_rate)
            );
        }
    }
    if let Some(c) = &r.comparison {
        let _ = write!(
            md,
            "\n## Model against baseline\n\nPaired on the items both have a label for: difference in accuracy \
             (percentage points) with a 95% paired-bootstrap interval, and the exact McNemar test on the \
             items only one of them got right.\n\n\
             | language | pairs | model | baseline | difference | 95% CI | only model right | only baseline right | McNemar p |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        );
        for p in c.languages.iter().chain(std::iter::once(&c.overall)) {
            let name = if p.language == "all" { "**all**".to_string() } else { p.language.clone() };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} to {} | {} | {} | {} |",
                p.pairs,
                pct(p.model_accuracy),
                pct(p.baseline_accuracy),
                signed_pct(p.difference),
                signed_pct(p.diff_low),
                signed_pct(p.diff_high),
                p.model_only,
                p.baseline_only,
                p_value(p.mcnemar_p)
            );
        }
    }
    md
}

/// Writes results.json and results.md into `dir` and returns the Markdown.
pub fn write(dir: &Path, r: &Results) -> Result<String> {
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::runtime(e.to_string()))?;
    write_atomic(&dir.join(JSON_FILE), &format!("{json}\n"))?;
    let md = markdown(r);
    write_atomic(&dir.join(MARKDOWN_FILE), &md)?;
    Ok(md)
}

/// Through a hidden file and a rename, so a reader (a report made meanwhile) sees the old
/// results or the new ones, never half of either.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
}

/// Reads `results.json` back (`None` when `path` is not an evaluation's results).
pub fn read(path: &Path) -> Result<Option<Results>> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::input(path.display().to_string(), format!("not JSON: {e}")))?;
    if value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
        return Ok(None);
    }
    serde_json::from_value(value).map(Some).map_err(|e| Error::input(path.display().to_string(), e.to_string()))
}
