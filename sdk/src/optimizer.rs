//! The Optimizer across the boundary. Exported weights keep their foreign owner alive until
//! the host drops the WeightSet.

use crate::guard::Guard;
use crate::types::{FfiStepStats, FfiTrainBatch};
use crate::weights::{weight_set_from_ffi, weight_set_to_ffi, FfiWeightSet};
use crate::FfiError;
use abi_stable::sabi_trait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RBox, RResult, RSlice, RVec};
use lrpo_core::{Optimizer, Result, StepStats, TrainBatch, WeightSet};

#[sabi_trait]
pub trait FfiOptimizer: Send {
    fn step(&mut self, batch: &FfiTrainBatch) -> RResult<FfiStepStats, FfiError>;
    fn export_weights(&mut self) -> RResult<FfiWeightSet, FfiError>;
    fn save_state(&self) -> RResult<RVec<u8>, FfiError>;
    #[sabi(last_prefix_field)]
    fn load_state(&mut self, state: RSlice<'_, u8>) -> RResult<(), FfiError>;
}

pub type FfiOptimizerBox = FfiOptimizer_TO<'static, RBox<()>>;

pub struct GuestOptimizer {
    inner: Box<dyn Optimizer>,
    guard: Guard,
}

impl GuestOptimizer {
    pub fn boxed(inner: Box<dyn Optimizer>, label: &str) -> FfiOptimizerBox {
        FfiOptimizer_TO::from_value(GuestOptimizer { inner, guard: Guard::new(label) }, TD_Opaque)
    }
}

impl FfiOptimizer for GuestOptimizer {
    fn step(&mut self, batch: &FfiTrainBatch) -> RResult<FfiStepStats, FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| inner.step(&batch.into()).map(Into::into))
    }
    fn export_weights(&mut self) -> RResult<FfiWeightSet, FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| inner.export_weights().map(weight_set_to_ffi))
    }
    fn save_state(&self) -> RResult<RVec<u8>, FfiError> {
        self.guard.call(|| self.inner.save_state().map(Into::into))
    }
    fn load_state(&mut self, state: RSlice<'_, u8>) -> RResult<(), FfiError> {
        let inner = &mut self.inner;
        self.guard.call(|| inner.load_state(state.as_slice()))
    }
}

pub struct HostOptimizer(pub FfiOptimizerBox);

impl Optimizer for HostOptimizer {
    fn step(&mut self, batch: &TrainBatch) -> Result<StepStats> {
        Ok(self.0.step(&batch.into()).into_result()?.into())
    }
    fn export_weights(&mut self) -> Result<WeightSet> {
        weight_set_from_ffi(self.0.export_weights().into_result()?)
    }
    fn save_state(&self) -> Result<Vec<u8>> {
        Ok(self.0.save_state().into_result()?.into())
    }
    fn load_state(&mut self, state: &[u8]) -> Result<()> {
        Ok(self.0.load_state(state.into()).into_result()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::{weight_set_from_f32, TrainSample};

    /// One scalar parameter moved by the mean reward each step.
    struct Scalar {
        w: f32,
    }
    impl Optimizer for Scalar {
        fn step(&mut self, b: &TrainBatch) -> Result<StepStats> {
            let mean = b.samples.iter().map(|s| s.reward).sum::<f64>() / b.samples.len().max(1) as f64;
            self.w += mean as f32;
            let mut s = StepStats::default();
            s.set("loss", -mean);
            Ok(s)
        }
        fn export_weights(&mut self) -> Result<WeightSet> {
            Ok(weight_set_from_f32(vec![("w".into(), vec![1], vec![self.w])]))
        }
        fn save_state(&self) -> Result<Vec<u8>> {
            Ok(self.w.to_le_bytes().to_vec())
        }
        fn load_state(&mut self, s: &[u8]) -> Result<()> {
            self.w = f32::from_le_bytes(s.try_into().map_err(|_| lrpo_core::Error::State("need 4 bytes".into()))?);
            Ok(())
        }
    }

    #[test]
    fn step_export_and_state_round_trip() {
        let mut host = HostOptimizer(GuestOptimizer::boxed(Box::new(Scalar { w: 0.0 }), "s"));
        let batch = TrainBatch {
            step: 1,
            samples: vec![TrainSample {
                group_id: 0,
                prompt_tokens: vec![1],
                response_tokens: vec![2],
                sampler_logprobs: vec![-1.0],
                reward: 0.5,
            }],
        };
        assert_eq!(host.step(&batch).unwrap().get("loss"), Some(-0.5));
        let w = host.export_weights().unwrap();
        let bytes = unsafe { w.get("w").unwrap().cpu_bytes() }.unwrap();
        assert_eq!(f32::from_le_bytes(bytes.try_into().unwrap()), 0.5);
        let state = host.save_state().unwrap();
        host.step(&batch).unwrap();
        host.load_state(&state).unwrap();
        assert_eq!(host.save_state().unwrap(), state);
        assert!(host.load_state(&[1]).is_err());
    }
}
