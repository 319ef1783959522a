//! The `remote` RewardModel: the batch as OpenRLHF requests, the answer validated and mapped
//! onto [0, 1].

use lrpo_core::{Error, Result, Reward, RewardInput, RewardModel};
use serde_json::{Map, Value};

use crate::answer::read_rewards;
use crate::client::Client;
use crate::config::RemoteRewardConfig;

/// The component.
#[derive(Debug)]
pub struct RemoteReward {
    config: RemoteRewardConfig,
    client: Client,
}

impl RemoteReward {
    /// Checks the config and reads the API key from its variable. No request is made: the
    /// server may start after the trainer does; the first batch finds out.
    pub fn from_config(config: RemoteRewardConfig) -> Result<Self> {
        let key = config.validate()?;
        let client = Client::new(&config, key);
        Ok(RemoteReward { config, client })
    }

    pub fn url(&self) -> &str {
        self.client.url()
    }

    /// The request body for items `first..first + inputs.len()` of a call: `query[i]` is the
    /// prompt exactly as the policy saw it (chat template applied) followed directly by the
    /// response, as OpenRLHF decodes a whole sequence; `prompts[i]` that prompt; `labels[i]` the
    /// reference answer.
    pub fn request(&self, inputs: &[RewardInput], first: usize) -> Result<Value> {
        let column = |f: &dyn Fn(&RewardInput) -> Value| Value::Array(inputs.iter().map(f).collect());
        let mut body = Map::new();
        body.insert(self.config.query_key.clone(), column(&|i| format!("{}{}", i.prompt, i.response).into()));
        body.insert("prompts".into(), column(&|i| i.prompt.clone().into()));
        body.insert("labels".into(), column(&|i| i.reference.clone().into()));
        if self.config.send_metadata {
            body.insert("questions".into(), column(&|i| i.question.clone().into()));
            body.insert("target_langs".into(), column(&|i| i.target_lang.to_string().into()));
            body.insert("reference_langs".into(), column(&|i| i.reference_lang.to_string().into()));
            body.insert(
                "detected_langs".into(),
                column(&|i| i.detected.lang.as_ref().map_or(Value::Null, |l| l.to_string().into())),
            );
            let extras = inputs
                .iter()
                .enumerate()
                .map(|(k, i)| {
                    serde_json::from_str::<Value>(&i.extra).map_err(|e| {
                        Error::input(format!("reward input {}, extra", first + k), format!("not JSON: {e}"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            body.insert("extras".into(), Value::Array(extras));
        }
        Ok(Value::Object(body))
    }

    /// A server reward onto [0, 1] through `reward_range`; outside it an error (or clamped).
    fn map(&self, item: usize, r: f64) -> Result<f64> {
        let [low, high] = self.config.reward_range;
        let r = if (low..=high).contains(&r) {
            r
        } else if self.config.clip_to_range {
            r.clamp(low, high)
        } else {
            return Err(Error::runtime(format!(
                "reward server {}: item {item}: the reward {r} is outside reward_range [{low}, {high}]",
                self.url()
            )));
        };
        Ok(((r - low) / (high - low)).clamp(0.0, 1.0))
    }
}

impl RewardModel for RemoteReward {
    fn score(&mut self, inputs: &[RewardInput]) -> Result<Vec<Reward>> {
        let mut out = Vec::with_capacity(inputs.len());
        for (b, batch) in inputs.chunks(self.config.batch_size).enumerate() {
            let first = b * self.config.batch_size;
            let body = self.request(batch, first)?.to_string();
            let answer = self.client.post(&body)?;
            let rewards = read_rewards(&answer, &self.config.score_key, batch.len(), first, self.url())?;
            for (k, (input, r)) in batch.iter().zip(rewards).enumerate() {
                let value = self.map(first + k, r)?;
                out.push(Reward {
                    value,
                    // No embedding here: NaN, so an average over them cannot pass for a cosine.
                    raw_cosine: f64::NAN,
                    calibrated_cosine: f64::NAN,
                    r_emb: value,
                    // Ungated: a composite reward in the host may gate it by language.
                    gate: 1.0,
                    detected: input.detected.clone(),
                });
            }
        }
        Ok(out)
    }
}

impl lrpo_sdk::Component for RemoteReward {
    type Config = RemoteRewardConfig;
    const NAME: &'static str = "remote";
    const DESCRIPTION: &'static str =
        "a reward server over HTTP (OpenRLHF convention: query/prompts/labels in, rewards out), validated";
    fn new(_instance: &str, config: Self::Config) -> Result<Self> {
        Self::from_config(config)
    }
}
