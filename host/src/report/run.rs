//! `lrpo-host report RUN_DIR`: plots of a run (reward overall and per language, the router's
//! language probabilities per topic over steps, time per phase) as SVG files plus one HTML
//! page that shows them, written to `RUN_DIR/report/`.

use super::svg::{bar_chart, escape, heatmap, line_chart, Bar, Series};
use crate::train::router_log;
use lrpo_core::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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

fn series_by_key(records: &[&Value], field: &str, top: usize) -> Vec<Series> {
    let mut by: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in records {
        let step = r["step"].as_f64().unwrap_or(0.0);
        if let Some(map) = r[field].as_object() {
            for (k, v) in map {
                let y = v.get("mean").and_then(|m| m.as_f64()).or_else(|| v.as_f64());
                if let Some(y) = y {
                    by.entry(k.clone()).or_default().push((step, y));
                }
            }
        }
    }
    let mut all: Vec<Series> = by.into_iter().map(|(name, points)| Series { name, points }).collect();
    all.sort_by_key(|s| std::cmp::Reverse(s.points.len()));
    all.truncate(top);
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Writes the report and returns the HTML page's path.
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    let metrics = read_jsonl(&run_dir.join("metrics.jsonl"))?;
    if metrics.is_empty() {
        return Err(Error::input(
            run_dir.display().to_string(),
            "no metrics.jsonl (or it is empty): is this a run directory?",
        ));
    }
    let out = run_dir.join("report");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(out.display(), e))?;
    let train: Vec<&Value> = metrics.iter().filter(|m| m["phase"] == "train").collect();
    let val: Vec<&Value> = metrics.iter().filter(|m| m["phase"] == "val").collect();
    let point = |m: &&Value| (m["step"].as_f64().unwrap_or(0.0), m["reward"]["mean"].as_f64().unwrap_or(0.0));
    let mut charts: Vec<(String, String)> = vec![(
        "reward.svg".into(),
        line_chart(
            "Reward",
            "step",
            "mean reward",
            &[
                Series { name: "train".into(), points: train.iter().map(point).collect() },
                Series { name: "validation".into(), points: val.iter().map(point).collect() },
            ],
        ),
    )];
    charts.push((
        "reward_by_language.svg".into(),
        line_chart("Training reward per language", "step", "mean reward", &series_by_key(&train, "reward_by_lang", 10)),
    ));
    charts
        .push(("time.svg".into(), line_chart("Time per phase", "step", "seconds", &series_by_key(&train, "time", 10))));

    // Router probabilities: one heatmap per topic key of the router log, whichever router wrote it.
    let log = read_jsonl(&run_dir.join("router_log.jsonl"))?;
    // topic -> (logged steps, language -> probability at each of those steps)
    type Heat = (Vec<u64>, BTreeMap<String, Vec<f64>>);
    let mut topics: BTreeMap<String, Heat> = BTreeMap::new();
    for (step, report) in log.iter().filter_map(router_log::from_json) {
        for context in report.contexts.iter().filter(|c| c.key.starts_with("topic:")) {
            let entry = topics.entry(context.key.trim_start_matches("topic:").to_string()).or_default();
            entry.0.push(step);
            for (lang, p) in report.languages.iter().zip(&context.probs) {
                entry.1.entry(lang.to_string()).or_default().push(*p);
            }
        }
    }
    for (i, (topic, (steps, langs))) in topics.iter().enumerate() {
        let rows: Vec<String> = langs.keys().cloned().collect();
        let values: Vec<Vec<f64>> = langs.values().cloned().collect();
        charts.push((
            format!("router_topic_{i}.svg"),
            heatmap(&format!("Router language probabilities: {topic}"), &rows, steps, &values),
        ));
    }

    let mut html = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>lrpo run report</title></head><body style=\"font-family:sans-serif\">");
    let _ = write!(
        html,
        "<h1>Run {}</h1><p>{} training steps, {} validations.</p>",
        run_dir.display(),
        train.len(),
        val.len()
    );
    for (file, svg) in &charts {
        let path = out.join(file);
        std::fs::write(&path, svg).map_err(|e| Error::io(path.display(), e))?;
        let _ = write!(html, "<div><img src=\"{file}\" alt=\"{file}\"></div>");
    }
    for (i, (name, results)) in eval_results(run_dir)?.iter().enumerate() {
        let file = format!("eval_{i}.svg");
        let path = out.join(&file);
        std::fs::write(&path, eval_chart(name, results)).map_err(|e| Error::io(path.display(), e))?;
        let _ = write!(html, "<h2>Evaluation: {}</h2><div><img src=\"{file}\" alt=\"{file}\"></div>", escape(name));
        html.push_str(&eval_table(results));
    }
    html.push_str(&samples_table(&crate::train::samples::latest(run_dir)));
    html.push_str("</body></html>\n");
    let page = out.join("index.html");
    std::fs::write(&page, html).map_err(|e| Error::io(page.display(), e))?;
    Ok(page)
}

