//! lrpo-rollout-vllm: the `vllm` RolloutEngine, generation on a vLLM server.
//!
//! The engine speaks vLLM's OpenAI-compatible HTTP API and links no libtorch. Prompts are
//! encoded here with the model's tokenizer and sent as token ids; requests that share a
//! prompt and settings go as one `/v1/completions` request with `n` (so the server prefills the
//! prompt once); each result carries the response token ids and the server sampler's per-token
//! log-probs (`logprobs: 0`, `return_tokens_as_token_ids`). `load_weights` writes the policy as
//! an HF safetensors directory and has the server reload it (`/pause`, `/collective_rpc
//! reload_weights`, `/resume`; the server runs with `VLLM_SERVER_DEV_MODE=1`).
//!
//! The server is either given (`url`) or started and owned by the engine (`launch`, see
//! [`server`]): a child process that never outlives the run.
//!
//! ```toml
//! [components.rollout_engine.vllm]
//! plugin = "lrpo_rollout_vllm"
//! kind = "vllm"
//! config = { url = "http://127.0.0.1:8000", model = "policy", model_dir = "models/policy" }
//! ```
//!
//! Log-probs: vLLM reports `raw_logprobs` by default, the model's log-softmax before
//! temperature, which is the `sampler`'s (verl's) log-prob when the temperature is 1 (the LRPO
//! default). For other temperatures start the server with `--logprobs-mode processed_logprobs`
//! (log-softmax after temperature and the top-k / top-p filters: the sampler's when those
//! filters are off). See docs/vllm.md.

pub mod client;
pub mod config;
pub mod generate;
pub mod server;
pub mod weights;

use std::collections::HashMap;
use std::path::Path;

use lrpo_core::{Error, GenerationRequest, GenerationResult, Result, RolloutEngine, WeightSet};
use lrpo_sdk::Component;
use serde_json::Value;
use tokenizers::Tokenizer;

pub use client::Client;
pub use config::{LaunchConfig, VllmConfig};
pub use server::ManagedServer;
pub use weights::SyncTimes;

/// The `vllm` component.
pub struct VllmEngine {
    client: Client,
    model: String,
    tokenizer: Tokenizer,
    /// The model's end-of-sequence ids, sent as stop ids with every request.
    eos: Vec<u32>,
    max_concurrency: usize,
    sync: weights::WeightSync,
    last_sync: Option<SyncTimes>,
    /// Declared last so it is dropped last: the server stops after everything else.
    server: Option<ManagedServer>,
}

impl std::fmt::Debug for VllmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VllmEngine").field("url", &self.client.base()).field("model", &self.model).finish()
    }
}

impl VllmEngine {
    pub fn from_config(instance: &str, config: VllmConfig) -> Result<Self> {
        let settings = config.resolve(instance)?;
        let tokenizer = load_tokenizer(&settings.model_dir)?;
        let eos = eos_ids(&settings.model_dir, &tokenizer)?;
        let (server, base, key) = match &settings.endpoint {
            config::Endpoint::Url(url) => (None, url.clone(), "url"),
            config::Endpoint::Launch(launch) => {
                let server = ManagedServer::start(launch, &settings.model, &settings.model_dir, &settings.log_file)?;
                server.wait_ready(std::time::Duration::from_secs_f64(launch.start_timeout_s))?;
                let url = server.url.clone();
                (Some(server), url, "launch")
            }
        };
        let client = Client::new(
            &base,
            settings.api_key.clone(),
            settings.timeout,
            settings.max_retries,
            server.as_ref().map(ManagedServer::liveness),
        );
        check_model(&client, &settings.model, key)?;
        let sync = weights::WeightSync::new(
            settings.weights_dir.clone(),
            settings.weights_dir_on_server.clone(),
            settings.model_dir.clone(),
            settings.weights_dtype,
            settings.own_weights_dir,
        );
        tracing::info!(
            "vllm: serving `{}` from {} (weights via {})",
            settings.model,
            client.base(),
            settings.weights_dir.display()
        );
        Ok(VllmEngine {
            client,
            model: settings.model,
            tokenizer,
            eos,
            max_concurrency: settings.max_concurrency,
            sync,
            last_sync: None,
            server,
        })
    }

