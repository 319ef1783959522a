//! The five component traits. Each is batch-level: the host calls it once per training step,
//! never once per row, so a plugin boundary between host and component costs nothing that
//! matters. Traits are object-safe and `Send` (not `Sync`: tch tensors are not `Sync`); the
//! host calls each instance from one thread at a time.

use crate::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of component a plugin can provide: the one list of them. A new kind is a variant
/// here and in `ALL`; config tables, arms and the plugin boundary follow it (see lrpo-sdk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ComponentKind {
    Router = 0,
    LanguageId = 1,
    RewardModel = 2,
    RolloutEngine = 3,
    Optimizer = 4,
}

impl ComponentKind {
    pub const ALL: [ComponentKind; 5] = [
        ComponentKind::Router,
        ComponentKind::LanguageId,
        ComponentKind::RewardModel,
        ComponentKind::RolloutEngine,
        ComponentKind::Optimizer,
    ];
    /// Every kind's config key, in `ALL`'s order.
    pub const KEYS: [&'static str; 5] = {
        let mut keys = [""; 5];
        let mut i = 0;
        while i < keys.len() {
            keys[i] = Self::ALL[i].key();
            i += 1;
        }
        keys
    };
    /// The key used in config tables (`[components.router.NAME]`).
    pub const fn key(self) -> &'static str {
        match self {
            ComponentKind::Router => "router",
            ComponentKind::LanguageId => "language_id",
            ComponentKind::RewardModel => "reward_model",
            ComponentKind::RolloutEngine => "rollout_engine",
            ComponentKind::Optimizer => "optimizer",
        }
    }
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }
    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == v)
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Picks rollout languages per question and learns from their rewards (spec §3).
pub trait Router: Send {
    /// The languages this router can pick, in index order.
    fn languages(&self) -> Vec<Lang>;
    /// `n` languages for each group of the request, in group order.
    fn route(&mut self, request: &RouteRequest) -> Result<Vec<Vec<Lang>>>;
    /// Feedback for one training step (every scored rollout).
    fn update(&mut self, step: u64, feedback: &[RouteFeedback]) -> Result<RouterUpdate>;
    fn save_state(&self) -> Result<Vec<u8>>;
    fn load_state(&mut self, state: &[u8]) -> Result<()>;
}

/// Detects the language of texts (spec §4.2).
pub trait LanguageId: Send {
    fn detect(&mut self, texts: &[String]) -> Result<Vec<LangPrediction>>;
}

/// Scores responses against reference answers (spec §4).
pub trait RewardModel: Send {
    fn score(&mut self, inputs: &[RewardInput]) -> Result<Vec<Reward>>;
}

/// Generates rollouts with the current policy weights.
pub trait RolloutEngine: Send {
    fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationResult>>;
    /// Copy the optimizer's weights into the engine's own parameters.
    fn load_weights(&mut self, weights: &WeightSet) -> Result<()>;
}

/// Owns the trainable policy and updates it from scored rollouts (spec §5).
pub trait Optimizer: Send {
    fn step(&mut self, batch: &TrainBatch) -> Result<StepStats>;
    /// The current policy weights as views the rollout engine can copy from.
    fn export_weights(&mut self) -> Result<WeightSet>;
    fn save_state(&self) -> Result<Vec<u8>>;
    fn load_state(&mut self, state: &[u8]) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_key_and_number() {
        for (i, kind) in ComponentKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "ALL is in discriminant order");
            assert_eq!(ComponentKind::from_key(kind.key()), Some(kind));
            assert_eq!(ComponentKind::from_u8(kind as u8), Some(kind));
            assert_eq!(ComponentKind::KEYS[i], kind.key());
        }
        assert_eq!(ComponentKind::from_key("routr"), None);
    }
}
