//! ModernBERT (e.g. mmBERT): pre-LayerNorm, rotary positions, GeGLU MLP, global attention every
//! few layers and a sliding window in between.

use lrpo_core::{Error, Result};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

use crate::decoder::{take_param, Linear};
use crate::encoder::{detect_prefix, Activation, LayerNorm};
use crate::hf_config::{HfConfig, RopeScaling};
use crate::rope::{self, Rotary};
use crate::tensors::TensorStore;

#[derive(Debug)]
struct Layer {
    /// The first layer has none: the embedding norm already normalised its input.
    attn_norm: Option<LayerNorm>,
    wqkv: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    wi: Linear,
    mlp_out: Linear,
    sliding: bool,
}

#[derive(Debug)]
pub struct ModernBert {
    embed: Tensor,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    heads: i64,
    act: Activation,
    /// Half-window: a sliding layer's token sees tokens at most this far away.
    half_window: i64,
    global_rope: Rotary,
    local_rope: Rotary,
    pub(crate) vocab: i64,
    pub(crate) params: Vec<(String, Tensor)>,
}

/// `rope_theta` for one layer type from v5 `rope_parameters`, else the v4 field, else the default.
fn rope_theta(cfg: &HfConfig, layer_type: &str, v4_field: &str, default: f64) -> Result<f64> {
    if let Some(t) = cfg
        .opt("rope_parameters")
        .and_then(|p| p.get(layer_type))
        .and_then(|p| p.get("rope_theta"))
        .and_then(Value::as_f64)
    {
        return Ok(t);
    }
    cfg.f64_or(v4_field, default)
}

impl ModernBert {
    pub(crate) fn from_store(cfg: &HfConfig, mut store: TensorStore, device: Device) -> Result<Self> {
        let bad = |field: &str, msg: String| Error::input(format!("{} field `{field}`", cfg.path), msg);
        let h = cfg.usize("hidden_size")? as i64;
        let heads = cfg.usize("num_attention_heads")? as i64;
        if heads == 0 || h % heads != 0 || (h / heads) % 2 != 0 {
            return Err(bad(
                "num_attention_heads",
                format!("{heads} heads do not split hidden_size {h} into even head dims"),
            ));
        }
        let inter = cfg.usize("intermediate_size")? as i64;
        let vocab = cfg.usize("vocab_size")? as i64;
        let n_layers = cfg.usize("num_hidden_layers")?;
        let eps = cfg.f64_or("norm_eps", 1e-5)?;
        let norm_bias = cfg.bool_or("norm_bias", false)?;
        let attn_bias = cfg.bool_or("attention_bias", false)?;
        let mlp_bias = cfg.bool_or("mlp_bias", false)?;
        let sliding: Vec<bool> = match cfg.opt("layer_types") {
            Some(Value::Array(types)) => {
                if types.len() != n_layers {
                    return Err(bad("layer_types", format!("{} entries for {n_layers} layers", types.len())));
                }
                types
                    .iter()
                    .map(|t| match t.as_str() {
                        Some("sliding_attention") => Ok(true),
                        Some("full_attention") => Ok(false),
                        _ => Err(bad("layer_types", format!("unknown layer type {t}"))),
                    })
                    .collect::<Result<_>>()?
            }
            Some(other) => return Err(bad("layer_types", format!("expected a list, got {other}"))),
            None => {
                let every = cfg.opt_usize("global_attn_every_n_layers")?.unwrap_or(3).max(1);
                (0..n_layers).map(|i| i % every != 0).collect()
            }
        };
        let hd = h / heads;
        let global_rope = Rotary::new(
            hd,
            rope_theta(cfg, "full_attention", "global_rope_theta", 160_000.0)?,
            &RopeScaling::None,
            device,
        );
        let local_rope = Rotary::new(
            hd,
            rope_theta(cfg, "sliding_attention", "local_rope_theta", 10_000.0)?,
            &RopeScaling::None,
            device,
        );

        let pre = detect_prefix(&store, "embeddings.tok_embeddings.weight", &["", "model."])?;
        let mut params = Vec::new();
        let p = &mut params;
        let embed = take_param(&mut store, p, &format!("{pre}embeddings.tok_embeddings.weight"), &[vocab, h])?;
        let emb_norm = LayerNorm::load(&mut store, p, &format!("{pre}embeddings.norm"), h, norm_bias, eps)?;
        let mut layers = Vec::with_capacity(n_layers);
        for (i, &sliding) in sliding.iter().enumerate() {
            let l = format!("{pre}layers.{i}");
            layers.push(Layer {
                attn_norm: if i == 0 {
                    None
                } else {
                    Some(LayerNorm::load(&mut store, p, &format!("{l}.attn_norm"), h, norm_bias, eps)?)
                },
                wqkv: Linear::load(&mut store, p, &format!("{l}.attn.Wqkv"), 3 * h, h, attn_bias)?,
                wo: Linear::load(&mut store, p, &format!("{l}.attn.Wo"), h, h, attn_bias)?,
                mlp_norm: LayerNorm::load(&mut store, p, &format!("{l}.mlp_norm"), h, norm_bias, eps)?,
                wi: Linear::load(&mut store, p, &format!("{l}.mlp.Wi"), 2 * inter, h, mlp_bias)?,
                mlp_out: Linear::load(&mut store, p, &format!("{l}.mlp.Wo"), h, inter, mlp_bias)?,
                sliding,
            });
        }
        let final_norm = LayerNorm::load(&mut store, p, &format!("{pre}final_norm"), h, norm_bias, eps)?;
        let left = store.leftovers(|n| {
            !n.starts_with(&pre) || n.starts_with("head.") || n.starts_with("decoder.") || n.starts_with("classifier.")
        });
        if !left.is_empty() {
            return Err(Error::input(
                store.source().to_string(),
                format!("unexpected ModernBERT tensors: {}", left.join(", ")),
            ));
        }
        Ok(ModernBert {
            embed,
            emb_norm,
            layers,
            final_norm,
            heads,
            act: Activation::parse(cfg, "hidden_activation", "gelu")?,
            half_window: cfg.opt_usize("local_attention")?.unwrap_or(128) as i64 / 2,
            global_rope,
            local_rope,
            vocab,
            params,
        })
    }

