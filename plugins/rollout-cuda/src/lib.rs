//! lrpo-rollout-cuda: the `sampler` RolloutEngine.
//!
//! Batched generation over many prompts with a KV cache (lrpo-torch's decoder models): each
//! distinct prompt of a request batch is prefilled once and its cache is shared by the group's
//! samples; left padding with attention masks; per-request length, stop ids, stop strings,
//! temperature / top-k / top-p / min-p / greedy and seed; finished sequences leave the batch.
//! `load_weights` copies the optimizer's policy into the engine's parameters in place.
//!
//! Sampling is "filter logits -> probabilities -> inverse-CDF pick with a given uniform"
//! ([`sampling`]); with the `cuda` feature the same distribution runs as fused kernels
//! ([`cuda`]) when the model is on a GPU.

pub mod cuda;
pub mod engine;
pub mod sampling;
pub mod stop;

use std::collections::HashSet;
use std::path::PathBuf;

use lrpo_core::{Error, GenerationRequest, GenerationResult, Result, RolloutEngine, WeightSet};
use lrpo_sdk::Component;
use lrpo_torch::{DecoderLm, PaddingSide, TextTokenizer};
use serde::Deserialize;

pub use engine::Generator;

/// The model the sampler loads when the config names none.
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerConfig {
    /// Hugging Face layout model directory; default: the SmolLM2-135M-Instruct cache directory.
    #[schemars(schema_with = "lrpo_sdk::schema::input_dir")]
    pub model_dir: Option<PathBuf>,
    /// Weight dtype: f32, bf16 or f16.
    pub dtype: String,
    /// cpu, cuda, cuda:N or auto (cuda when available).
    pub device: String,
    /// Most sequences decoded at once; larger request batches run in several passes.
    pub max_batch_size: usize,
    /// f32 on the CPU: decode through a copy of the weights in MKL's packed GEMM layout, made
    /// again from the current weights at every generate call (about the model's f32 size more
    /// memory; SmolLM2-135M rollouts on 2 cores of an Intel Xeon: 199 tokens/s with it, 155
    /// without). Unset: on where MKL is the f32 GEMM library (Intel CPUs), off where oneDNN is
    /// (AMD CPUs with AVX-512, where it is faster unpacked). No effect in 16-bit or on a GPU.
    pub pack_weights: Option<bool>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            model_dir: None,
            dtype: "f32".into(),
            device: "auto".into(),
            max_batch_size: 64,
            pack_weights: None,
        }
    }
}

/// The `sampler` component.
pub struct Sampler {
    generator: Generator,
}

impl Sampler {
    pub fn from_config(config: SamplerConfig) -> Result<Self> {
        if config.max_batch_size == 0 {
            return Err(Error::config("max_batch_size", "must be at least 1"));
        }
        let kind = lrpo_torch::parse_dtype("dtype", &config.dtype)?;
        let device = match config.device.trim() {
            "auto" if tch::Cuda::is_available() => tch::Device::Cuda(0),
            "auto" => tch::Device::Cpu,
            other => lrpo_torch::parse_device("device", other)?,
        };
        if let tch::Device::Cuda(i) = device {
            let seen = tch::Cuda::device_count();
            if i as i64 >= seen {
                return Err(Error::config(
                    "device",
                    format!("cuda:{i} requested but {seen} CUDA device(s) are visible"),
                ));
            }
        }
        let dir = config.model_dir.clone().unwrap_or_else(|| lrpo_core::paths::model_dir(DEFAULT_MODEL));
        if !dir.join("config.json").is_file() {
            return Err(Error::config(
                "model_dir",
                format!(
                    "{} has no config.json (run {} to import the default model)",
                    dir.display(),
                    lrpo_core::paths::SETUP_COMMAND
                ),
            ));
        }
        let model = DecoderLm::from_dir(&dir, kind, device)?;
        model.set_trainable(false);
        let mut tokenizer = TextTokenizer::from_dir(&dir)?;
        // Every row's last position must be a real token for the next-token logits.
        tokenizer.padding_side = PaddingSide::Left;
        let fused = match device {
            tch::Device::Cuda(i) if cuda::COMPILED => Some(cuda::FusedSampler::new(i)?),
            _ => None,
        };
        let mut generator = Generator::new(model, tokenizer, config.max_batch_size, fused);
        generator.pack_weights = config.pack_weights;
        Ok(Sampler { generator })
    }

    pub fn generator(&self) -> &Generator {
        &self.generator
    }
}

impl Component for Sampler {
    type Config = SamplerConfig;
    const NAME: &'static str = "sampler";
    const DESCRIPTION: &'static str = "batched KV-cache sampling on libtorch with shared prompt prefill (CPU or CUDA)";

    fn new(_instance: &str, config: SamplerConfig) -> Result<Self> {
        lrpo_torch::configure_cpu_runtime(lrpo_sdk::thread_budget());
        Sampler::from_config(config)
    }
}

impl RolloutEngine for Sampler {
    fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationResult>> {
        self.generator.generate(requests)
    }

    /// Copies into the engine's own parameters. Names, dtypes and shapes are all checked before
    /// anything is written, so a mismatched set leaves the policy as it was.
    fn load_weights(&mut self, weights: &WeightSet) -> Result<()> {
        let params = self.generator.model.named_parameters();
        // lrpo-torch's import copies before it looks for unknown names; check those first.
        let known: HashSet<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(extra) = weights.tensors.iter().find(|v| !known.contains(v.name.as_str())) {
            return Err(Error::input(format!("weight `{}`", extra.name), "not a parameter of the sampler's model"));
        }
        lrpo_torch::interop::import_weights(&params, weights)
    }
}

lrpo_sdk::export_plugin! { libtorch = lrpo_torch::LIBTORCH_VERSION; RolloutEngine => Sampler }
