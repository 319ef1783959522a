//! The numbers of an evaluation: per language and overall, accuracy (CORRECT over judged
//! answers, LRPO spec §7) with its 95% Wilson interval, the other labels, judge failures and the
//! language-gate rate; for two models on the same items, the paired difference in accuracy
//! with a paired-bootstrap interval and the exact McNemar test.
//!
//! Wilson rather than the normal approximation: per-language counts are often small and
//! accuracies near 0 or 1, where the normal interval leaves [0, 1] or collapses to a point.

use super::judge::Label;
use crate::report::paired_bootstrap_diff;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;
/// Seed of the paired bootstrap, so a report is the same each time it is made.
const BOOTSTRAP_SEED: u64 = 19;

/// One item's result for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The row of the table it counts in (the question's language).
    pub language: String,
    /// `None`: a judge failure.
    pub label: Option<Label>,
    /// The language ID found the response in the expected language.
    pub gate: bool,
}

/// One row of the results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub language: String,
    /// Items.
    pub n: usize,
    /// Items with a label (n minus judge failures): accuracy's denominator.
    pub judged: usize,
    pub correct: usize,
    pub wrong_language: usize,
    pub incorrect: usize,
    pub not_attempted: usize,
    pub judge_failures: usize,
    /// correct / judged; `None` with nothing judged.
    pub accuracy: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// wrong_language / judged.
    pub wrong_language_rate: Option<f64>,
    /// Share of the n responses the language ID placed in the expected language.
    pub gate_rate: Option<f64>,
}

/// The 95% Wilson score interval of `k` successes in `n` trials; `None` for `n = 0`.
pub fn wilson(k: usize, n: usize) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Two-sided exact McNemar p-value for `b` and `c` discordant pairs: twice the smaller binomial
/// tail of Bin(b + c, 1/2), capped at 1. Summed in log space, so thousands of pairs are fine.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0f64;
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose - ln2n).exp();
    }
    (2.0 * tail).min(1.0)
}

fn rate(k: usize, n: usize) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

fn row(language: &str, outcomes: &[&Outcome]) -> Row {
    let count = |l: Label| outcomes.iter().filter(|o| o.label == Some(l)).count();
    let (correct, wrong_language) = (count(Label::Correct), count(Label::CorrectButWrongLanguage));
    let judged = outcomes.iter().filter(|o| o.label.is_some()).count();
    let ci = wilson(correct, judged);
    Row {
        language: language.to_string(),
        n: outcomes.len(),
        judged,
        correct,
        wrong_language,
        incorrect: count(Label::Incorrect),
        not_attempted: count(Label::NotAttempted),
        judge_failures: outcomes.len() - judged,
        accuracy: rate(correct, judged),
        ci_low: ci.map(|c| c.0),
        ci_high: ci.map(|c| c.1),
        wrong_language_rate: rate(wrong_language, judged),
        gate_rate: rate(outcomes.iter().filter(|o| o.gate).count(), outcomes.len()),
    }
}

/// Rows per language (sorted by language) and the overall row.
pub fn summarise(outcomes: &[Outcome]) -> (Vec<Row>, Row) {
    let mut by: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by.entry(&o.language).or_default().push(o);
    }
    let rows = by.iter().map(|(lang, os)| row(lang, os)).collect();
    (rows, row("all", &outcomes.iter().collect::<Vec<_>>()))
}

/// Two models on the same items, in one language or overall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    pub language: String,
    /// Items both models have a label for.
    pub pairs: usize,
    pub model_accuracy: Option<f64>,
    pub baseline_accuracy: Option<f64>,
    /// model minus baseline accuracy on those items, with its 95% paired-bootstrap interval.
    pub difference: Option<f64>,
    pub diff_low: Option<f64>,
    pub diff_high: Option<f64>,
    /// Items only the model got right, and only the baseline.
    pub model_only: usize,
    pub baseline_only: usize,
    pub mcnemar_p: f64,
}

fn paired(language: &str, pairs: &[(bool, bool)]) -> Paired {
    let a: Vec<f64> = pairs.iter().map(|p| f64::from(u8::from(p.0))).collect();
    let b: Vec<f64> = pairs.iter().map(|p| f64::from(u8::from(p.1))).collect();
    let model_only = pairs.iter().filter(|p| p.0 && !p.1).count();
    let baseline_only = pairs.iter().filter(|p| !p.0 && p.1).count();
    let n = pairs.len();
    let (diff, low, high) = if n == 0 {
        (None, None, None)
    } else {
        let (ci, _) = paired_bootstrap_diff(&a, &b, BOOTSTRAP_SEED);
        (Some(ci.estimate), Some(ci.low), Some(ci.high))
    };
    Paired {
        language: language.to_string(),
        pairs: n,
        model_accuracy: rate(pairs.iter().filter(|p| p.0).count(), n),
        baseline_accuracy: rate(pairs.iter().filter(|p| p.1).count(), n),
        difference: diff,
        diff_low: low,
        diff_high: high,
        model_only,
        baseline_only,
        mcnemar_p: mcnemar_exact(model_only, baseline_only),
    }
}

