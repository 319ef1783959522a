//! AdamW on tch tensors, written out because tch's optimizer (libtorch `torch::optim`) hides its
//! moment buffers, which a checkpoint must carry. Same update as PyTorch's single-tensor AdamW.
//!
//! On the CPU the update is one fused pass per parameter (our own loop over the f32 buffers):
//! the update is memory-bound, and written as tensor ops it makes about eleven passes over
//! parameter-sized buffers (108 bytes per parameter against the fused pass's 28). On 135M f32
//! parameters and 2 cores (`cargo bench -p lrpo-optim-grpo --bench adamw_pass`): 0.12 s fused,
//! 0.40-0.46 s as tensor ops; libtorch's own fused kernel (`_fused_adamw_`, 0.07-0.09 s) is not
//! reachable through tch 0.26. Under bf16 mixed precision the pass reads the bf16 gradient
//! itself, widening each element as it goes, so no fp32 copy of the gradients is made (one
//! parameter-sized allocation and a pass fewer). Elsewhere (CUDA, other dtypes, strided tensors)
//! the tensor ops run, on the gradient widened to the parameter's dtype.

use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// First and second moments and the update count of one parameter.
#[derive(Debug)]
pub struct Moments {
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
    pub step: u64,
}

#[derive(Debug)]
pub struct AdamW {
    pub hyper: AdamWParams,
    /// One entry per parameter, in the order of the parameter list given to `step`.
    pub moments: Vec<Moments>,
    /// Whether f32 CPU parameters take the fused pass (the default); `false` runs the tensor
    /// ops everywhere (the `adamw_pass` benchmark compares the two).
    pub fused: bool,
}

impl AdamW {
    pub fn new(params: &[Tensor], hyper: AdamWParams) -> Self {
        let moments =
            params.iter().map(|p| Moments { exp_avg: p.zeros_like(), exp_avg_sq: p.zeros_like(), step: 0 }).collect();
        AdamW { hyper, moments, fused: true }
    }

    /// One update of every parameter that has a gradient (those without are left alone, as in
    /// PyTorch). `grads[i]` is the gradient of `params[i]`, in its dtype or in bf16 (a bf16
    /// model's gradient for its fp32 master); each is multiplied by
    /// `grad_scale` as it is read (the clipping factor of [`grad_norm`]).
    pub fn step(&mut self, params: &[Tensor], grads: &[Option<Tensor>], lr: f64, grad_scale: f64) {
        let _guard = tch::no_grad_guard();
        let h = self.hyper;
        let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1);
        for ((p, grad), m) in params.iter().zip(grads).zip(self.moments.iter_mut()) {
            let Some(grad) = grad else { continue };
            m.step += 1;
            let scalars = Scalars::new(h, lr, m.step, grad_scale);
            if self.fused && fusable(p, grad, m) {
                step_fused(p, grad, m, scalars, threads);
            } else if grad.kind() != p.kind() {
                step_tensors(p, &grad.to_kind(p.kind()), m, scalars);
            } else {
                step_tensors(p, grad, m, scalars);
            }
        }
    }
}

/// The per-update constants, computed once in f64 as PyTorch does.
#[derive(Debug, Clone, Copy)]
struct Scalars {
    grad_scale: f32,
    decay: f64,
    one_minus_beta1: f64,
    beta2: f64,
    one_minus_beta2: f64,
    step_size: f64,
    bias_correction2_sqrt: f64,
    eps: f64,
}

impl Scalars {
    fn new(h: AdamWParams, lr: f64, step: u64, grad_scale: f64) -> Scalars {
        let step = step as f64;
        Scalars {
            grad_scale: grad_scale as f32,
            decay: 1.0 - lr * h.weight_decay,
            one_minus_beta1: 1.0 - h.beta1,
            beta2: h.beta2,
            one_minus_beta2: 1.0 - h.beta2,
            step_size: lr / (1.0 - h.beta1.powf(step)),
            bias_correction2_sqrt: (1.0 - h.beta2.powf(step)).sqrt(),
            eps: h.eps,
        }
    }
}

/// The update as tensor ops (PyTorch's single-tensor AdamW, op for op).
fn step_tensors(p: &Tensor, grad: &Tensor, m: &mut Moments, s: Scalars) {
    let scaled;
    let grad = if s.grad_scale == 1.0 {
        grad
    } else {
        scaled = grad * f64::from(s.grad_scale);
        &scaled
    };
    let mut param = p.shallow_clone();
    if s.decay != 1.0 {
        let _ = param.g_mul_scalar_(s.decay);
    }
    let _ = m.exp_avg.lerp_(grad, s.one_minus_beta1);
    let _ = m.exp_avg_sq.g_mul_scalar_(s.beta2);
    let _ = m.exp_avg_sq.addcmul_(&(grad * s.one_minus_beta2), grad);
    let denom = m.exp_avg_sq.sqrt() / s.bias_correction2_sqrt + s.eps;
    let _ = param.g_add_(&((&m.exp_avg * -s.step_size) / denom));
}

