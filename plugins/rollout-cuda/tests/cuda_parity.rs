//! CPU (libtorch ops) vs the fused CUDA kernel on fixed logits and uniforms: the same tokens.
//! Built only with `--features cuda`. The compile check needs only NVRTC (the torch wheel's), so
//! the CPU test command runs it; the parity test fails when no GPU is visible (run by
//! scripts/gpu-check.sh).
#![cfg(feature = "cuda")]

use lrpo_core::SamplingParams;
use lrpo_rollout_cuda::cuda::FusedSampler;
use lrpo_rollout_cuda::sampling::{filtered_probs, pick, RowParams};
use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

#[test]
fn kernel_compiles_with_nvrtc() {
    let ptx = lrpo_rollout_cuda::cuda::compile().expect("NVRTC compiles the sampling kernel");
    let text = ptx.to_src();
    assert!(
        text.contains(".entry fused_sample"),
        "no fused_sample entry in the PTX:\n{}",
        &text[..text.len().min(400)]
    );
}

#[test]
#[ignore = "needs a CUDA device; scripts/gpu-check.sh runs it with --include-ignored"]
fn cuda_kernel_picks_the_cpu_tokens() {
    assert!(tch::Cuda::is_available(), "no CUDA device visible to libtorch");
    let fused = FusedSampler::new(0).expect("compile and load the kernel");
    let p = |temperature, top_k, top_p, min_p| SamplingParams { temperature, top_k, top_p, min_p };
    let cases = [
        p(1.0, 0, 1.0, 0.0),
        p(0.0, 0, 1.0, 0.0),
        p(0.7, 50, 1.0, 0.0),
        p(1.0, 0, 0.9, 0.0),
        p(1.2, 0, 1.0, 0.05),
        p(0.8, 40, 0.95, 0.02),
    ];
    let per_case = 64;
    let vocab = 49152;
    let mut params = RowParams::default();
    for c in &cases {
        for _ in 0..per_case {
            params.push(c);
        }
    }
    let rows = params.len() as i64;
    tch::manual_seed(3);
    let logits = Tensor::randn([rows, vocab], (Kind::Float, Device::Cpu)) * 3.0;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let uniforms: Vec<f32> = (0..rows).map(|_| rng.gen()).collect();
    let cpu: Vec<i64> = Vec::try_from(&pick(&filtered_probs(&logits, &params).unwrap(), &uniforms).unwrap()).unwrap();
    let gpu = fused.pick(&logits.to_device(Device::Cuda(0)), &params, &uniforms).unwrap();
    let gpu: Vec<i64> = Vec::try_from(&gpu.to_device(Device::Cpu)).unwrap();
    // Both are f32 paths summing in different orders: they may differ where rounding puts the
    // uniform on a CDF boundary, nowhere else.
    let differ: Vec<usize> = (0..cpu.len()).filter(|&i| cpu[i] != gpu[i]).collect();
    assert!(
        differ.len() * 50 <= cpu.len(),
        "{} of {} rows differ, first rows {:?}",
        differ.len(),
        cpu.len(),
        &differ[..differ.len().min(8)]
    );
}

/// The kernel against the f64 reference on the shared fixture (what `lrpo-cuda-check` does
/// without libtorch).
#[test]
#[ignore = "needs a CUDA device; scripts/gpu-check.sh runs it with --include-ignored"]
fn cuda_kernel_agrees_with_the_reference() {
    let f = lrpo_cuda_check::fixture();
    let fused = FusedSampler::new(0).expect("compile and load the kernel");
    let mut params = RowParams::default();
    for i in 0..f.rows() {
        params.push(&SamplingParams {
            temperature: f.temperature[i],
            top_k: f.top_k[i] as u32,
            top_p: f.top_p[i],
            min_p: f.min_p[i],
        });
    }
    let logits = Tensor::from_slice(&f.logits).view([f.rows() as i64, f.vocab as i64]).to_device(Device::Cuda(0));
    let got: Vec<i64> =
        Vec::try_from(&fused.pick(&logits, &params, &f.uniforms).unwrap().to_device(Device::Cpu)).unwrap();
    let a = lrpo_cuda_check::agreement(&f, &got);
    assert!(a.wrong.is_empty() && a.at_boundary.len() * 50 <= f.rows(), "{a:?}");
}
