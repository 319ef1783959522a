//! Domain types and the five component traits of lrpo.
//!
//! Plain Rust, no FFI and no tch: the host, the SDK and every plugin speak these types.
//!
//! ```
//! use lrpo_core::{Lang, LangPrediction, Router, RouteRequest};
//! let zh = Lang::from_name("Chinese").unwrap();
//! assert_eq!(zh.as_str(), "zh");
//! assert_eq!(LangPrediction::none().lang, None);
//! ```

mod component;
mod error;
mod lang;
pub mod paths;
mod reward;
mod rollout;
mod route;
mod topics;
mod train;
mod weights;

pub use component::{ComponentKind, LanguageId, Optimizer, RewardModel, RolloutEngine, Router};
pub use error::{Error, ErrorKind, Result};
pub use lang::{default_languages, Lang, LRPO_LANGUAGES};
pub use reward::{LangPrediction, Reward, RewardInput};
pub use rollout::{FinishReason, GenerationRequest, GenerationResult, SamplingParams};
pub use route::{ContextReport, RouteContext, RouteFeedback, RouteRequest, RouterReport, RouterUpdate};
pub use topics::{LRPO_REGIONS, LRPO_TOPICS};
pub use train::{StepStats, TrainBatch, TrainSample};
pub use weights::{weight_set_from_f32, DType, Device, TensorView, WeightSet};
