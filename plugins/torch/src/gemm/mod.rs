//! Which library does an f32 matrix product on the CPU, and MKL's packed GEMM for decoding.
//!
//! libtorch sends an f32 `linear` to MKL. MKL chooses its kernels by CPU vendor: on an AMD CPU
//! with AVX-512 (Zen 4, Zen 5) it runs its AVX2 kernels, at half the width the CPU has. oneDNN,
//! which libtorch already uses for bf16, picks the AVX-512 kernels there. On 2 cores of a Zen 5
//! EPYC (torch 2.13): a 1024^3 product at 181 GFLOP/s through MKL against 351 through oneDNN,
//! and forward + backward of SmolLM2-135M's MLP shapes on 1500 rows 1.85x faster, with the same
//! f32 rounding (both within 1e-6 of an f64 product). So [`linear`] takes oneDNN where MKL would
//! pick AVX2 kernels on an AVX-512 CPU ([`F32Gemm::auto`]); elsewhere it is libtorch's `linear`.
//! `LRPO_F32_GEMM=mkl` or `=onednn` overrides the choice for a process.
//!
//! [`PackedWeight`] is MKL's packed GEMM (`packed`), for decoding steps where MKL is the f32
//! library.

mod packed;

use std::sync::OnceLock;

use tch::{Device, Kind, Tensor};

pub use packed::{available, PackedWeight, MAX_ROWS};

/// The library behind an f32 product on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F32Gemm {
    /// libtorch's own `linear` (MKL's `sgemm` in the PyPI builds).
    Mkl,
    /// oneDNN's inner product (`mkldnn_linear`), on the f32 data as it is.
    OneDnn,
}

impl F32Gemm {
    /// oneDNN on an x86 CPU that has AVX-512 but is not Intel's, MKL otherwise.
    pub fn auto() -> Self {
        if mkl_runs_avx2_here() {
            F32Gemm::OneDnn
        } else {
            F32Gemm::Mkl
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            F32Gemm::Mkl => "MKL",
            F32Gemm::OneDnn => "oneDNN",
        }
    }

    /// `LRPO_F32_GEMM` (`mkl`, `onednn` or `auto`); `auto` when unset.
    fn from_env() -> Self {
        match std::env::var("LRPO_F32_GEMM").map(|v| v.to_ascii_lowercase()).as_deref() {
            Ok("mkl") => F32Gemm::Mkl,
            Ok("onednn") => F32Gemm::OneDnn,
            Ok("auto") | Err(_) => F32Gemm::auto(),
            Ok(other) => {
                eprintln!("warning: LRPO_F32_GEMM={other} is not mkl, onednn or auto; using auto");
                F32Gemm::auto()
            }
        }
    }
}

/// This process's f32 GEMM library on the CPU (decided once, from `LRPO_F32_GEMM` and the CPU).
pub fn f32_gemm() -> F32Gemm {
    static CHOICE: OnceLock<F32Gemm> = OnceLock::new();
    *CHOICE.get_or_init(F32Gemm::from_env)
}

/// Whether MKL's dispatch would give this CPU AVX2 kernels although it has AVX-512: a non-Intel
/// x86 CPU with AVX-512F (MKL takes its AVX-512 paths on GenuineIntel only).
fn mkl_runs_avx2_here() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // Leaf 0: the vendor string in ebx, edx, ecx.
        let id = std::arch::x86_64::__cpuid(0);
        let vendor: Vec<u8> = [id.ebx, id.edx, id.ecx].iter().flat_map(|r| r.to_le_bytes()).collect();
        vendor != b"GenuineIntel" && std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x @ w.T + b` for `x` `[..., in]` and `w` `[out, in]`, with autograd, through [`f32_gemm`]'s
/// library for f32 CPU tensors and libtorch's `linear` for everything else.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    if f32_gemm() == F32Gemm::OneDnn && onednn_applies(x, w, b) {
        onednn_linear(x, w, b)
    } else {
        x.linear(w, b)
    }
}

/// oneDNN's inner product takes dense f32 CPU operands with a contiguous weight; an empty
/// input goes to `linear` (oneDNN refuses zero-sized dimensions).
fn onednn_applies(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> bool {
    let f32_cpu = |t: &Tensor| t.kind() == Kind::Float && t.device() == Device::Cpu && !t.is_mkldnn();
    f32_cpu(x) && f32_cpu(w) && w.dim() == 2 && w.is_contiguous() && x.numel() > 0 && b.is_none_or(f32_cpu)
}

/// [`linear`] through oneDNN: the rows go into oneDNN's layout and back (a copy each way, small
/// against the product), which autograd follows, so gradients reach `x`, `w` and `b` as dense
/// tensors.
pub fn onednn_linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    let mut size = x.size();
    let width = *size.last().expect("linear input has a dimension");
    let rows = x.reshape([-1, width]).g_to_mkldnn(None);
    let y = rows.mkldnn_linear(w, b).to_dense(None, false);
    *size.last_mut().expect("at least one dim") = w.size()[0];
    y.reshape(size.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[]) / b.abs().max().double_value(&[]).max(1e-30)
    }

    #[test]
    fn onednn_products_and_gradients_equal_linear() {
        tch::manual_seed(11);
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([3, 7, 40], opts).set_requires_grad(true);
        let w = (Tensor::randn([24, 40], opts) * 0.1).set_requires_grad(true);
        let b = Tensor::randn([24], opts).set_requires_grad(true);
        let g = Tensor::randn([3, 7, 24], opts);
        let grads = |y: Tensor| {
            for t in [&x, &w, &b] {
                t.shallow_clone().zero_grad();
            }
            (&y * &g).sum(Kind::Float).backward();
            (y.detach(), x.grad().copy(), w.grad().copy(), b.grad().copy())
        };
        let want = grads(x.linear(&w, Some(&b)));
        let got = grads(onednn_linear(&x, &w, Some(&b)));
        assert_eq!(got.0.size(), [3, 7, 24]);
        for (name, a, e) in
            [("y", &got.0, &want.0), ("dx", &got.1, &want.1), ("dw", &got.2, &want.2), ("db", &got.3, &want.3)]
        {
            let d = rel_diff(a, e);
            assert!(d < 1e-5, "{name}: relative difference {d}");
            assert!(!a.is_mkldnn(), "{name} is a dense tensor");
        }
    }

    #[test]
    fn onednn_path_is_only_taken_for_dense_f32_cpu_operands() {
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::ones([2, 4], opts);
        let w = Tensor::ones([3, 4], opts);
        assert!(onednn_applies(&x, &w, None));
        assert!(!onednn_applies(&x.to_kind(Kind::BFloat16), &w, None));
        assert!(!onednn_applies(&x, &w.to_kind(Kind::BFloat16), None));
        assert!(!onednn_applies(&x, &Tensor::ones([4, 3], opts).transpose(0, 1), None), "transposed weight");
        assert!(!onednn_applies(&Tensor::ones([0, 4], opts), &w, None), "no rows");
        // Every choice gives the same product through `linear`.
        let diff = rel_diff(&linear(&x, &w, None), &x.linear::<Tensor>(&w, None));
        assert!(diff < 1e-6, "{diff}");
    }
}
