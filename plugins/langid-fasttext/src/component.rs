//! The `fasttext` LanguageId component: LRPO normalisation, the weak-text rule, fastText top-1,
//! and the allowed-language filter (spec §4.2), run over a batch in parallel.

use std::collections::HashSet;
use std::path::PathBuf;

use lrpo_core::{default_languages, paths, Error, Lang, LangPrediction, LanguageId};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::{FastTextModel, PredictScratch};
use crate::normalize::{is_weak_text, normalize_for_lid};

/// Labels in lid.176 look like `__label__en`.
const LABEL_PREFIX: &str = "__label__";

/// Where the set-up script puts `lid.176.ftz`.
pub fn default_model_path() -> PathBuf {
    paths::model_dir("lid.176").join("lid.176.ftz")
}

/// Configuration of the `fasttext` component. `{}` gives the LRPO behaviour.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FastTextConfig {
    /// fastText model (`.ftz` or `.bin`); default: `lid.176.ftz` in the model cache.
    #[schemars(schema_with = "lrpo_sdk::schema::input_file")]
    pub model_path: Option<PathBuf>,
    /// Language codes that may be reported; any other prediction becomes "none".
    /// Default: the 15 LRPO languages.
    pub allowed_languages: Vec<String>,
    /// Texts whose letters and numbers are fewer than this share of their characters are
    /// "weak" and get no language.
    pub min_alnum_ratio: f64,
    /// Worker threads; 0 = the host's thread budget. Never more than the budget.
    pub threads: usize,
}

impl Default for FastTextConfig {
    fn default() -> Self {
        FastTextConfig {
            model_path: None,
            allowed_languages: default_languages().iter().map(|l| l.to_string()).collect(),
            min_alnum_ratio: 0.05,
            threads: 0,
        }
    }
}

pub struct FastTextLangId {
    model: FastTextModel,
    /// Per model label: the language it reports, or `None` when the label is not allowed.
    label_langs: Vec<Option<Lang>>,
    min_alnum_ratio: f64,
    pool: Option<rayon::ThreadPool>,
}

impl FastTextLangId {
    pub fn from_config(config: FastTextConfig, thread_budget: usize) -> lrpo_core::Result<Self> {
        if !(0.0..=1.0).contains(&config.min_alnum_ratio) {
            return Err(Error::config(
                "min_alnum_ratio",
                format!("{} is not a share between 0 and 1", config.min_alnum_ratio),
            ));
        }
        let mut allowed = HashSet::new();
        for code in &config.allowed_languages {
            let lang = Lang::new(code);
            if lang.as_str().is_empty() || lang.as_str().starts_with(LABEL_PREFIX) {
                return Err(Error::config(
                    "allowed_languages",
                    format!("{code:?} is not a language code (write `en`, not `__label__en`)"),
                ));
            }
            allowed.insert(lang);
        }
        let path = config.model_path.clone().unwrap_or_else(default_model_path);
        if !path.exists() {
            return Err(Error::io(
                path.display(),
                format!(
                    "fastText language-ID model not found; run `{}` to fetch lid.176.ftz into the \
                     model cache, or set `model_path`",
                    paths::SETUP_COMMAND
                ),
            ));
        }
        let model = FastTextModel::load(&path)?;
        let label_langs = model
            .labels()
            .iter()
            .map(|label| {
                let lang = Lang::new(label.strip_prefix(LABEL_PREFIX).unwrap_or(label));
                allowed.contains(&lang).then_some(lang)
            })
            .collect();
        let budget = thread_budget.max(1);
        let threads = if config.threads == 0 { budget } else { config.threads.min(budget) };
        if config.threads > budget {
            tracing::warn!(asked = config.threads, budget, "langid threads capped at the host's thread budget");
        }
        let pool = if threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("lrpo-langid-{i}"))
                .build()
                .map_err(|e| Error::runtime(format!("cannot start {threads} langid threads: {e}")))?;
            Some(pool)
        } else {
            None
        };
        tracing::debug!(path = %path.display(), threads, "loaded fastText language-ID model");
        Ok(FastTextLangId { model, label_langs, min_alnum_ratio: config.min_alnum_ratio, pool })
    }

    /// The shared model, for callers that want raw top-k predictions.
    pub fn model(&self) -> &FastTextModel {
        &self.model
    }

    /// One text, with caller-owned buffers.
    pub fn detect_one(&self, scratch: &mut PredictScratch, text: &str) -> LangPrediction {
        let normalized = normalize_for_lid(text);
        if is_weak_text(&normalized, self.min_alnum_ratio) {
            return LangPrediction::none();
        }
        let Some(top) = self.model.predict_with(scratch, &normalized, 1, 0.0).into_iter().next() else {
            return LangPrediction::none();
        };
        match &self.label_langs[top.label] {
            Some(lang) => LangPrediction { lang: Some(lang.clone()), prob: top.prob },
            None => LangPrediction::none(),
        }
    }

    pub fn detect_batch(&self, texts: &[String]) -> Vec<LangPrediction> {
        match &self.pool {
            Some(pool) => pool.install(|| {
                texts
                    .par_iter()
                    .map_init(PredictScratch::default, |scratch, text| self.detect_one(scratch, text))
                    .collect()
            }),
            None => {
                let mut scratch = PredictScratch::default();
                texts.iter().map(|text| self.detect_one(&mut scratch, text)).collect()
            }
        }
    }
}

impl LanguageId for FastTextLangId {
    fn detect(&mut self, texts: &[String]) -> lrpo_core::Result<Vec<LangPrediction>> {
        Ok(self.detect_batch(texts))
    }
}

impl lrpo_sdk::Component for FastTextLangId {
    type Config = FastTextConfig;
    const NAME: &'static str = "fasttext";
    const DESCRIPTION: &'static str =
        "fastText language identification (lid.176.ftz) with LRPO's normalisation and weak-text rule";

    fn new(_instance: &str, config: Self::Config) -> lrpo_core::Result<Self> {
        Self::from_config(config, lrpo_sdk::thread_budget())
    }
}
