//! Generation requests and results exchanged with the rollout engine.

use serde::{Deserialize, Serialize};

/// How to pick the next token. `temperature == 0` means greedy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_p: f32,
    /// 0 disables top-k.
    pub top_k: u32,
    /// 0 disables min-p.
    pub min_p: f32,
}

impl Default for SamplingParams {
    /// The LRPO rollout defaults (spec §0 step 5): temperature 1, top-p 1, no top-k.
    fn default() -> Self {
        SamplingParams { temperature: 1.0, top_p: 1.0, top_k: 0, min_p: 0.0 }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        SamplingParams { temperature: 0.0, ..Default::default() }
    }
}

/// One rollout to generate. The prompt is already rendered through the chat template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    pub prompt: String,
    pub max_new_tokens: u32,
    pub sampling: SamplingParams,
    /// Per-request seed, so a rerun gives the same tokens.
    pub seed: u64,
    pub stop_strings: Vec<String>,
    pub stop_token_ids: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinishReason {
    /// EOS, a stop token or a stop string.
    Stop,
    /// `max_new_tokens` reached.
    Length,
}

/// One generated rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationResult {
    pub prompt_tokens: Vec<u32>,
    pub response_tokens: Vec<u32>,
    /// The sampler's log-probability of each response token.
    pub logprobs: Vec<f32>,
    pub text: String,
    pub finish: FinishReason,
}
