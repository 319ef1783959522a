//! A rule-based RewardModel for verifiable answers, the `rule` component: exact match after
//! normalisation, GSM8K `####` answers, the last `\boxed{}`, numbers within a tolerance.
//!
//! It is written against `lrpo-sdk` and `lrpo-core` only, as a third-party reward would be
//! (see this crate's README). The reward is ungated (`gate = 1`): answer language is the
//! business of a composite reward or of the language gate the host can put around it.
//!
//! ```
//! use lrpo_core::{Lang, LangPrediction, RewardInput, RewardModel};
//! use lrpo_reward_rule::{Mode, RuleReward, RuleRewardConfig};
//!
//! let config = RuleRewardConfig { mode: Mode::Gsm8k, ..RuleRewardConfig::default() };
//! let mut reward = RuleReward::from_config(config)?;
//! let en = Lang::new("en");
//! let detected = LangPrediction { lang: Some(en.clone()), prob: 0.9 };
//! let reference = "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips altogether.\n#### 72";
//! let out = reward.score(&[
//!     RewardInput::new("48 + 24 = 72\n#### 72", reference, en.clone(), en.clone(), detected.clone()),
//!     RewardInput::new("She sold 72 clips.", reference, en.clone(), en.clone(), detected),
//! ])?;
//! assert_eq!((out[0].value, out[1].value), (1.0, 0.0)); // the second has no `####` answer
//! # Ok::<(), lrpo_core::Error>(())
//! ```

mod component;
pub mod extract;
pub mod normalize;
pub mod numbers;

pub use component::{Gsm8kMethod, Mode, RuleReward, RuleRewardConfig, Verdict};
pub use normalize::{Normalize, Whitespace};
pub use numbers::{Convention, DecimalSeparator};

lrpo_sdk::export_plugin! { RewardModel => RuleReward }