/// `lrpo-host eval` results kept with the run: `RUN_DIR/eval/results.json` and
/// `RUN_DIR/eval/<name>/results.json`, by name.
fn eval_results(run_dir: &Path) -> Result<Vec<(String, crate::eval::results::Results)>> {
    let root = run_dir.join("eval");
    let mut dirs: Vec<(String, PathBuf)> = vec![("eval".into(), root.clone())];
    if let Ok(entries) = std::fs::read_dir(&root) {
        let mut subs: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        subs.sort();
        dirs.extend(subs);
    }
    let mut found = Vec::new();
    for (name, dir) in dirs {
        if let Some(results) = crate::eval::results::read(&dir.join(crate::eval::results::JSON_FILE))? {
            found.push((name, results));
        }
    }
    Ok(found)
}

/// Accuracy per language and overall, one bar per evaluated model, with Wilson intervals.
fn eval_chart(name: &str, r: &crate::eval::results::Results) -> String {
    let mut languages: Vec<String> =
        r.models.iter().flat_map(|m| m.languages.iter().map(|l| l.language.clone())).collect();
    languages.sort();
    languages.dedup();
    languages.push("all".into());
    let series: Vec<(String, Vec<Option<Bar>>)> = r
        .models
        .iter()
        .map(|m| {
            let bars = languages
                .iter()
                .map(|lang| {
                    let row =
                        if lang == "all" { Some(&m.overall) } else { m.languages.iter().find(|l| &l.language == lang) };
                    row.and_then(|row| {
                        Some(Bar {
                            value: row.accuracy?,
                            low: row.ci_low.unwrap_or(0.0),
                            high: row.ci_high.unwrap_or(1.0),
                        })
                    })
                })
                .collect();
            (m.role.clone(), bars)
        })
        .collect();
    bar_chart(
        &format!("Judge accuracy per language: {name} ({})", r.judge_model),
        "accuracy (CORRECT / judged)",
        &languages,
        &series,
    )
}

fn eval_table(r: &crate::eval::results::Results) -> String {
    let mut html = String::from(
        "<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr><th>model</th><th>language</th>\
         <th>n</th><th>accuracy</th><th>95% CI</th><th>wrong language</th><th>incorrect</th><th>not attempted</th>\
         <th>judge failures</th><th>gate</th></tr>",
    );
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
    for m in &r.models {
        for row in m.languages.iter().chain(std::iter::once(&m.overall)) {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} to {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&m.role),
                escape(&row.language),
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
    html.push_str("</table>");
    if let Some(c) = &r.comparison {
        let o = &c.overall;
        let _ = write!(
            html,
            "<p>Model against baseline on {} paired items: {} points ({} to {}), McNemar p = {:.4}.</p>",
            o.pairs,
            o.difference.map_or("-".into(), |d| format!("{:+.1}", 100.0 * d)),
            o.diff_low.map_or("-".into(), |d| format!("{:+.1}", 100.0 * d)),
            o.diff_high.map_or("-".into(), |d| format!("{:+.1}", 100.0 * d)),
            o.mcnemar_p
        );
    }
    html
}

/// The newest step's sampled responses, for reading what the policy says.
fn samples_table(samples: &[crate::train::samples::SampleRecord]) -> String {
    let Some(first) = samples.first() else { return String::new() };
    let mut html = format!(
        "<h2>Sampled responses, step {}</h2><table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\">\
         <tr><th>question</th><th>target</th><th>detected</th><th>reward</th><th>response</th></tr>",
        first.step
    );
    for s in samples {
        let detected = match &s.detected_lang {
            Some(l) => format!("{l} ({:.2})", s.detected_prob),
            None => "-".into(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>",
            escape(&s.question),
            escape(&s.target_lang),
            escape(&detected),
            s.reward,
            escape(&s.response)
        );
    }
    html.push_str("</table>");
    html
}
