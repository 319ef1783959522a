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
    /// The router's distributions after this update, when logging is due. The host writes it
    /// to the router log, prints it on the console and plots it, whichever router sent it.
    pub report: Option<RouterReport>,
}

/// A router's language distributions per context (spec §3.10), in one shape for every router:
/// the bandit, Thompson sampling and the uniform baseline all say, per context key, how likely
/// each language is for a routed copy, so the console, the log and the plots need no
/// knowledge of how a router learns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterReport {
    /// The language order of every vector below (the router's `languages()`).
    pub languages: Vec<Lang>,
    /// One entry per context key (`topic:<name>`, `region:<name>`, ...), in the router's order.
    pub contexts: Vec<ContextReport>,
    /// Router-wide numbers worth logging (e.g. an annealed temperature), by name.
    pub extras: Vec<(String, f64)>,
}

/// One context's distributions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextReport {
    /// `topic:<name>`, `region:<name>` or a router-specific prefix.
    pub key: String,
    /// Probability that a routed (not forced) copy of this context gets each language now: the
    /// distribution the router samples from (`effective` in the log).
    pub probs: Vec<f64>,
    /// Other per-language vectors the router keeps for this key (the bandit's `softmax`,
    /// Thompson's posterior `mean` and `std`), by name, logged beside `effective`.
    pub extras: Vec<(String, Vec<f64>)>,
}

impl RouterReport {
    /// The `top` languages by their probability averaged over every context, highest first
    /// (ties by code, so the order is stable); empty when the report has no contexts.
    pub fn top_languages(&self, top: usize) -> Vec<(Lang, f64)> {
        if self.contexts.is_empty() {
            return vec![];
        }
        let n = self.contexts.len() as f64;
        let mut ranked: Vec<(Lang, f64)> = self
            .languages
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (l.clone(), self.contexts.iter().map(|c| c.probs.get(i).copied().unwrap_or(0.0)).sum::<f64>() / n)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(top);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_languages_average_over_contexts() {
        let ctx = |key: &str, probs: Vec<f64>| ContextReport { key: key.into(), probs, extras: vec![] };
        let report = RouterReport {
            languages: vec![Lang::new("en"), Lang::new("fr")],
            contexts: vec![ctx("topic:a", vec![0.6, 0.4]), ctx("region:x", vec![0.2, 0.8])],
            extras: vec![],
        };
        let top = report.top_languages(5);
        assert_eq!(top.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["fr", "en"]);
        assert!((top[0].1 - 0.6).abs() < 1e-12 && (top[1].1 - 0.4).abs() < 1e-12);
        assert_eq!(report.top_languages(1).len(), 1);
        assert!(RouterReport::default().top_languages(3).is_empty());
    }
}
