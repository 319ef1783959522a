//! The plain-Rust reference of `lrpo-cuda-check`, which the GPU machine compares the fused CUDA
//! kernel with, picks the tokens of this crate's libtorch sampling path on the same fixture
//! (up to f32 rounding at a CDF boundary). With that GPU check: kernel = reference = CPU path.

use lrpo_core::SamplingParams;
use lrpo_cuda_check::{agreement, fixture, reference_tokens};
use lrpo_rollout_cuda::sampling::{filtered_probs, pick, RowParams};
use tch::{Device, Kind, Tensor};

#[test]
fn reference_picks_the_libtorch_tokens() {
    let f = fixture();
    let mut params = RowParams::default();
    for i in 0..f.rows() {
        params.push(&SamplingParams {
            temperature: f.temperature[i],
            top_k: f.top_k[i] as u32,
            top_p: f.top_p[i],
            min_p: f.min_p[i],
        });
    }
    let logits = Tensor::from_slice(&f.logits)
        .view([f.rows() as i64, f.vocab as i64])
        .to_kind(Kind::Float)
        .to_device(Device::Cpu);
    let cpu: Vec<i64> = Vec::try_from(&pick(&filtered_probs(&logits, &params).unwrap(), &f.uniforms).unwrap()).unwrap();
    let a = agreement(&f, &cpu);
    assert!(a.wrong.is_empty(), "rows the libtorch path and the reference disagree on: {:?} ({a:?})", a.wrong);
    // Only f32 rounding at a CDF boundary may move a pick, and rarely.
    assert!(a.at_boundary.len() * 50 <= f.rows(), "{} rows differ at boundaries: {a:?}", a.at_boundary.len());
    let want = reference_tokens(&f);
    // The fixture exercises every filter: greedy rows are argmaxes, filtered rows pick among few.
    assert!(want.iter().collect::<std::collections::HashSet<_>>().len() > 200, "picks should vary across rows");
}
