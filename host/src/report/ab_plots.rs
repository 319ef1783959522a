//! The A/B report's plots, in `RUN_DIR/report/`: every arm's training reward and gate rate over
//! the steps, the held-out validation before and after training, and each learning router's
//! final probabilities against the reward each language earned.

use super::ab::AbReport;
use super::stats::bootstrap_mean_ci;
use super::svg::{bar_chart, line_chart, scatter, Bar, Series};
use lrpo_core::{Error, Result};
use std::path::{Path, PathBuf};

/// A centred moving average over `window` steps, so trends show through step-to-step noise.
fn smoothed(values: &[f64], window: usize) -> Vec<(f64, f64)> {
    let half = window / 2;
    (0..values.len())
        .map(|i| {
            let part = &values[i.saturating_sub(half)..(i + half + 1).min(values.len())];
            ((i + 1) as f64, part.iter().sum::<f64>() / part.len() as f64)
        })
        .collect()
}

/// Writes the plots and returns their paths.
pub fn write_ab_plots(run_dir: &Path, report: &AbReport) -> Result<Vec<PathBuf>> {
    let out = run_dir.join("report");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(out.display(), e))?;
    let curves = |pick: fn(&super::ab::ArmSummary) -> &Vec<f64>| -> Vec<Series> {
        report.arms.iter().map(|a| Series { name: a.name.clone(), points: smoothed(pick(a), 5) }).collect()
    };
    let mut charts = vec![
        (
            "ab_reward.svg",
            line_chart(
                "Training reward per arm (5-step moving average)",
                "step",
                "mean reward",
                &curves(|a| &a.step_rewards),
            ),
        ),
        (
            "ab_gate.svg",
            line_chart(
                "Gate rate per arm (5-step moving average)",
                "step",
                "share in the routed language",
                &curves(|a| &a.step_gates),
            ),
        ),
    ];
    let with_val: Vec<_> = report.arms.iter().filter_map(|a| a.validation.as_ref().map(|v| (a, v))).collect();
    if !with_val.is_empty() {
        let bar = |v: &[f64], seed| {
            let i = bootstrap_mean_ci(v, seed);
            Some(Bar { value: i.estimate, low: i.low, high: i.high })
        };
        let categories: Vec<String> = with_val.iter().map(|(a, _)| a.name.clone()).collect();
        let series = vec![
            ("before".to_string(), with_val.iter().map(|(_, v)| bar(&v.first, 31)).collect()),
            ("after".to_string(), with_val.iter().map(|(_, v)| bar(&v.last, 32)).collect()),
            ("gate before".to_string(), with_val.iter().map(|(_, v)| bar(&v.first_gates, 33)).collect()),
            ("gate after".to_string(), with_val.iter().map(|(_, v)| bar(&v.last_gates, 34)).collect()),
        ];
        charts.push((
            "ab_validation.svg",
            bar_chart("Held-out validation before and after training (95% bootstrap)", "mean", &categories, &series),
        ));
    }
    let routing: Vec<Series> = report
        .arms
        .iter()
        .flat_map(|a| {
            a.routing.iter().map(move |t| Series {
                name: format!("{} {}", a.name, t.topic),
                points: t.languages.iter().map(|(_, p, r)| (*p, *r)).collect(),
            })
        })
        .collect();
    if !routing.is_empty() {
        charts.push((
            "ab_router_vs_reward.svg",
            scatter(
                "Final router probability against reward, per language",
                "router probability",
                "mean training reward",
                &routing,
            ),
        ));
    }
    let mut written = Vec::new();
    for (file, svg) in charts {
        let path = out.join(file);
        std::fs::write(&path, svg).map_err(|e| Error::io(path.display(), e))?;
        written.push(path);
    }
    Ok(written)
}
