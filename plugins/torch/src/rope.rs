//! Rotary position embeddings in the "rotate half" layout Hugging Face checkpoints use.

use std::f64::consts::PI;

use tch::{Device, Kind, Tensor};

use crate::hf_config::RopeScaling;

/// Inverse frequencies for one head of `dim` rotary channels.
#[derive(Debug)]
pub struct Rotary {
    inv_freq: Tensor,
}

impl Rotary {
    pub fn new(dim: i64, theta: f64, scaling: &RopeScaling, device: Device) -> Self {
        // Same f32 arithmetic as transformers, so greedy decoding matches it token for token.
        let exponents =
            Tensor::arange_start_step(0, dim, 2, (Kind::Int64, Device::Cpu)).to_kind(Kind::Float) / dim as f64;
        let base = Tensor::from(theta as f32);
        let inv_t = base.pow(&exponents).reciprocal();
        let mut inv: Vec<f64> = Vec::<f32>::try_from(&inv_t).unwrap_or_default().into_iter().map(f64::from).collect();
        match *scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => inv.iter_mut().for_each(|f| *f /= factor),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position } => {
                let low_wavelen = original_max_position / low_freq_factor;
                let high_wavelen = original_max_position / high_freq_factor;
                for f in inv.iter_mut() {
                    let wavelen = 2.0 * PI / *f;
                    if wavelen > low_wavelen {
                        *f /= factor;
                    } else if wavelen >= high_wavelen {
                        let smooth =
                            (original_max_position / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                        *f = (1.0 - smooth) * *f / factor + smooth * *f;
                    }
                }
            }
        }
        // transformers keeps inv_freq in f32; computing it in f64 first changes nothing visible.
        let inv: Vec<f32> = inv.into_iter().map(|f| f as f32).collect();
        Rotary { inv_freq: Tensor::from_slice(&inv).to_device(device) }
    }

    /// `(cos, sin)` of shape `[batch, 1, seq, dim]` for integer `positions` `[batch, seq]`, in `kind`.
    pub fn cos_sin(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * self.inv_freq.view([1, 1, -1]);
        let emb = Tensor::cat(&[&freqs, &freqs], -1).unsqueeze(1);
        (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
    }
}

fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size()[x.dim() - 1] / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    Tensor::cat(&[&x2.neg(), &x1], -1)
}

/// Applies the rotation to `x` `[batch, heads, seq, dim]`.
pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    x * cos + rotate_half(x) * sin
}
