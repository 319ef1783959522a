//! AdamW on tch tensors, written out because tch's optimizer (libtorch `torch::optim`) hides its
//! moment buffers, which a checkpoint must carry. Same update as PyTorch's single-tensor AdamW.

use tch::{Kind, Tensor};

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
}

impl AdamW {
    pub fn new(params: &[Tensor], hyper: AdamWParams) -> Self {
        let moments =
            params.iter().map(|p| Moments { exp_avg: p.zeros_like(), exp_avg_sq: p.zeros_like(), step: 0 }).collect();
        AdamW { hyper, moments }
    }

    /// One update of every parameter that has a gradient (those without are left alone, as in
    /// PyTorch). `grads[i]` is the gradient of `params[i]`, in its dtype.
    pub fn step(&mut self, params: &[Tensor], grads: &[Option<Tensor>], lr: f64) {
        let _guard = tch::no_grad_guard();
        let h = self.hyper;
        for ((p, grad), m) in params.iter().zip(grads).zip(self.moments.iter_mut()) {
            let Some(grad) = grad else { continue };
            m.step += 1;
            let mut param = p.shallow_clone();
            if h.weight_decay != 0.0 {
                let _ = param.g_mul_scalar_(1.0 - lr * h.weight_decay);
            }
            let _ = m.exp_avg.lerp_(grad, 1.0 - h.beta1);
            let _ = m.exp_avg_sq.g_mul_scalar_(h.beta2);
            let _ = m.exp_avg_sq.addcmul_(&(grad * (1.0 - h.beta2)), grad);
            let step = m.step as f64;
            let bias_correction1 = 1.0 - h.beta1.powf(step);
            let bias_correction2_sqrt = (1.0 - h.beta2.powf(step)).sqrt();
            let step_size = lr / bias_correction1;
            let denom = m.exp_avg_sq.sqrt() / bias_correction2_sqrt + h.eps;
            let _ = param.g_add_(&((&m.exp_avg * -step_size) / denom));
        }
    }
}

/// The global L2 norm of all gradients (norm of the per-tensor norms, as
/// `torch.nn.utils.clip_grad_norm_`), and, when `max_norm > 0` and the norm is finite, the
/// gradients scaled in place so that it is at most `max_norm`.
pub fn clip_grad_norm(grads: &[Option<Tensor>], max_norm: f64) -> f64 {
    let _guard = tch::no_grad_guard();
    let grads: Vec<&Tensor> = grads.iter().flatten().collect();
    if grads.is_empty() {
        return 0.0;
    }
    let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
    let total = Tensor::stack(&norms, 0).norm();
    let total_value = total.to_kind(Kind::Double).double_value(&[]);
    if max_norm > 0.0 && total_value.is_finite() {
        let coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
        for g in &grads {
            let _ = g.shallow_clone().g_mul_(&coef);
        }
    }
    total_value
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
        opt.step(&params, &grads(&params), 0.1);
        let got: Vec<f32> = Vec::try_from(p.detach()).unwrap();
        assert!((got[0] - 0.9).abs() < 1e-6 && (got[1] + 1.9).abs() < 1e-6 && got[2] == 0.5, "{got:?}");
        assert_eq!(opt.moments[0].step, 1);
    }

    #[test]
    fn weight_decay_is_decoupled() {
        let p = Tensor::from_slice(&[2.0f32]).set_requires_grad(true);
        let params = [p.shallow_clone()];
        let mut opt = AdamW::new(&params, AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.5 });
        (&p * 0.0).sum(Kind::Float).backward();
        opt.step(&params, &grads(&params), 0.1);
        // Zero gradient: only the decay acts, p · (1 − lr·wd).
        assert!((p.double_value(&[0]) - 2.0 * 0.95).abs() < 1e-6);
    }

    #[test]
    fn clipping_scales_to_max_norm_and_reports_the_raw_norm() {
        let a = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        let b = Tensor::from_slice(&[0.0f32]).set_requires_grad(true);
        ((&a * Tensor::from_slice(&[3.0f32, 0.0])).sum(Kind::Float) + (&b * 4.0).sum(Kind::Float)).backward();
        let params = [a.shallow_clone(), b.shallow_clone()];
        let norm = clip_grad_norm(&grads(&params), 1.0);
        assert!((norm - 5.0).abs() < 1e-6);
        let ga = a.grad().double_value(&[0]);
        assert!((ga - 0.6).abs() < 1e-6, "{ga}");
    }

    #[test]
    fn non_finite_norm_leaves_gradients_alone() {
        let a = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        (&a * f64::NAN).sum(Kind::Float).backward();
        assert!(clip_grad_norm(&grads(&[a.shallow_clone()]), 1.0).is_nan());
    }
}