/// Per language and overall: `model` against `baseline`, item by item (both slices in the same
/// item order). Items either model has no label for are left out of the pairs.
pub fn compare(model: &[Outcome], baseline: &[Outcome]) -> (Vec<Paired>, Paired) {
    let mut by: BTreeMap<&str, Vec<(bool, bool)>> = BTreeMap::new();
    let mut all = Vec::new();
    for (m, b) in model.iter().zip(baseline) {
        if let (Some(lm), Some(lb)) = (m.label, b.label) {
            let pair = (lm == Label::Correct, lb == Label::Correct);
            by.entry(&m.language).or_default().push(pair);
            all.push(pair);
        }
    }
    (by.iter().map(|(l, p)| paired(l, p)).collect(), paired("all", &all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_values() {
        // 8 of 10: 0.4902 to 0.9433; 0 of 10: 0 to 0.2775; 10 of 10: 0.7225 to 1.
        let (lo, hi) = wilson(8, 10).unwrap();
        assert!((lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(0, 10).unwrap();
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(10, 10).unwrap();
        assert!((lo - 0.7225).abs() < 1e-4 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn mcnemar_is_the_exact_binomial_tail() {
        // b = 10, c = 2: 2 * (1 + 12 + 66) / 4096.
        assert!((mcnemar_exact(10, 2) - 158.0 / 4096.0).abs() < 1e-12);
        assert!((mcnemar_exact(2, 10) - 158.0 / 4096.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Far more pairs than f64 could hold as 2^n, still a probability.
        let p = mcnemar_exact(1200, 1000);
        assert!(p > 0.0 && p < 1e-4, "{p}");
    }

    fn o(language: &str, label: Option<Label>, gate: bool) -> Outcome {
        Outcome { language: language.into(), label, gate }
    }

    #[test]
    fn rows_count_labels_and_keep_failures_out_of_accuracy() {
        let outcomes = vec![
            o("zh", Some(Label::Correct), true),
            o("zh", Some(Label::CorrectButWrongLanguage), false),
            o("zh", None, true),
            o("zh", Some(Label::Incorrect), true),
            o("de", Some(Label::NotAttempted), true),
        ];
        let (rows, all) = summarise(&outcomes);
        assert_eq!(rows.iter().map(|r| r.language.as_str()).collect::<Vec<_>>(), ["de", "zh"]);
        let zh = &rows[1];
        assert_eq!(
            (zh.n, zh.judged, zh.correct, zh.wrong_language, zh.incorrect, zh.judge_failures),
            (4, 3, 1, 1, 1, 1)
        );
        assert_eq!(zh.accuracy, Some(1.0 / 3.0));
        assert_eq!(zh.wrong_language_rate, Some(1.0 / 3.0));
        assert_eq!(zh.gate_rate, Some(0.75));
        assert_eq!((all.n, all.judged, all.correct, all.not_attempted), (5, 4, 1, 1));
        assert_eq!(rows[0].accuracy, Some(0.0));
    }

    #[test]
    fn paired_comparison_uses_items_both_models_have_labels_for() {
        let mut model = Vec::new();
        let mut base = Vec::new();
        for i in 0..40 {
            model.push(o("en", Some(if i < 30 { Label::Correct } else { Label::Incorrect }), true));
            base.push(o("en", Some(if i < 10 { Label::Correct } else { Label::Incorrect }), true));
        }
        model.push(o("en", Some(Label::Correct), true));
        base.push(o("en", None, true));
        let (rows, all) = compare(&model, &base);
        assert_eq!(rows.len(), 1);
        assert_eq!((all.pairs, all.model_only, all.baseline_only), (40, 20, 0));
        assert!((all.difference.unwrap() - 0.5).abs() < 1e-12);
        assert!(all.diff_low.unwrap() > 0.0 && all.diff_high.unwrap() <= 1.0);
        assert!(all.mcnemar_p < 1e-5, "{}", all.mcnemar_p);
        let (_, same) = compare(&model, &model);
        assert_eq!((same.difference, same.mcnemar_p), (Some(0.0), 1.0));
    }
}
