//! The optimizer's input and its per-step statistics.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One scored rollout of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSample {
    pub group_id: u64,
    pub prompt_tokens: Vec<u32>,
    pub response_tokens: Vec<u32>,
    /// Log-probs under the sampler, one per response token.
    pub sampler_logprobs: Vec<f32>,
    pub reward: f64,
}

/// One training step's rollouts; samples of a group are contiguous.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainBatch {
    pub step: u64,
    pub samples: Vec<TrainSample>,
}

/// Named scalar statistics of one step (`loss`, `kl`, `grad_norm`, `lr`, ...). A map, not a
/// struct, so an optimizer can report what it has without an ABI change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    pub values: BTreeMap<String, f64>,
}

impl StepStats {
    pub fn set(&mut self, key: impl Into<String>, value: f64) {
        self.values.insert(key.into(), value);
    }
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }
}
