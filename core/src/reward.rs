//! Language identification results and rewards with their breakdown (spec §4).

use crate::Lang;
use serde::{Deserialize, Serialize};

/// A LanguageId verdict. `lang == None` is the spec's "none": weak text or a language outside
/// the allowed set; its probability is 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LangPrediction {
    pub lang: Option<Lang>,
    pub prob: f32,
}

impl LangPrediction {
    pub fn none() -> Self {
        LangPrediction { lang: None, prob: 0.0 }
    }
}

/// Everything the reward needs about one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardInput {
    pub response: String,
    /// The reference answer (verl's `reward_model.ground_truth`, OpenRLHF's label).
    pub reference: String,
    /// The question as the data gave it, before any prompt style or chat template.
    #[serde(default)]
    pub question: String,
    /// The exact prompt text the policy answered (chat template applied).
    #[serde(default)]
    pub prompt: String,
    /// The data row's other columns, as one JSON object (`{}` when none), for rewards that
    /// need more than the reference (test cases, tolerances, a data source).
    #[serde(default = "empty_object")]
    pub extra: String,
    /// The language the rollout was routed to.
    pub target_lang: Lang,
    /// The language of the reference answer (the question's original language).
    pub reference_lang: Lang,
    /// What the LanguageId component found in the response.
    pub detected: LangPrediction,
}

fn empty_object() -> String {
    "{}".into()
}

impl RewardInput {
    /// A response to score against `reference`, with no question, prompt or extra columns.
    pub fn new(
        response: impl Into<String>,
        reference: impl Into<String>,
        target_lang: Lang,
        reference_lang: Lang,
        detected: LangPrediction,
    ) -> RewardInput {
        RewardInput {
            response: response.into(),
            reference: reference.into(),
            question: String::new(),
            prompt: String::new(),
            extra: empty_object(),
            target_lang,
            reference_lang,
            detected,
        }
    }
}

/// A reward and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reward {
    /// The final reward R in [0, 1].
    pub value: f64,
    pub raw_cosine: f64,
    pub calibrated_cosine: f64,
    /// Ungated embedding reward in [0, 1] (`embedding_score`).
    pub r_emb: f64,
    /// Language gate in [0, 1] (`consistency_score`); 0 or 1 for the hard gate.
    pub gate: f64,
    pub detected: LangPrediction,
}
