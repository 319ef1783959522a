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
    pub reference: String,
    /// The language the rollout was routed to.
    pub target_lang: Lang,
    /// The language of the reference answer (the question's original language).
    pub reference_lang: Lang,
    /// What the LanguageId component found in the response.
    pub detected: LangPrediction,
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
