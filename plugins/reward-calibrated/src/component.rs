//! The `calibrated-embedding` RewardModel: encoder cosine → pair calibration → [0, 1] → gate.

use std::path::PathBuf;

use lrpo_core::{Result, Reward, RewardInput, RewardModel};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::calibration::{embedding_reward, Calibrator};
use crate::embedder::{Embedder, EncoderConfig};
use crate::fusion::{fuse, Gate, GateMode};
use crate::pair_stats::PairStats;

/// Config table of `calibrated-embedding`; `{}` gives the reference's behaviour on
/// multilingual-e5-small without calibration (set `pair_stats` to calibrate).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CalibratedEmbeddingConfig {
    /// The sentence encoder.
    pub encoder: EncoderConfig,
    /// Pair statistics CSV (spec §9 format; `lrpo-calibrate` writes one for the encoder in use).
    /// Without it cosines pass through uncalibrated.
    #[schemars(schema_with = "lrpo_sdk::schema::input_file")]
    pub pair_stats: Option<PathBuf>,
    /// K in the shrinkage α = n / (n + K); 0 (the reference) applies the full shift.
    pub shrinkage_k: f64,
    /// Clip calibrated cosines to [-1, 1] (the reference does).
    pub clip: bool,
    /// Fill a missing same-language pair (English–English in the reference file) with the mean
    /// of the diagonal rows present. Off by default, as in the reference.
    pub impute_same_language: bool,
    /// `hard` (the reference) or `soft` (scaled by the LID probability).
    pub gate: GateMode,
    /// Detections less sure than this close the gate; 0 ignores the probability.
    pub min_lid_confidence: f64,
}

impl Default for CalibratedEmbeddingConfig {
    fn default() -> Self {
        CalibratedEmbeddingConfig {
            encoder: EncoderConfig::default(),
            pair_stats: None,
            shrinkage_k: 0.0,
            clip: true,
            impute_same_language: false,
            gate: GateMode::Hard,
            min_lid_confidence: 0.0,
        }
    }
}

/// The component.
#[derive(Debug)]
pub struct CalibratedEmbedding {
    embedder: Embedder,
    calibrator: Calibrator,
    gate: Gate,
}

impl CalibratedEmbedding {
    /// Builds the component; `threads` sizes libtorch's intra-op pool.
    pub fn from_config(config: CalibratedEmbeddingConfig, threads: usize) -> Result<Self> {
        let gate = Gate::new(config.gate, config.min_lid_confidence)?;
        let stats = match &config.pair_stats {
            Some(path) => {
                let mut stats = PairStats::from_csv_path(path)?;
                if config.impute_same_language {
                    let filled = stats.impute_same_language();
                    tracing::info!("pair statistics: imputed same-language pairs for {filled:?}");
                }
                Some(stats)
            }
            None => {
                tracing::warn!("calibrated-embedding: no `pair_stats`, cosines are used uncalibrated");
                None
            }
        };
        let calibrator = Calibrator::new(stats, config.shrinkage_k, config.clip)?;
        lrpo_torch::configure_cpu_runtime(threads);
        let embedder = Embedder::load(config.encoder, "encoder")?;
        Ok(CalibratedEmbedding { embedder, calibrator, gate })
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }
}

impl RewardModel for CalibratedEmbedding {
    fn score(&mut self, inputs: &[RewardInput]) -> Result<Vec<Reward>> {
        let responses: Vec<&str> = inputs.iter().map(|i| i.response.as_str()).collect();
        let references: Vec<&str> = inputs.iter().map(|i| i.reference.as_str()).collect();
        let raw = self.embedder.pair_cosines(&responses, &references)?;
        Ok(inputs
            .iter()
            .zip(raw)
            .map(|(input, raw_cosine)| {
                let calibrated_cosine =
                    self.calibrator.calibrate(raw_cosine, &input.reference_lang, input.detected.lang.as_ref());
                let r_emb = embedding_reward(calibrated_cosine);
                let gate = self.gate.gate(&input.target_lang, &input.detected);
                Reward {
                    value: fuse(r_emb, gate),
                    raw_cosine,
                    calibrated_cosine,
                    r_emb,
                    gate,
                    detected: input.detected.clone(),
                }
            })
            .collect())
    }
}

impl lrpo_sdk::Component for CalibratedEmbedding {
    type Config = CalibratedEmbeddingConfig;
    const NAME: &'static str = "calibrated-embedding";
    const DESCRIPTION: &'static str =
        "LRPO reward: encoder cosine to the reference, calibrated per language pair, gated by the detected language";
    fn new(_instance: &str, config: Self::Config) -> Result<Self> {
        Self::from_config(config, lrpo_sdk::thread_budget())
    }
}
