//! The LRPO reward (spec §4) as the `calibrated-embedding` RewardModel: cosine similarity of a
//! response and its reference answer under any lrpo-torch encoder (default
//! multilingual-e5-small), shifted per language pair towards a reference mean, mapped to
//! [0, 1] and gated by the detected language.
//!
//! The arithmetic (pair table, calibration, gate, fusion, corpora) lives in modules without tch
//! ([`pair_stats`], [`calibration`], [`fusion`], [`parallel`]); [`embedder`] and
//! [`calibrate`] run the model.
//!
//! ```no_run
//! use lrpo_core::{Lang, LangPrediction, RewardInput, RewardModel};
//! use lrpo_reward_calibrated::{CalibratedEmbedding, CalibratedEmbeddingConfig};
//! let mut reward = CalibratedEmbedding::from_config(CalibratedEmbeddingConfig::default(), 2)?;
//! let out = reward.score(&[RewardInput::new(
//!     "Paris ist die Hauptstadt.",
//!     "The capital is Paris.",
//!     Lang::new("de"),
//!     Lang::new("en"),
//!     LangPrediction { lang: Some(Lang::new("de")), prob: 0.9 },
//! )])?;
//! assert_eq!(out[0].gate, 1.0);
//! # Ok::<(), lrpo_core::Error>(())
//! ```

pub mod calibrate;
pub mod calibration;
mod component;
pub mod embedder;
pub mod fusion;
pub mod pair_stats;
pub mod parallel;
#[cfg(test)]
mod test_data;

pub use calibrate::{compute_pair_stats, stats_from_pairs, text_pairs, TextPair};
pub use calibration::{embedding_reward, Calibrator};
pub use component::{CalibratedEmbedding, CalibratedEmbeddingConfig};
pub use embedder::{Embedder, EncoderConfig};
pub use fusion::{fuse, Gate, GateMode};
pub use pair_stats::{PairStat, PairStats};
pub use parallel::{ParallelCorpus, ParallelText};

lrpo_sdk::export_plugin! { libtorch = lrpo_torch::LIBTORCH_VERSION; RewardModel => CalibratedEmbedding }
