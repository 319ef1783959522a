//! Training data: the verl/LRPO parquet layout (spec §1), its preparation from JSON, a checker,
//! and the grouped batch sampler (spec §2).
//!
//! ```no_run
//! use lrpo_host::data::{self, GroupedSampler};
//! use std::path::Path;
//!
//! // JSON records -> train.parquet / test.parquet, stratified 90/10 by language.
//! let summary = data::prepare(Path::new("examples/data/lrpo-mini.jsonl"), Path::new("out"), 42)?;
//! println!("{summary}");
//! // Read the questions back and draw one training batch of 8 questions x 8 rollouts.
//! let set = data::read_questions(Path::new("out/train.parquet"))?;
//! let mut sampler = GroupedSampler::new(set.questions.len(), 8, 64, 42)?;
//! let batch = sampler.next_batch();
//! assert_eq!(batch.rows.len(), 64);
//! # Ok::<(), lrpo_core::Error>(())
//! ```

mod check;
mod columns;
mod layout;
mod mapping;
mod prepare;
mod question;
mod reader;
mod records;
mod rename;
mod sampler;
mod split;

pub use check::{check, check_with, CheckReport, LengthStats};
pub use layout::{KNOWN_REGIONS, LRPO_TOPICS, TRANSLATION_ABILITY};
pub use mapping::{ColumnMap, ReadOptions};
pub use prepare::{prepare, PrepareSummary};
pub(crate) use question::fixed_language;
pub use question::{Question, RowOrigin};
pub use reader::{read_questions, read_questions_with, QuestionReader, QuestionSet};
pub use records::{read_records, Record};
pub use rename::RENAMABLE;
pub use sampler::{group_id, validate_train_batch_size, GroupedSampler, SampledBatch, SampledRow, SamplerState};
pub use split::stratified_split;