/// Whether the fused pass can run: contiguous CPU buffers of one size, f32 but for the gradient,
/// which may be bf16.
fn fusable(p: &Tensor, grad: &Tensor, m: &Moments) -> bool {
    let n = p.numel();
    let cpu = |t: &Tensor| t.device() == Device::Cpu && t.is_contiguous() && t.numel() == n;
    [p, &m.exp_avg, &m.exp_avg_sq].iter().all(|t| cpu(t) && t.kind() == Kind::Float)
        && cpu(grad)
        && matches!(grad.kind(), Kind::Float | Kind::BFloat16)
}

/// A gradient element the fused pass reads: f32, or bf16 widened exactly to f32.
trait GradElement: Copy + Send + Sync {
    fn widen(self) -> f32;
}

impl GradElement for f32 {
    fn widen(self) -> f32 {
        self
    }
}

impl GradElement for half::bf16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

/// Below this many elements a parameter is updated on the calling thread alone.
const MIN_SPLIT: usize = 1 << 16;

/// The same update in one pass over the four buffers, split over `threads` contiguous ranges.
/// Each element sees PyTorch's operations in its order, in f32.
fn step_fused(p: &Tensor, grad: &Tensor, m: &mut Moments, s: Scalars, threads: usize) {
    if grad.kind() == Kind::BFloat16 {
        step_fused_with::<half::bf16>(p, grad, m, s, threads);
    } else {
        step_fused_with::<f32>(p, grad, m, s, threads);
    }
}

