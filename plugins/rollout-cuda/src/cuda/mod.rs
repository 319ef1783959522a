//! Fused CUDA sampling (feature `cuda`): temperature, top-k / top-p / min-p filtering and the
//! inverse-CDF pick from given uniforms in one kernel per row, compiled with NVRTC at run time.
//! It implements exactly the distribution of [`crate::sampling`], so with the same uniforms
//! both pick the same tokens (up to float rounding at a CDF boundary).
//!
//! Without the feature, [`FusedSampler::new`] reports that it is missing and the engine keeps
//! sampling with libtorch ops on any device.

#[cfg(feature = "cuda")]
mod kernels;
#[cfg(feature = "cuda")]
pub use kernels::{compile, FusedSampler};

#[cfg(not(feature = "cuda"))]
mod stub {
    use lrpo_core::{Error, Result};
    use tch::Tensor;

    use crate::sampling::RowParams;

    /// Stands in for the CUDA sampler in builds without the `cuda` feature.
    #[derive(Debug)]
    pub struct FusedSampler {
        _never: std::convert::Infallible,
    }

    impl FusedSampler {
        pub fn new(_ordinal: usize) -> Result<Self> {
            Err(Error::runtime("lrpo-rollout-cuda was built without the `cuda` feature; rebuild with --features cuda"))
        }
        pub fn pick(&self, _logits: &Tensor, _params: &RowParams, _uniforms: &[f32]) -> Result<Tensor> {
            match self._never {}
        }
    }
}
#[cfg(not(feature = "cuda"))]
pub use stub::FusedSampler;

/// True when this build carries the CUDA kernels.
pub const COMPILED: bool = cfg!(feature = "cuda");
