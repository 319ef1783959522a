//! lrpo-optim-grpo: the LRPO optimizer plugin.
//!
//! Component `grpo` owns the trainable policy (a decoder LM from `lrpo-torch`) and, when the KL
//! coefficient is non-zero, a frozen reference copy. Each training step forms group advantages
//! (GRPO, Dr.GRPO or RLOO), then runs `ppo_epochs` passes of mini-batch updates of the dual-clip
//! PPO loss plus a KL term, with micro-batch gradient accumulation, gradient clipping and AdamW
//! (spec §5). With `dtype = "bf16"` or `"f16"` the model computes in 16 bits while the
//! updates land on fp32 master weights ([`precision`]). Weights leave as zero-copy tensor views; checkpoints carry weights, moments, step
//! counters and RNG.

pub mod adamw;
pub mod advantage;
pub mod batch;
pub mod config;
pub mod grpo;
pub mod loss;
pub mod precision;
pub mod schedule;
pub mod score;
mod state;
pub mod stats;

pub use config::GrpoConfig;
pub use grpo::Grpo;

use lrpo_core::{Optimizer, Result, StepStats, TrainBatch, WeightSet};

impl Optimizer for Grpo {
    fn step(&mut self, batch: &TrainBatch) -> Result<StepStats> {
        self.train_step(batch)
    }

    fn export_weights(&mut self) -> Result<WeightSet> {
        lrpo_torch::interop::export_weights(self.policy().named_parameters())
    }

    fn save_state(&self) -> Result<Vec<u8>> {
        self.save()
    }

    fn load_state(&mut self, state: &[u8]) -> Result<()> {
        self.load(state)
    }
}

impl lrpo_sdk::Component for Grpo {
    type Config = GrpoConfig;
    const NAME: &'static str = "grpo";
    const DESCRIPTION: &'static str = "GRPO/Dr.GRPO/RLOO policy optimizer: dual-clip PPO + KL loss, AdamW, on libtorch";
    fn new(_instance: &str, config: GrpoConfig) -> Result<Self> {
        Grpo::new(config)
    }
}

lrpo_sdk::export_plugin! { libtorch = lrpo_torch::LIBTORCH_VERSION; Optimizer => Grpo }
