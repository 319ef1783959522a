//! The `rule` RewardModel: one verdict per response (correct, wrong, no answer) and the score
//! the config gives that verdict.

use lrpo_core::{Error, LangPrediction, Result, Reward, RewardInput, RewardModel};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::extract::{clean_latex, gsm8k_answer, last_boxed, reference_answer};
use crate::normalize::{nfkc, Normalize, Whitespace};
use crate::numbers::{close, numbers, single_number, Convention, DecimalSeparator};

/// What counts as the answer and how it is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The whole response equals the reference's answer after `normalize`.
    #[default]
    Exact,
    /// GSM8K: the number after the response's last `####` (or, with `gsm8k_method =
    /// "flexible"`, its last number) equals the reference's `####` answer within the tolerance.
    Gsm8k,
    /// The last `\boxed{}` of the response matches the reference's answer: as numbers within
    /// the tolerance when both are one number, else as cleaned LaTeX text.
    Boxed,
    /// The last number of the response equals the reference's number within the tolerance.
    Numeric,
}

/// Where `gsm8k` looks for the response's answer (verl's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gsm8kMethod {
    /// Only after a `####` marker: the format is part of what is rewarded.
    #[default]
    Strict,
    /// The last number anywhere in the response.
    Flexible,
}

/// Config table of `rule`; `{}` is an exact match scored 1 / 0.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RuleRewardConfig {
    pub mode: Mode,
    /// The reward of a correct answer (verl's `score`).
    pub correct_score: f64,
    /// The reward of an answer that was found in the expected form but is wrong (verl's
    /// gsm8k `format_score`, which is accepted as this key's other name).
    #[serde(alias = "format_score")]
    pub incorrect_score: f64,
    /// The reward of a response with no answer in the expected form (no `####` in strict
    /// `gsm8k`, no `\boxed{}`, no number, an empty response).
    pub no_answer_score: f64,
    /// Text normalisation of `exact` (and of `boxed` answers compared as text, where
    /// punctuation is always kept).
    pub normalize: Normalize,
    pub gsm8k_method: Gsm8kMethod,
    /// Numbers are equal within `max(abs_tol, rel_tol · max(|a|, |b|))`.
    pub abs_tol: f64,
    pub rel_tol: f64,
    /// How `1,500` and `1.500` are read: `auto` (by each text's language), `point`, `comma`.
    pub decimal_separator: DecimalSeparator,
}

impl Default for RuleRewardConfig {
    fn default() -> Self {
        RuleRewardConfig {
            mode: Mode::Exact,
            correct_score: 1.0,
            incorrect_score: 0.0,
            no_answer_score: 0.0,
            normalize: Normalize::default(),
            gsm8k_method: Gsm8kMethod::Strict,
            abs_tol: 1e-6,
            rel_tol: 0.0,
            decimal_separator: DecimalSeparator::Auto,
        }
    }
}

/// A response's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Correct,
    Incorrect,
    NoAnswer,
}

/// The component.
#[derive(Debug, Clone)]
pub struct RuleReward {
    config: RuleRewardConfig,
}

