//! The modes on realistic texts: GSM8K-style solutions (the dataset's `#### answer` line),
//! MATH-style `\boxed{}` answers, and short answers in several languages and scripts.

use lrpo_core::{ComponentKind, Lang, LangPrediction, Reward, RewardInput, RewardModel};
use lrpo_reward_rule::RuleReward;
use lrpo_sdk::Component;
use serde_json::{json, Value};

/// Built as the host builds it: the config as JSON through the SDK.
fn rule(config: Value) -> lrpo_core::Result<RuleReward> {
    let config = lrpo_sdk::parse_config::<RuleReward>(ComponentKind::RewardModel, "rule", &config.to_string())?;
    RuleReward::new("rule", config)
}

/// A response in `lang` (detected as such) to a reference in `ref_lang`.
fn input(response: &str, reference: &str, lang: &str, ref_lang: &str) -> RewardInput {
    RewardInput::new(
        response,
        reference,
        Lang::new(lang),
        Lang::new(ref_lang),
        LangPrediction { lang: Some(Lang::new(lang)), prob: 0.95 },
    )
}

fn values(reward: &mut RuleReward, inputs: &[RewardInput]) -> Vec<f64> {
    reward.score(inputs).unwrap().iter().map(|r| r.value).collect()
}

const BAKERY: &str = "The bakery sells 125 loaves a day for 6 days, so 125 * 6 = 750 loaves.\n\
    At $2 each that is 750 * 2 = $1,500.\n#### 1500";
const GARDEN: &str = "The garden is 12 m long and 7.5 m wide, so its area is 12 * 7.5 = 90 square metres.\n\
    Half of it is lawn: 90 / 2 = 45.\n#### 45";

