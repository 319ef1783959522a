//! The RewardModel across the boundary.

use crate::guard::Guard;
use crate::types::{FfiReward, FfiRewardInput};
use crate::FfiError;
use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RVec};
use lrpo_core::{Result, Reward, RewardInput, RewardModel};

#[sabi_trait]
pub trait FfiRewardModel: Send {
    #[sabi(last_prefix_field)]
    fn score(&mut self, inputs: RSlice<'_, FfiRewardInput>) -> RResult<RVec<FfiReward>, FfiError>;
}

pub type FfiRewardModelBox = FfiRewardModel_TO<'static, RBox<()>>;

pub struct GuestRewardModel {
    inner: Box<dyn RewardModel>,
    guard: Guard,
}

impl GuestRewardModel {
    pub fn boxed(inner: Box<dyn RewardModel>, label: &str) -> FfiRewardModelBox {
        FfiRewardModel_TO::from_value(GuestRewardModel { inner, guard: Guard::new(label) }, TD_Opaque)
    }
}

impl FfiRewardModel for GuestRewardModel {
    fn score(&mut self, inputs: RSlice<'_, FfiRewardInput>) -> RResult<RVec<FfiReward>, FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| {
            let inputs: Vec<RewardInput> = inputs.iter().map(Into::into).collect();
            Ok(inner.score(&inputs)?.iter().map(Into::into).collect())
        })
    }
}

pub struct HostRewardModel(pub FfiRewardModelBox);

impl RewardModel for HostRewardModel {
    fn score(&mut self, inputs: &[RewardInput]) -> Result<Vec<Reward>> {
        let inputs: Vec<FfiRewardInput> = inputs.iter().map(Into::into).collect();
        Ok(self.0.score(inputs.as_slice().into()).into_result()?.iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::{Lang, LangPrediction};

    /// Reward = 1 when the response equals the reference and the gate opens.
    struct Exact;
    impl RewardModel for Exact {
        fn score(&mut self, inputs: &[RewardInput]) -> Result<Vec<Reward>> {
            Ok(inputs
                .iter()
                .map(|i| {
                    let gate = if i.detected.lang.as_ref() == Some(&i.target_lang) { 1.0 } else { 0.0 };
                    let sim = if i.response == i.reference { 1.0 } else { 0.0 };
                    let id = serde_json::from_str::<serde_json::Value>(&i.extra).ok().and_then(|v| v["id"].as_f64());
                    Reward {
                        value: gate * sim,
                        raw_cosine: id.unwrap_or(sim),
                        calibrated_cosine: (i.question.len() + i.prompt.len()) as f64,
                        r_emb: sim,
                        gate,
                        detected: i.detected.clone(),
                    }
                })
                .collect())
        }
    }

    #[test]
    fn score_round_trips() {
        let mut host = HostRewardModel(GuestRewardModel::boxed(Box::new(Exact), "exact"));
        let input = RewardInput {
            response: "a".into(),
            reference: "a".into(),
            question: "q".into(),
            prompt: "<q>".into(),
            extra: r#"{"id": 7}"#.into(),
            target_lang: Lang::new("en"),
            reference_lang: Lang::new("en"),
            detected: LangPrediction { lang: Some(Lang::new("en")), prob: 0.9 },
        };
        let out = host.score(&[input]).unwrap();
        assert_eq!(out[0].value, 1.0);
        assert_eq!(out[0].detected.prob, 0.9);
        assert_eq!((out[0].raw_cosine, out[0].calibrated_cosine), (7.0, 4.0), "question, prompt and extra cross");
    }
}