    pub fn url(&self) -> &str {
        self.client.base()
    }

    /// The managed server, in `launch` mode.
    pub fn server(&self) -> Option<&ManagedServer> {
        self.server.as_ref()
    }

    /// How long the parts of the last weight sync took.
    pub fn last_sync(&self) -> Option<SyncTimes> {
        self.last_sync
    }

    /// The prompt's token ids, as the sampler encodes it (already chat-templated: no extra BOS).
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(prompt, false)
            .map_err(|e| Error::runtime(format!("vllm: encoding a prompt failed: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }
}

/// The served model must be there, or the run stops at start-up as a config error (exit 2).
fn check_model(client: &Client, model: &str, key: &str) -> Result<()> {
    let listed = client.get("/v1/models").map_err(|e| Error::config(key, e.to_string()))?;
    let ids: Vec<&str> = listed
        .get("data")
        .and_then(Value::as_array)
        .map(|d| d.iter().filter_map(|m| m.get("id").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    if ids.contains(&model) {
        return Ok(());
    }
    let have = if ids.is_empty() { "none".to_string() } else { ids.join(", ") };
    Err(Error::config("model", format!("`{model}` is not served by {} (it serves: {have})", client.base())))
}

fn load_tokenizer(dir: &Path) -> Result<Tokenizer> {
    let path = dir.join("tokenizer.json");
    Tokenizer::from_file(&path).map_err(|e| Error::input(path.display().to_string(), e.to_string()))
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| Error::input(path.display().to_string(), e.to_string()))
}

/// `generation_config.json`'s `eos_token_id` (one or a list), else the tokenizer's eos token:
/// the ids the `sampler` stops at.
fn eos_ids(dir: &Path, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    if let Some(gen) = read_json(&dir.join("generation_config.json"))? {
        match gen.get("eos_token_id") {
            Some(Value::Number(n)) => ids.extend(n.as_u64().map(|n| n as u32)),
            Some(Value::Array(a)) => ids.extend(a.iter().filter_map(Value::as_u64).map(|n| n as u32)),
            _ => {}
        }
    }
    if ids.is_empty() {
        let config = read_json(&dir.join("tokenizer_config.json"))?;
        let eos = config.as_ref().and_then(|c| c.get("eos_token")).and_then(|t| match t {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
            _ => None,
        });
        ids.extend(eos.and_then(|t| tokenizer.token_to_id(&t)));
    }
    Ok(ids)
}

impl Component for VllmEngine {
    type Config = VllmConfig;
    const NAME: &'static str = "vllm";
    const DESCRIPTION: &'static str =
        "generation on a vLLM server (OpenAI HTTP API, given by url or launched); weight sync through reload_weights";

    fn new(instance: &str, config: VllmConfig) -> Result<Self> {
        VllmEngine::from_config(instance, config)
    }
}

impl RolloutEngine for VllmEngine {
    fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationResult>> {
        let mut encoded: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut prompts = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let ids = match encoded.get(r.prompt.as_str()) {
                Some(ids) => ids.clone(),
                None => {
                    let ids = self.encode(&r.prompt)?;
                    encoded.insert(r.prompt.as_str(), ids.clone());
                    ids
                }
            };
            if ids.is_empty() {
                return Err(Error::input(format!("request {i} prompt"), "the prompt encodes to no tokens"));
            }
            prompts.push(ids);
        }
        generate::run(&self.client, &self.model, requests, &prompts, &self.eos, self.max_concurrency)
    }

    fn load_weights(&mut self, weights: &WeightSet) -> Result<()> {
        self.last_sync = Some(self.sync.load(&self.client, weights)?);
        Ok(())
    }
}

lrpo_sdk::export_plugin! { RolloutEngine => VllmEngine }
