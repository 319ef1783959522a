//! What the host tells the router about a question, and what it reports back.

use crate::Lang;
use serde::{Deserialize, Serialize};

/// One question of the batch as the router sees it (spec §1.5, §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteContext {
    /// Group id shared by the question's n rollouts (verl's `uid`).
    pub group_id: u64,
    /// The router's topic key (the dataset's `ability`).
    pub topic: String,
    /// Region label; only read for regional topics.
    pub region: Option<String>,
    /// Language the question is written in.
    pub orig_lang: Lang,
    /// Set for items that must be answered in one language (e.g. "Translation").
    pub fixed_lang: Option<Lang>,
}

/// One training step's routing request: `n` languages for each question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRequest {
    /// Training step, 1-based; the router anneals its schedules from it.
    pub step: u64,
    /// Rollouts per question (the group size).
    pub n: usize,
    pub groups: Vec<RouteContext>,
    /// False for validation: every copy keeps the original (or fixed) language.
    pub training: bool,
}

/// The reward one rollout earned in the language it was routed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteFeedback {
    pub topic: String,
    pub region: Option<String>,
    pub lang: Lang,
    pub reward: f64,
}

/// What the router did with one step's feedback.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterUpdate {
    /// True when the buffer was flushed into the values this step.
    pub flushed: bool,
    /// The router log line for this step (one JSON object), when logging is due.
    pub log_line: Option<String>,
}