impl RuleReward {
    /// Checks the config: scores in [0, 1] (the reward's range), tolerances finite and >= 0.
    pub fn from_config(config: RuleRewardConfig) -> Result<Self> {
        for (key, v) in [
            ("correct_score", config.correct_score),
            ("incorrect_score", config.incorrect_score),
            ("no_answer_score", config.no_answer_score),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::config(key, format!("{v} is not in [0, 1], the range of a reward")));
            }
        }
        for (key, v) in [("abs_tol", config.abs_tol), ("rel_tol", config.rel_tol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(key, format!("{v} must be a finite number >= 0")));
            }
        }
        Ok(RuleReward { config })
    }

    pub fn config(&self) -> &RuleRewardConfig {
        &self.config
    }

    /// The verdict on input `index` of a batch (the index names the item in errors). A
    /// reference without an answer of the mode's kind is an error: it is the data, not the
    /// policy, that is wrong, and scoring it 0 would train on noise without a word.
    pub fn judge(&self, index: usize, input: &RewardInput) -> Result<Verdict> {
        let c = &self.config;
        let response = nfkc(&input.response);
        let reference = nfkc(&input.reference);
        let response_lang = input.detected.lang.as_ref().unwrap_or(&input.target_lang);
        let response_conv = c.decimal_separator.convention(Some(response_lang));
        let reference_conv = c.decimal_separator.convention(Some(&input.reference_lang));
        let bad_reference = |what: &str| {
            Error::input(
                format!("reward input {index}, reference"),
                format!("`{}` {what} (reward `rule`, mode `{}`)", shorten(&input.reference), mode_name(c.mode)),
            )
        };
        let verdict = |correct: bool| if correct { Verdict::Correct } else { Verdict::Incorrect };
        match c.mode {
            Mode::Exact => {
                let want = c.normalize.apply(&reference_answer(&reference));
                if want.is_empty() {
                    return Err(bad_reference("is empty after normalisation"));
                }
                let got = c.normalize.apply(&response);
                Ok(if got.is_empty() { Verdict::NoAnswer } else { verdict(got == want) })
            }
            Mode::Gsm8k => {
                let want = gsm8k_answer(&reference, reference_conv)
                    .or_else(|| last_number(&reference, reference_conv))
                    .ok_or_else(|| bad_reference("holds no number"))?;
                let got = match c.gsm8k_method {
                    Gsm8kMethod::Strict => gsm8k_answer(&response, response_conv),
                    Gsm8kMethod::Flexible => last_number(&response, response_conv),
                };
                Ok(got.map_or(Verdict::NoAnswer, |g| verdict(close(g, want, c.abs_tol, c.rel_tol))))
            }
            Mode::Boxed => {
                let want = reference_answer(&reference);
                if clean_latex(&want).is_empty() {
                    return Err(bad_reference("has no answer"));
                }
                let got = last_boxed(&response).filter(|b| !clean_latex(b).is_empty());
                Ok(got
                    .map_or(Verdict::NoAnswer, |g| verdict(self.boxed_equal(&g, response_conv, &want, reference_conv))))
            }
            Mode::Numeric => {
                let want = last_number(&reference_answer(&reference), reference_conv)
                    .ok_or_else(|| bad_reference("holds no number"))?;
                let got = last_number(&response, response_conv);
                Ok(got.map_or(Verdict::NoAnswer, |g| verdict(close(g, want, c.abs_tol, c.rel_tol))))
            }
        }
    }

    fn score_of(&self, verdict: Verdict) -> f64 {
        match verdict {
            Verdict::Correct => self.config.correct_score,
            Verdict::Incorrect => self.config.incorrect_score,
            Verdict::NoAnswer => self.config.no_answer_score,
        }
    }

    /// Two boxed answers: numbers when both are one number, else cleaned LaTeX as text, with a
    /// leading `x =` of a one- or two-letter variable dropped on either side.
    fn boxed_equal(&self, got: &str, got_conv: Convention, want: &str, want_conv: Convention) -> bool {
        let (got, want) = (drop_variable(&clean_latex(got)), drop_variable(&clean_latex(want)));
        if let (Some(a), Some(b)) = (single_number(&got, got_conv), single_number(&want, want_conv)) {
            return close(a, b, self.config.abs_tol, self.config.rel_tol);
        }
        let text =
            Normalize { strip_punctuation: false, whitespace: Whitespace::Remove, ..self.config.normalize.clone() };
        text.apply(&got) == text.apply(&want)
    }
}

fn last_number(text: &str, convention: Convention) -> Option<f64> {
    numbers(text, convention).last().map(|n| n.value)
}

/// `x=4` → `4`, `ab=\frac{1}{2}` → `\frac{1}{2}`; anything else unchanged.
fn drop_variable(text: &str) -> String {
    match text.split_once('=') {
        Some((lhs, rhs))
            if !rhs.contains('=') && (1..=2).contains(&lhs.len()) && lhs.chars().all(char::is_alphabetic) =>
        {
            rhs.to_string()
        }
        _ => text.to_string(),
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Exact => "exact",
        Mode::Gsm8k => "gsm8k",
        Mode::Boxed => "boxed",
        Mode::Numeric => "numeric",
    }
}

/// At most 80 chars of a text for an error message.
fn shorten(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        s.push('…');
    }
    s
}

impl RewardModel for RuleReward {
    fn score(&mut self, inputs: &[RewardInput]) -> Result<Vec<Reward>> {
        inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let value = self.score_of(self.judge(i, input)?);
                Ok(Reward {
                    value,
                    // No embedding is involved: NaN, so that an average over them cannot pass
                    // for a cosine.
                    raw_cosine: f64::NAN,
                    calibrated_cosine: f64::NAN,
                    r_emb: value,
                    // Ungated: a composite reward in the host may gate it by language.
                    gate: 1.0,
                    detected: LangPrediction::clone(&input.detected),
                })
            })
            .collect()
    }
}

impl lrpo_sdk::Component for RuleReward {
    type Config = RuleRewardConfig;
    const NAME: &'static str = "rule";
    const DESCRIPTION: &'static str =
        "verifiable answers: exact match after normalisation, GSM8K `####`, the last \\boxed{}, numbers within a tolerance";
    fn new(_instance: &str, config: Self::Config) -> Result<Self> {
        Self::from_config(config)
    }
}