    pub(crate) fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t) = (ids.size()[0], ids.size()[1]);
        let device = ids.device();
        let mut x = self.emb_norm.forward(&Tensor::embedding(&self.embed, ids, -1, false, false));
        let (h, kind) = (x.size()[2], x.kind());
        let hd = h / self.heads;
        let positions = Tensor::arange(t, (Kind::Int64, device)).unsqueeze(0).expand([b, t], false);
        let (gcos, gsin) = self.global_rope.cos_sin(&positions, kind);
        let (lcos, lsin) = self.local_rope.cos_sin(&positions, kind);
        let keys = mask.ne(0).view([b, 1, 1, t]);
        let idx = Tensor::arange(t, (Kind::Int64, device));
        let dist = (idx.unsqueeze(1) - idx.unsqueeze(0)).abs();
        // Each token may always see itself, so a padding token far from any real one still has a
        // key and gives no NaN that could leak into real tokens through 0 * NaN.
        let own = dist.eq(0).view([1, 1, t, t]);
        let global_mask = keys.logical_or(&own);
        let local_mask = keys.logical_and(&dist.le(self.half_window).view([1, 1, t, t])).logical_or(&own);
        for l in &self.layers {
            let normed = match &l.attn_norm {
                Some(n) => n.forward(&x),
                None => x.shallow_clone(),
            };
            let qkv = l.wqkv.forward(&normed).view([b, t, 3, self.heads, hd]);
            let q = qkv.select(2, 0).transpose(1, 2);
            let k = qkv.select(2, 1).transpose(1, 2);
            let v = qkv.select(2, 2).transpose(1, 2);
            let (cos, sin, m) = if l.sliding { (&lcos, &lsin, &local_mask) } else { (&gcos, &gsin, &global_mask) };
            let q = rope::apply(&q, cos, sin);
            let k = rope::apply(&k, cos, sin);
            let a = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(m), 0.0, false, None, false);
            x = &x + l.wo.forward(&a.transpose(1, 2).reshape([b, t, h]));
            let y = l.wi.forward(&l.mlp_norm.forward(&x));
            let parts = y.chunk(2, -1);
            x = &x + l.mlp_out.forward(&(self.act.apply(&parts[0]) * &parts[1]));
        }
        Ok(self.final_norm.forward(&x))
    }
}
