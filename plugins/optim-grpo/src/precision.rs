//! Mixed precision: the model computes in bf16 or f16, the optimizer keeps fp32 master weights
//! and fp32 AdamW moments.
//!
//! Why: at lr 1e-6 an AdamW update is about 1e-6, while a bf16 weight of magnitude 0.02 has an
//! ulp of about 1.2e-4, so an update applied to bf16 weights rounds away. Updates therefore land
//! on fp32 masters, and the compute copy is refreshed from them after every update; the engine
//! gets the compute copy (half the bytes of fp32).
//!
//! Bytes per parameter (policy only; the frozen reference adds one compute-dtype copy):
//!
//! | `dtype` | weights | gradients | master | AdamW moments | total |
//! |---|---|---|---|---|---|
//! | f32 | 4 | 4 | - | 8 | 16 |
//! | bf16 / f16 | 2 | 2 (+4 while unscaling) | 4 | 8 | 16 (+4) |
//!
//! f16's 5-bit exponent flushes small gradients to zero, so f16 scales the loss before the
//! backward pass and unscales in fp32 (a dynamic scale: halved on an overflow, which skips that
//! update, doubled after a run of clean updates). bf16 has f32's exponent and needs no scale.

use lrpo_core::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The dynamic loss scale of f16 training (PyTorch's GradScaler defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f64,
    /// Clean updates since the scale last changed.
    pub clean_updates: u64,
}

const INITIAL_SCALE: f64 = 65536.0;
const GROWTH_INTERVAL: u64 = 2000;

impl LossScale {
    pub fn new() -> Self {
        LossScale { scale: INITIAL_SCALE, clean_updates: 0 }
    }

    /// After an update: back off on an overflow, grow after a run of clean updates.
    pub fn observe(&mut self, finite: bool) {
        if finite {
            self.clean_updates += 1;
            if self.clean_updates >= GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.clean_updates = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.clean_updates = 0;
        }
    }
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale::new()
    }
}

/// The fp32 weights the optimizer updates when the model computes in a 16-bit dtype.
#[derive(Debug)]
pub struct Masters {
    /// One per model parameter, in the model's parameter order.
    pub weights: Vec<Tensor>,
    /// `Some` for f16 only.
    pub loss_scale: Option<LossScale>,
}

impl Masters {
    /// Masters from an fp32 load of the same model (not from the 16-bit copy, which has already
    /// lost the low bits of the base weights).
    pub fn new(fp32_params: Vec<Tensor>, compute: Kind) -> Masters {
        let weights = fp32_params.into_iter().map(|t| t.detach().set_requires_grad(false)).collect();
        let loss_scale = (compute == Kind::Half).then(LossScale::new);
        Masters { weights, loss_scale }
    }

    pub fn scale(&self) -> f64 {
        self.loss_scale.map_or(1.0, |s| s.scale)
    }

    /// Writes the masters into the compute copy (rounded to its dtype).
    pub fn publish(&self, params: &[(String, Tensor)]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for ((name, p), m) in params.iter().zip(&self.weights) {
            p.shallow_clone()
                .f_copy_(m)
                .map_err(|e| lrpo_core::Error::runtime(format!("refreshing `{name}` from its master weight: {e}")))?;
        }
        Ok(())
    }
}

/// The gradients the optimizer applies, unscaled: `None` where a parameter has none (it is
/// left alone, as in PyTorch). In full f32 these are the gradients themselves; bf16 gradients
/// too when `keep_bf16` (AdamW and the norm widen them as they read them; a data-parallel sum
/// wants them in fp32 first); f16 ones are widened to fp32 and divided by the loss scale.
pub fn gradients(params: &[(String, Tensor)], scale: f64, keep_bf16: bool) -> Vec<Option<Tensor>> {
    let _guard = tch::no_grad_guard();
    params
        .iter()
        .map(|(_, p)| {
            let g = p.grad();
            if !g.defined() {
                None
            } else if scale == 1.0 && (g.kind() == Kind::Float || (keep_bf16 && g.kind() == Kind::BFloat16)) {
                Some(g)
            } else if scale == 1.0 {
                // bf16 to be summed over ranks: a copy in f32, and no pass dividing by 1.
                Some(g.to_kind(Kind::Float))
            } else {
                Some(g.to_kind(Kind::Float) / scale)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_backs_off_on_overflow_and_grows_after_clean_updates() {
        let mut s = LossScale::new();
        s.observe(false);
        assert_eq!(s.scale, INITIAL_SCALE / 2.0);
        for _ in 0..GROWTH_INTERVAL {
            s.observe(true);
        }
        assert_eq!((s.scale, s.clean_updates), (INITIAL_SCALE, 0));
        let mut low = LossScale { scale: 1.0, clean_updates: 5 };
        low.observe(false);
        assert_eq!(low.scale, 1.0, "never below 1");
    }

    #[test]
    fn gradients_come_out_fp32_and_unscaled() {
        let p = Tensor::from_slice(&[1.0f32, 2.0]).to_kind(Kind::BFloat16).set_requires_grad(true);
        (&p * 8.0).sum(Kind::Float).backward();
        let params =
            vec![("p".to_string(), p.shallow_clone()), ("q".to_string(), Tensor::zeros([1], tch::kind::FLOAT_CPU))];
        let grads = gradients(&params, 4.0, true);
        let g = grads[0].as_ref().expect("p has a gradient");
        assert_eq!(g.kind(), Kind::Float);
        assert_eq!(Vec::<f32>::try_from(g).unwrap(), vec![2.0, 2.0]);
        assert!(grads[1].is_none());
        // Unscaled bf16 stays bf16 unless asked for fp32.
        assert_eq!(gradients(&params, 1.0, true)[0].as_ref().unwrap().kind(), Kind::BFloat16);
        assert_eq!(gradients(&params, 1.0, false)[0].as_ref().unwrap().kind(), Kind::Float);
    }

    #[test]
    fn publishing_rounds_the_masters_into_the_compute_copy() {
        let model = Tensor::zeros([2], (Kind::BFloat16, tch::Device::Cpu));
        let masters = Masters::new(vec![Tensor::from_slice(&[0.02f32 + 1e-6, -1.5])], Kind::BFloat16);
        masters.publish(&[("w".into(), model.shallow_clone())]).unwrap();
        let got: Vec<f32> = Vec::try_from(model.to_kind(Kind::Float)).unwrap();
        assert_eq!(got, vec![half_round(0.02 + 1e-6), -1.5]);
        assert!(masters.loss_scale.is_none(), "bf16 needs no loss scale");
    }

    fn half_round(v: f32) -> f32 {
        Tensor::from_slice(&[v]).to_kind(Kind::BFloat16).to_kind(Kind::Float).double_value(&[0]) as f32
    }
}
