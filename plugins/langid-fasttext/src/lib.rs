//! fastText language identification for lrpo: a self-contained reader and predictor for
//! fastText classifiers (`lid.176.ftz` and friends) that gives the official C++'s labels and
//! probabilities, plus the `fasttext` LanguageId component with LRPO's normalisation rules.
//!
//! ```no_run
//! use lrpo_langid_fasttext::{default_model_path, FastTextModel};
//! let model = FastTextModel::load(default_model_path())?;
//! let best = model.predict("Der schnelle braune Fuchs springt über den faulen Hund.", 2, 0.0);
//! assert_eq!(model.labels()[best[0].label], "__label__de");
//! # Ok::<(), lrpo_core::Error>(())
//! ```
//!
//! The component, as the host builds it from `{}`:
//!
//! ```no_run
//! use lrpo_core::LanguageId;
//! use lrpo_langid_fasttext::{FastTextConfig, FastTextLangId};
//! let mut lid = FastTextLangId::from_config(FastTextConfig::default(), 2)?;
//! let found = lid.detect(&["Bonjour tout le monde".to_string(), "```x```".to_string()])?;
//! assert_eq!(found[0].lang.as_ref().map(|l| l.as_str()), Some("fr"));
//! assert_eq!(found[1].lang, None); // weak text
//! # Ok::<(), lrpo_core::Error>(())
//! ```

mod args;
mod component;
mod dictionary;
mod hashing;
mod loss;
mod matrix;
mod model;
mod normalize;
mod reader;

pub use args::{LossKind, ModelArgs, FASTTEXT_MAGIC, FASTTEXT_VERSION};
pub use component::{default_model_path, FastTextConfig, FastTextLangId};
pub use hashing::fasttext_hash;
pub use model::{FastTextModel, LabelScore, PredictScratch};
pub use normalize::{is_weak_text, normalize_for_lid};

lrpo_sdk::export_plugin! {
    LanguageId => FastTextLangId,
}
