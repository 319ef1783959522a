//! A RewardModel that asks a reward server over HTTP, the `remote` component, in the OpenRLHF
//! convention: it POSTs
//!
//! ```json
//! {"query": ["<prompt><response>", ...], "prompts": ["<prompt>", ...], "labels": ["<reference>", ...]}
//! ```
//!
//! to `url` (default `http://127.0.0.1:5000/get_reward`, where OpenRLHF's `serve_rm` listens)
//! and reads `{"rewards": [r, ...]}`, one number per item. `query` holds, per item, the prompt
//! text exactly as the policy answered it (chat template applied) directly followed by the
//! response; `prompts` that prompt alone; `labels` the reference answer.
//!
//! Requests time out (`timeout_s`), are retried with exponential backoff on connection errors,
//! timeouts, 429 and 5xx (`max_retries`), and carry at most `batch_size` items. The answer is
//! checked before any reward is used: the count must match, every reward must be a finite
//! number inside `reward_range` (then mapped onto [0, 1]); an error names the item and the URL.
//! An API key comes only from the environment variable that `api_key_env` names, and is never
//! logged.
//!
//! It is written against `lrpo-sdk` and `lrpo-core` only, as a third-party reward would be
//! (see this crate's README).
//!
//! ```no_run
//! use lrpo_core::{Lang, LangPrediction, RewardInput, RewardModel};
//! use lrpo_reward_remote::{RemoteReward, RemoteRewardConfig};
//!
//! let mut reward = RemoteReward::from_config(RemoteRewardConfig::default())?;
//! let en = Lang::new("en");
//! let mut input = RewardInput::new("Paris.", "The capital is Paris.", en.clone(), en.clone(), LangPrediction::none());
//! input.prompt = "<|user|>What is the capital of France?<|assistant|>".into();
//! let out = reward.score(&[input])?;
//! assert!((0.0..=1.0).contains(&out[0].value));
//! # Ok::<(), lrpo_core::Error>(())
//! ```

mod answer;
mod client;
mod component;
mod config;

pub use answer::read_rewards;
pub use component::RemoteReward;
pub use config::{RemoteRewardConfig, Secret, DEFAULT_URL};

lrpo_sdk::export_plugin! { RewardModel => RemoteReward }