#[test]
fn gsm8k_strict_rewards_the_marked_answer_only() {
    let mut r = rule(json!({ "mode": "gsm8k" })).unwrap();
    let inputs = [
        input("125 loaves * 6 days = 750 loaves. 750 * $2 = $1,500.\n#### 1,500", BAKERY, "en", "en"),
        input("750 * 2 = 1500\n#### $1500.00", BAKERY, "en", "en"),
        input("750 loaves a week, so the answer is 1500.", BAKERY, "en", "en"),
        input("125 * 6 = 750\n#### 750", BAKERY, "en", "en"),
        // German writes 1.500 for fifteen hundred, and 7,5 for seven and a half.
        input("125 * 6 = 750 Brote, 750 * 2 € = 1.500 €.\n#### 1.500", BAKERY, "de", "en"),
        input("12 * 7,5 = 90 m², die Hälfte ist 45.\n#### 45,0", GARDEN, "de", "en"),
        // Full-width digits (NFKC) in a Japanese answer.
        input("面積は９０平方メートル、その半分は４５です。\n#### ４５", GARDEN, "ja", "en"),
        input("#### forty-five", GARDEN, "en", "en"),
    ];
    assert_eq!(values(&mut r, &inputs), [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
}

#[test]
fn gsm8k_scores_follow_the_verdict() {
    // verl's `format_score`: a wrong answer that kept the `####` format.
    let mut r =
        rule(json!({ "mode": "gsm8k", "correct_score": 0.9, "format_score": 0.1, "no_answer_score": 0.05 })).unwrap();
    let inputs = [
        input("#### 45", GARDEN, "en", "en"),
        input("#### 90", GARDEN, "en", "en"),
        input("The lawn is 45 square metres.", GARDEN, "en", "en"),
    ];
    assert_eq!(values(&mut r, &inputs), [0.9, 0.1, 0.05]);
    // `flexible` takes the last number wherever it is.
    let mut flexible = rule(json!({ "mode": "gsm8k", "gsm8k_method": "flexible" })).unwrap();
    let inputs = [
        input("The lawn is 90 / 2 = 45 square metres.", GARDEN, "en", "en"),
        input("The lawn is 45 square metres, the whole garden 90.", GARDEN, "en", "en"),
    ];
    assert_eq!(values(&mut flexible, &inputs), [1.0, 0.0]);
}

#[test]
fn boxed_compares_numbers_and_cleaned_latex() {
    let mut r = rule(json!({ "mode": "boxed" })).unwrap();
    let reference = "Each of the 4 slices is a quarter, and 3 of them are eaten: $\\boxed{\\frac{3}{4}}$.";
    let inputs = [
        input("Three of four slices: $\\boxed{\\dfrac{3}{4}}$", reference, "en", "en"),
        input("So the fraction is \\boxed{0.75}.", reference, "en", "en"),
        input("First \\boxed{1/2}, no wait: \\boxed{ \\frac{3}{4} }", reference, "en", "en"),
        input("\\boxed{\\frac{1}{4}}", reference, "en", "en"),
        input("The answer is 3/4.", reference, "en", "en"),
        input("\\boxed{}", reference, "en", "en"),
    ];
    assert_eq!(values(&mut r, &inputs), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    // Answers that are not one number compare as text.
    let point =
        "The midpoint is $\\left(2, \\frac{5}{2}\\right)$, so the answer is \\boxed{\\left(2, \\frac{5}{2}\\right)}.";
    let inputs = [
        input("\\boxed{(2,\\dfrac{5}{2})}", point, "en", "en"),
        input("\\boxed{(2, 5/2)}", point, "en", "en"),
        input("\\boxed{x = 7}", "7", "en", "en"),
        input("\\boxed{\\text{Paris}}", "paris", "fr", "en"),
    ];
    assert_eq!(values(&mut r, &inputs), [1.0, 0.0, 1.0, 1.0]);
}

#[test]
fn numeric_uses_the_last_number_and_the_tolerance() {
    let mut r = rule(json!({ "mode": "numeric" })).unwrap();
    let inputs = [
        input("Each ticket costs 3.50 dollars, so 10 tickets cost 35 dollars.", "35", "en", "en"),
        input("Insgesamt kosten die Karten 35,00 Euro.", "35", "de", "en"),
        input("合計は３５ドルです。", "35", "ja", "en"),
        // French groups thousands with spaces; English does not (`1 250` is two numbers there).
        input("La ville compte 1 250 000 habitants.", "1,250,000", "fr", "en"),
        input("The city has 1 250 000 people.", "1,250,000", "en", "en"),
        input("The answer is 36.", "35", "en", "en"),
        input("No idea.", "35", "en", "en"),
    ];
    assert_eq!(values(&mut r, &inputs), [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    let mut loose = rule(json!({ "mode": "numeric", "abs_tol": 0.01 })).unwrap();
    let pi = [input("π is about 3.14.", "3.14159", "en", "en")];
    assert_eq!(values(&mut loose, &pi), [1.0]);
    assert_eq!(values(&mut r, &pi), [0.0]);
    let mut relative = rule(json!({ "mode": "numeric", "rel_tol": 0.001 })).unwrap();
    assert_eq!(values(&mut relative, &[input("about 1,000,500 people", "1000000", "en", "en")]), [1.0]);
}

#[test]
fn numeric_decimal_separator_can_be_forced() {
    // `1.500` in a German answer is fifteen hundred; forced `point`, it is one and a half.
    let german = [input("Das sind 1.500 Meter.", "1500", "de", "en")];
    assert_eq!(values(&mut rule(json!({ "mode": "numeric" })).unwrap(), &german), [1.0]);
    assert_eq!(values(&mut rule(json!({ "mode": "numeric", "decimal_separator": "point" })).unwrap(), &german), [0.0]);
    let mut comma = rule(json!({ "mode": "numeric", "decimal_separator": "comma" })).unwrap();
    assert_eq!(values(&mut comma, &[input("It is 1,500 metres.", "1.5", "en", "en")]), [1.0]);
}

#[test]
fn exact_after_normalisation() {
    let mut r = rule(json!({})).unwrap();
    let inputs = [
        input("  Paris. ", "paris", "en", "en"),
        input("ＴＯＫＹＯ", "Tokyo", "en", "en"),
        input("«Москва»", "Москва", "ru", "ru"),
        input("北京。", "北京", "zh", "zh"),
        input("Lyon", "Paris", "fr", "fr"),
        input("  ", "Paris", "fr", "fr"),
        input("-5", "5", "en", "en"),
    ];
    assert_eq!(values(&mut r, &inputs), [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    let mut strict =
        rule(json!({ "normalize": { "case_sensitive": true, "strip_punctuation": false, "nfkc": false } })).unwrap();
    assert_eq!(values(&mut strict, &inputs[..4]), [0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn rewards_are_ungated_and_carry_no_cosine() {
    let mut r = rule(json!({ "mode": "gsm8k" })).unwrap();
    let mut wrong_language = input("#### 45", GARDEN, "de", "en");
    wrong_language.detected = LangPrediction { lang: Some(Lang::new("en")), prob: 0.5 };
    let out: Vec<Reward> = r.score(&[wrong_language.clone(), input("#### 44", GARDEN, "en", "en")]).unwrap();
    assert_eq!((out[0].value, out[0].r_emb, out[0].gate), (1.0, 1.0, 1.0));
    assert_eq!((out[1].value, out[1].r_emb, out[1].gate), (0.0, 0.0, 1.0));
    assert!(out.iter().all(|r| r.raw_cosine.is_nan() && r.calibrated_cosine.is_nan()));
    assert_eq!(out[0].detected, wrong_language.detected);
    assert!(r.score(&[]).unwrap().is_empty());
}

#[test]
fn errors_name_the_key_or_the_item() {
    let err = rule(json!({ "correct_score": 1.5 })).unwrap_err().to_string();
    assert!(err.contains("correct_score") && err.contains("[0, 1]"), "{err}");
    let err = rule(json!({ "abs_tol": -1.0 })).unwrap_err().to_string();
    assert!(err.contains("abs_tol"), "{err}");
    let err = rule(json!({ "mode": "regex" })).unwrap_err().to_string();
    assert!(err.contains("components.reward_model.rule.config") && err.contains("regex"), "{err}");
    let err = rule(json!({ "normalise": {} })).unwrap_err().to_string();
    assert!(err.contains("normalise"), "{err}");
    let mut numeric = rule(json!({ "mode": "numeric" })).unwrap();
    let err = numeric
        .score(&[input("35", "35", "en", "en"), input("35", "thirty-five", "en", "en")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("reward input 1, reference") && err.contains("thirty-five"), "{err}");
    let err = rule(json!({})).unwrap().score(&[input("x", " ... ", "en", "en")]).unwrap_err().to_string();
    assert!(err.contains("reward input 0") && err.contains("empty"), "{err}");
}
