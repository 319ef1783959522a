//! The RolloutEngine across the boundary. Weights cross as borrowed views for the duration
//! of `load_weights`; the engine copies them into its own buffers.

use crate::guard::Guard;
use crate::types::{FfiGenerationRequest, FfiGenerationResult};
use crate::weights::FfiTensorView;
use crate::FfiError;
use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RVec};
use lrpo_core::{GenerationRequest, GenerationResult, Result, RolloutEngine, TensorView, WeightSet};

#[sabi_trait]
pub trait FfiRolloutEngine: Send {
    fn generate(&mut self, requests: RSlice<'_, FfiGenerationRequest>) -> RResult<RVec<FfiGenerationResult>, FfiError>;
    #[sabi(last_prefix_field)]
    fn load_weights(&mut self, views: RSlice<'_, FfiTensorView>) -> RResult<(), FfiError>;
}

pub type FfiRolloutEngineBox = FfiRolloutEngine_TO<'static, RBox<()>>;

pub struct GuestRolloutEngine {
    inner: Box<dyn RolloutEngine>,
    guard: Guard,
}

impl GuestRolloutEngine {
    pub fn boxed(inner: Box<dyn RolloutEngine>, label: &str) -> FfiRolloutEngineBox {
        FfiRolloutEngine_TO::from_value(GuestRolloutEngine { inner, guard: Guard::new(label) }, TD_Opaque)
    }
}

impl FfiRolloutEngine for GuestRolloutEngine {
    fn generate(&mut self, requests: RSlice<'_, FfiGenerationRequest>) -> RResult<RVec<FfiGenerationResult>, FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| {
            let reqs: Vec<GenerationRequest> = requests.iter().map(Into::into).collect();
            Ok(inner.generate(&reqs)?.into_iter().map(Into::into).collect())
        })
    }
    fn load_weights(&mut self, views: RSlice<'_, FfiTensorView>) -> RResult<(), FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| {
            let views = views.iter().map(TensorView::try_from).collect::<Result<Vec<_>>>()?;
            // The caller keeps the memory alive for the whole call.
            let set = unsafe { WeightSet::borrowed(views) };
            inner.load_weights(&set)
        })
    }
}

pub struct HostRolloutEngine(pub FfiRolloutEngineBox);

impl RolloutEngine for HostRolloutEngine {
    fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationResult>> {
        let reqs: Vec<FfiGenerationRequest> = requests.iter().map(Into::into).collect();
        Ok(self.0.generate(reqs.as_slice().into()).into_result()?.into_iter().map(Into::into).collect())
    }
    fn load_weights(&mut self, weights: &WeightSet) -> Result<()> {
        let views: Vec<FfiTensorView> = weights.tensors.iter().map(Into::into).collect();
        Ok(self.0.load_weights(views.as_slice().into()).into_result()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::{weight_set_from_f32, FinishReason, SamplingParams};

    /// "Generates" the prompt reversed, scaled by its one weight.
    struct Mirror {
        scale: f32,
    }
    impl RolloutEngine for Mirror {
        fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationResult>> {
            Ok(requests
                .iter()
                .map(|r| GenerationResult {
                    prompt_tokens: vec![r.prompt.len() as u32],
                    response_tokens: vec![self.scale as u32],
                    logprobs: vec![-0.1],
                    text: r.prompt.chars().rev().collect(),
                    finish: FinishReason::Stop,
                })
                .collect())
        }
        fn load_weights(&mut self, w: &WeightSet) -> Result<()> {
            let v = w.get("scale").ok_or_else(|| lrpo_core::Error::State("no `scale`".into()))?;
            let b = unsafe { v.cpu_bytes() }.unwrap();
            self.scale = f32::from_le_bytes(b[0..4].try_into().unwrap());
            Ok(())
        }
    }

    #[test]
    fn generate_and_load_weights_round_trip() {
        let mut host = HostRolloutEngine(GuestRolloutEngine::boxed(Box::new(Mirror { scale: 1.0 }), "m"));
        let req = GenerationRequest {
            prompt: "abc".into(),
            max_new_tokens: 1,
            sampling: SamplingParams::default(),
            seed: 0,
            stop_strings: vec![],
            stop_token_ids: vec![],
        };
        assert_eq!(host.generate(std::slice::from_ref(&req)).unwrap()[0].text, "cba");
        host.load_weights(&weight_set_from_f32(vec![("scale".into(), vec![1], vec![7.0])])).unwrap();
        assert_eq!(host.generate(&[req]).unwrap()[0].response_tokens, vec![7]);
        let err = host.load_weights(&weight_set_from_f32(vec![])).unwrap_err();
        assert_eq!(err.to_string(), "state: no `scale`");
    }
}