fn step_fused_with<G: GradElement>(p: &Tensor, grad: &Tensor, m: &mut Moments, s: Scalars, threads: usize) {
    let n = p.numel();
    // SAFETY: `fusable` checked that the four tensors are contiguous CPU buffers of `n`
    // elements, f32 but for the gradient, whose element type `G` the caller matched to its
    // kind. They are distinct allocations (a parameter, its gradient and its two moments), no
    // other thread touches them during the step, and the slices end with this call.
    let (param, grad, exp_avg, exp_avg_sq) = unsafe {
        (
            std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts(grad.data_ptr() as *const G, n),
            std::slice::from_raw_parts_mut(m.exp_avg.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts_mut(m.exp_avg_sq.data_ptr() as *mut f32, n),
        )
    };
    let parts = threads.min(n / MIN_SPLIT).max(1);
    if parts == 1 {
        update_range(param, grad, exp_avg, exp_avg_sq, s);
        return;
    }
    let chunk = n.div_ceil(parts);
    std::thread::scope(|scope| {
        let ranges = param
            .chunks_mut(chunk)
            .zip(grad.chunks(chunk))
            .zip(exp_avg.chunks_mut(chunk))
            .zip(exp_avg_sq.chunks_mut(chunk));
        for (((p, g), m), v) in ranges {
            scope.spawn(move || update_range(p, g, m, v, s));
        }
    });
}

fn update_range<G: GradElement>(
    param: &mut [f32],
    grad: &[G],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    s: Scalars,
) {
    let decay = s.decay as f32;
    let one_minus_beta1 = s.one_minus_beta1 as f32;
    let beta2 = s.beta2 as f32;
    let one_minus_beta2 = s.one_minus_beta2 as f32;
    let neg_step_size = -s.step_size as f32;
    let bias_correction2_sqrt = s.bias_correction2_sqrt as f32;
    let eps = s.eps as f32;
    let grad_scale = s.grad_scale;
    for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(exp_avg.iter_mut()).zip(exp_avg_sq.iter_mut()) {
        let g = g.widen() * grad_scale;
        *p *= decay;
        *m += one_minus_beta1 * (g - *m);
        *v = *v * beta2 + (g * one_minus_beta2) * g;
        let denom = v.sqrt() / bias_correction2_sqrt + eps;
        *p += (*m * neg_step_size) / denom;
    }
}

/// The global L2 norm of all gradients (norm of the per-tensor norms, as
/// `torch.nn.utils.clip_grad_norm_`) and the clipping factor that brings it to at most
/// `max_norm` (1 when `max_norm` is 0, the norm is within it, or it is not finite). The factor
/// is for [`AdamW::step`], which applies it as it reads each gradient: one pass over the
/// gradients fewer than scaling them in place first.
pub fn grad_norm(grads: &[Option<Tensor>], max_norm: f64) -> (f64, f64) {
    let _guard = tch::no_grad_guard();
    let grads: Vec<&Tensor> = grads.iter().flatten().collect();
    if grads.is_empty() {
        return (0.0, 1.0);
    }
    // A 16-bit gradient's norm in f32 (in bf16 it would keep 8 bits).
    let norm = |g: &Tensor| match g.kind() {
        Kind::BFloat16 | Kind::Half => g.norm_scalaropt_dtype(2, Kind::Float),
        _ => g.norm(),
    };
    let norms: Vec<Tensor> = grads.iter().map(|g| norm(g)).collect();
    let total = Tensor::stack(&norms, 0).norm().to_kind(Kind::Double).double_value(&[]);
    // In f32, as PyTorch computes it from the f32 norm.
    let coef = if max_norm > 0.0 && total.is_finite() {
        f64::from((max_norm as f32 / (total as f32 + 1e-6)).min(1.0))
    } else {
        1.0
    };
    (total, coef)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grads(params: &[Tensor]) -> Vec<Option<Tensor>> {
        params.iter().map(|p| Some(p.grad()).filter(|g| g.defined())).collect()
    }

    #[test]
    fn first_step_moves_each_weight_by_about_lr_against_its_gradient() {
        let p = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
        let params = [p.shallow_clone()];
        let mut opt = AdamW::new(&params, AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 });
        (&p * Tensor::from_slice(&[3.0f32, -1.0, 0.0])).sum(Kind::Float).backward();
        opt.step(&params, &grads(&params), 0.1, 1.0);
        let got: Vec<f32> = Vec::try_from(p.detach()).unwrap();
        assert!((got[0] - 0.9).abs() < 1e-6 && (got[1] + 1.9).abs() < 1e-6 && got[2] == 0.5, "{got:?}");
        assert_eq!(opt.moments[0].step, 1);
    }

    #[test]
    fn the_fused_pass_equals_the_tensor_ops() {
        // Big enough to be split over threads, odd so that the ranges are uneven.
        let n = 3 * MIN_SPLIT as i64 + 7;
        let h = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
        tch::manual_seed(7);
        let start = Tensor::randn([n], (Kind::Float, Device::Cpu)) * 0.02;
        let (fused, ops) = (start.copy(), start.copy());
        let moments = |p: &Tensor| Moments { exp_avg: p.zeros_like(), exp_avg_sq: p.zeros_like(), step: 0 };
        let (mut mf, mut mo) = (moments(&fused), moments(&ops));
        for (step, grad_scale) in [(1u64, 1.0), (2, 0.37), (3, 1.0)] {
            let grad = Tensor::randn([n], (Kind::Float, Device::Cpu)) * 1e-3;
            assert!(fusable(&fused, &grad, &mf));
            let s = Scalars::new(h, 1e-3, step, grad_scale);
            step_fused(&fused, &grad, &mut mf, s, 3);
            step_tensors(&ops, &grad, &mut mo, s);
        }
        // Same operations in the same order; libtorch's vector kernels may contract a multiply
        // and an add, so allow a few f32 ulps of the weights.
        let worst = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        assert!(worst(&fused, &ops) < 1e-8, "weights differ by {}", worst(&fused, &ops));
        assert!(worst(&mf.exp_avg, &mo.exp_avg) < 1e-9);
        assert!(worst(&mf.exp_avg_sq, &mo.exp_avg_sq) < 1e-12);
        let moved = worst(&fused, &start);
        assert!(moved > 2e-3, "three steps at lr 1e-3 move the weights ({moved})");
    }

    #[test]
    fn a_bf16_gradient_is_read_as_its_fp32_widening() {
        let n = 2 * MIN_SPLIT as i64 + 3;
        let h = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
        tch::manual_seed(11);
        let start = Tensor::randn([n], (Kind::Float, Device::Cpu)) * 0.02;
        let (fused, ops) = (start.copy(), start.copy());
        let moments = |p: &Tensor| Moments { exp_avg: p.zeros_like(), exp_avg_sq: p.zeros_like(), step: 0 };
        let (mut mf, mut mo) = (moments(&fused), moments(&ops));
        for (step, grad_scale) in [(1u64, 1.0), (2, 0.5)] {
            let grad = (Tensor::randn([n], (Kind::Float, Device::Cpu)) * 1e-3).to_kind(Kind::BFloat16);
            assert!(fusable(&fused, &grad, &mf), "an fp32 master with a bf16 gradient takes the fused pass");
            let s = Scalars::new(h, 1e-3, step, grad_scale);
            step_fused(&fused, &grad, &mut mf, s, 2);
            step_tensors(&ops, &grad.to_kind(Kind::Float), &mut mo, s);
        }
        let worst = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        assert!(worst(&fused, &ops) < 1e-8, "weights differ by {}", worst(&fused, &ops));
        assert!(worst(&mf.exp_avg, &mo.exp_avg) < 1e-9);
        assert!(worst(&fused, &start) > 1e-3, "two steps at lr 1e-3 move the weights");
        // Off the fused pass (here: turned off) the gradient is widened first.
        let p = start.copy();
        let mut opt = AdamW::new(&[p.shallow_clone()], h);
        opt.fused = false;
        opt.step(&[p.shallow_clone()], &[Some(start.ones_like().to_kind(Kind::BFloat16))], 1e-3, 1.0);
        assert_eq!(p.kind(), Kind::Float);
        assert!(worst(&p, &start) > 5e-4);
        // The norm of bf16 gradients is taken in f32.
        let g = Tensor::full([3], 1.0 + 1.0 / 128.0, (Kind::BFloat16, Device::Cpu));
        let (norm, _) = grad_norm(&[Some(g)], 0.0);
        assert!((norm - 3f64.sqrt() * (1.0 + 1.0 / 128.0)).abs() < 1e-6, "{norm}");
    }

    #[test]
    fn strided_or_f64_parameters_take_the_tensor_ops() {
        let h = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let p = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let params = [p.shallow_clone()];
        let mut opt = AdamW::new(&params, h);
        assert!(!fusable(&p, &p.ones_like(), &opt.moments[0]));
        opt.step(&params, &[Some(Tensor::from_slice(&[1.0f64, -1.0]))], 0.1, 1.0);
        let got: Vec<f64> = Vec::try_from(p.detach()).unwrap();
        assert!((got[0] - 0.9).abs() < 1e-6 && (got[1] + 1.9).abs() < 1e-6, "{got:?}");
        let wide = Tensor::zeros([4, 4], (Kind::Float, Device::Cpu));
        let column = wide.narrow(1, 0, 1);
        let m = Moments { exp_avg: column.zeros_like(), exp_avg_sq: column.zeros_like(), step: 0 };
        assert!(!fusable(&column, &column.zeros_like(), &m));
    }

    #[test]
    fn weight_decay_is_decoupled() {
        let p = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
        let params = [p.shallow_clone()];
        let mut opt = AdamW::new(&params, AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.5 });
        (&p * 0.0).sum(Kind::Float).backward();
        opt.step(&params, &grads(&params), 0.1, 1.0);
        // Zero gradient: only the decay acts, p · (1 − lr·wd).
        assert!((p.double_value(&[0]) - 2.0 * 0.95).abs() < 1e-6);
    }

    #[test]
    fn clipping_reports_the_raw_norm_and_the_factor_to_max_norm() {
        let a = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        let b = Tensor::from_slice(&[0.0f32]).set_requires_grad(true);
        ((&a * Tensor::from_slice(&[3.0f32, 0.0])).sum(Kind::Float) + (&b * 4.0).sum(Kind::Float)).backward();
        let params = [a.shallow_clone(), b.shallow_clone()];
        let (norm, coef) = grad_norm(&grads(&params), 1.0);
        assert!((norm - 5.0).abs() < 1e-6);
        assert!((coef - 0.2).abs() < 1e-6, "{coef}");
        assert_eq!(grad_norm(&grads(&params), 10.0).1, 1.0, "within max_norm: no clipping");
        assert_eq!(grad_norm(&grads(&params), 0.0).1, 1.0, "max_norm 0: no clipping");
        // The factor acts on the update: a clipped first step is the unclipped one of the
        // scaled gradient (Adam's first step is nearly sign(g)·lr, so compare the moments).
        let h = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let mut opt = AdamW::new(&params, h);
        opt.step(&params, &grads(&params), 0.1, coef);
        let m: Vec<f32> = Vec::try_from(&opt.moments[0].exp_avg).unwrap();
        assert!((m[0] - 0.1 * 3.0 * 0.2).abs() < 1e-7, "{m:?}");
        assert_eq!(a.grad().double_value(&[0]), 3.0, "the gradients themselves are left alone");
    }

    #[test]
    fn a_non_finite_norm_asks_for_no_clipping() {
        let a = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        (&a * f64::NAN).sum(Kind::Float).backward();
        let (norm, coef) = grad_norm(&grads(&[a.shallow_clone()]), 1.0);
        assert!(norm.is_nan());
        assert_eq!(coef, 1.0);
    }
}
