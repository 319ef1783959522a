//! `lrpo-host eval`: a model or a trained run graded by an LLM judge, per language.
//!
//! The questions are answered by the run's own rollout engine (the same plugin that made the
//! training rollouts), the answers' languages are checked by the run's language ID, and an
//! OpenAI-compatible judge gives each answer one of the four labels of the LRPO spec (§7).
//! The judge is a client here, not a component kind: one implementation, over HTTP.
//!
//! - [`prompt`]: the judge prompt and its hash;
//! - [`judge`]: the HTTP client, retries, and the strict reading of a label;
//! - [`items`]: the data file through the host's reader, with column flags;
//! - [`store`]: `eval.jsonl`, which makes a rerun resume;
//! - [`stats`]: accuracy with Wilson intervals, the paired comparison with McNemar's test;
//! - [`results`]: `results.json` and `results.md`.
//!
//! ```
//! use lrpo_host::eval::judge::{parse_label, Label};
//! use lrpo_host::eval::stats::wilson;
//!
//! assert_eq!(parse_label("B"), Some(Label::CorrectButWrongLanguage));
//! assert_eq!(parse_label("I think it is B"), None); // a judge failure, retried, never INCORRECT
//! let (low, high) = wilson(8, 10).unwrap();
//! assert!(low < 0.8 && 0.8 < high);
//! ```

mod command;
pub mod items;
pub mod judge;
pub mod prompt;
pub mod results;
pub mod stats;
pub mod store;

pub use command::{eval_command, resolve_model, ModelSpec};
