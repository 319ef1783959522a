//! A third-party router for lrpo: copies beyond `keep_original` cycle through a fixed list of
//! languages, ignoring rewards. It depends on `lrpo-sdk` alone.

use lrpo_sdk::prelude::*;
use lrpo_sdk::{schemars, serde};

/// The component's config table (`[components.router.<name>.config]`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(crate = "lrpo_sdk::serde", default, deny_unknown_fields)]
#[schemars(crate = "lrpo_sdk::schemars")]
pub struct Config {
    /// Languages to cycle through.
    pub languages: Vec<String>,
    /// Copies per question that keep the question's own language.
    pub keep_original: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { languages: vec!["en".into(), "de".into(), "zh".into()], keep_original: 1 }
    }
}

pub struct RoundRobin {
    languages: Vec<Lang>,
    keep_original: usize,
    next: usize,
}

impl Router for RoundRobin {
    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn route(&mut self, request: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
        let mut out = Vec::with_capacity(request.groups.len());
        for group in &request.groups {
            let mut langs = Vec::with_capacity(request.n);
            for copy in 0..request.n {
                if let Some(fixed) = &group.fixed_lang {
                    langs.push(fixed.clone());
                } else if copy < self.keep_original || !request.training {
                    langs.push(group.orig_lang.clone());
                } else {
                    langs.push(self.languages[self.next % self.languages.len()].clone());
                    self.next += 1;
                }
            }
            out.push(langs);
        }
        Ok(out)
    }

    fn update(&mut self, _step: u64, _feedback: &[RouteFeedback]) -> Result<RouterUpdate> {
        Ok(RouterUpdate::default())
    }

    fn save_state(&self) -> Result<Vec<u8>> {
        Ok((self.next as u64).to_le_bytes().to_vec())
    }

    fn load_state(&mut self, state: &[u8]) -> Result<()> {
        let bytes: [u8; 8] = state.try_into().map_err(|_| Error::State("round-robin state is 8 bytes".into()))?;
        self.next = u64::from_le_bytes(bytes) as usize;
        Ok(())
    }
}

impl Component for RoundRobin {
    type Config = Config;
    const NAME: &'static str = "round-robin";
    const DESCRIPTION: &'static str = "cycles through a fixed language list (example third-party plugin)";

    fn new(instance: &str, config: Config) -> Result<Self> {
        if config.languages.is_empty() {
            return Err(Error::config(format!("components.router.{instance}.config.languages"), "must not be empty"));
        }
        Ok(RoundRobin { languages: config.languages.iter().map(Lang::new).collect(), keep_original: config.keep_original, next: 0 })
    }
}

lrpo_sdk::export_plugin! { Router => RoundRobin }
