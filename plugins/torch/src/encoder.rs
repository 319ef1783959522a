//! Bidirectional encoders with attention masks and mean pooling: BERT, XLM-RoBERTa (and
//! multilingual-e5, which is a BERT over the XLM-R vocabulary) and ModernBERT.

use std::path::Path;

use lrpo_core::{Error, Result};
use tch::{Device, Kind, Tensor};

use crate::decoder::{take_param, Linear};
use crate::hf_config::HfConfig;
use crate::modernbert::ModernBert;
use crate::tensors::TensorStore;

/// Last hidden states and the mask they were computed under.
#[derive(Debug)]
pub struct EncoderOutput {
    /// `[batch, seq, hidden]`.
    pub hidden: Tensor,
    /// `[batch, seq]`, 1 for tokens, 0 for padding.
    pub mask: Tensor,
}

impl EncoderOutput {
    /// Mean of the token states over non-padding positions, `[batch, hidden]` in f32.
    pub fn mean_pool(&self) -> Tensor {
        let m = self.mask.to_kind(Kind::Float).unsqueeze(-1);
        let summed = (self.hidden.to_kind(Kind::Float) * &m).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        summed / m.sum_dim_intlist([1i64].as_slice(), false, Kind::Float).clamp_min(1e-9)
    }
}

/// Unit-length rows, for cosine similarity by dot product.
pub fn l2_normalize(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2.0, [-1i64].as_slice(), true).clamp_min(1e-12)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Activation {
    Gelu,
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    pub(crate) fn parse(cfg: &HfConfig, field: &str, default: &str) -> Result<Self> {
        Ok(match cfg.str_or(field, default)? {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            other => {
                return Err(Error::input(
                    format!("{} field `{field}`", cfg.path),
                    format!("unsupported activation `{other}`"),
                ))
            }
        })
    }
    pub(crate) fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Gelu => x.gelu("none"),
            Activation::GeluTanh => x.gelu("tanh"),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct LayerNorm {
    pub w: Tensor,
    pub b: Option<Tensor>,
    pub eps: f64,
}

impl LayerNorm {
    pub(crate) fn load(
        store: &mut TensorStore,
        params: &mut Vec<(String, Tensor)>,
        name: &str,
        dim: i64,
        bias: bool,
        eps: f64,
    ) -> Result<Self> {
        let w = take_param(store, params, &format!("{name}.weight"), &[dim])?;
        let b = if bias { Some(take_param(store, params, &format!("{name}.bias"), &[dim])?) } else { None };
        Ok(LayerNorm { w, b, eps })
    }
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let dim = x.size()[x.dim() - 1];
        x.layer_norm([dim].as_slice(), Some(&self.w), self.b.as_ref(), self.eps, false)
    }
}

#[derive(Debug)]
struct BertLayer {
    q: Linear,
    k: Linear,
    v: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: LayerNorm,
}

/// BERT / XLM-RoBERTa (post-LayerNorm, absolute positions).
#[derive(Debug)]
pub struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Option<Tensor>,
    emb_norm: LayerNorm,
    layers: Vec<BertLayer>,
    heads: i64,
    act: Activation,
    /// XLM-R counts positions from `pad_token_id + 1`, skipping padding; BERT from 0.
    roberta_positions: Option<i64>,
    vocab: i64,
    params: Vec<(String, Tensor)>,
}

/// Tensor-name prefix a checkpoint uses for the bare encoder (`bert.`, `roberta.`, `model.` or none).
pub(crate) fn detect_prefix(store: &TensorStore, probe: &str, candidates: &[&str]) -> Result<String> {
    for p in candidates {
        if store.contains(&format!("{p}{probe}")) {
            return Ok(p.to_string());
        }
    }
    Err(Error::input(store.source().to_string(), format!("no `{probe}` tensor (tried prefixes {candidates:?})")))
}

impl Bert {
    fn from_store(cfg: &HfConfig, mut store: TensorStore) -> Result<Self> {
        let roberta = matches!(cfg.model_type()?, "xlm-roberta" | "roberta" | "camembert");
        let h = cfg.usize("hidden_size")? as i64;
        let heads = cfg.usize("num_attention_heads")? as i64;
        if heads == 0 || h % heads != 0 {
            return Err(Error::input(
                format!("{} field `num_attention_heads`", cfg.path),
                format!("{heads} does not divide hidden_size {h}"),
            ));
        }
        let inter = cfg.usize("intermediate_size")? as i64;
        let vocab = cfg.usize("vocab_size")? as i64;
        let max_pos = cfg.usize("max_position_embeddings")? as i64;
        let type_vocab = cfg.opt_usize("type_vocab_size")?.unwrap_or(2) as i64;
        let eps = cfg.f64_or("layer_norm_eps", 1e-12)?;
        let pad = cfg.opt_usize("pad_token_id")?.unwrap_or(1) as i64;
        let pre = detect_prefix(&store, "embeddings.word_embeddings.weight", &["", "bert.", "roberta.", "model."])?;
        let mut params = Vec::new();
        let p = &mut params;
        let word = take_param(&mut store, p, &format!("{pre}embeddings.word_embeddings.weight"), &[vocab, h])?;
        let position =
            take_param(&mut store, p, &format!("{pre}embeddings.position_embeddings.weight"), &[max_pos, h])?;
        let token_type = if type_vocab > 0 {
            Some(take_param(&mut store, p, &format!("{pre}embeddings.token_type_embeddings.weight"), &[type_vocab, h])?)
        } else {
            None
        };
        let emb_norm = LayerNorm::load(&mut store, p, &format!("{pre}embeddings.LayerNorm"), h, true, eps)?;
        let mut layers = Vec::new();
        for i in 0..cfg.usize("num_hidden_layers")? {
            let l = format!("{pre}encoder.layer.{i}");
            layers.push(BertLayer {
                q: Linear::load(&mut store, p, &format!("{l}.attention.self.query"), h, h, true)?,
                k: Linear::load(&mut store, p, &format!("{l}.attention.self.key"), h, h, true)?,
                v: Linear::load(&mut store, p, &format!("{l}.attention.self.value"), h, h, true)?,
                attn_out: Linear::load(&mut store, p, &format!("{l}.attention.output.dense"), h, h, true)?,
                attn_norm: LayerNorm::load(&mut store, p, &format!("{l}.attention.output.LayerNorm"), h, true, eps)?,
                inter: Linear::load(&mut store, p, &format!("{l}.intermediate.dense"), inter, h, true)?,
                out: Linear::load(&mut store, p, &format!("{l}.output.dense"), h, inter, true)?,
                out_norm: LayerNorm::load(&mut store, p, &format!("{l}.output.LayerNorm"), h, true, eps)?,
            });
        }
        // Pooler and task heads belong to other uses of the checkpoint; we only encode.
        let left = store.leftovers(|n| {
            n.contains("pooler.")
                || n.ends_with("position_ids")
                || !n.starts_with(&pre)
                || n.starts_with("lm_head")
                || n.starts_with("cls.")
        });
        if !left.is_empty() {
            return Err(Error::input(
                store.source().to_string(),
                format!("unexpected encoder tensors: {}", left.join(", ")),
            ));
        }
        Ok(Bert {
            word,
            position,
            token_type,
            emb_norm,
            layers,
            heads,
            act: Activation::parse(cfg, "hidden_act", "gelu")?,
            roberta_positions: roberta.then_some(pad),
            vocab,
            params,
        })
    }

    fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t) = (ids.size()[0], ids.size()[1]);
        let positions = match self.roberta_positions {
            Some(pad) => {
                let real = ids.ne(pad).to_kind(Kind::Int64);
                real.cumsum(1, Kind::Int64) * &real + pad
            }
            None => Tensor::arange(t, (Kind::Int64, ids.device())).unsqueeze(0).expand([b, t], false),
        };
        let max_pos = self.position.size()[0];
        if positions.max().int64_value(&[]) >= max_pos {
            return Err(Error::input(
                "encoder input_ids",
                format!("sequence of {t} tokens exceeds {max_pos} position embeddings"),
            ));
        }
        let mut x = Tensor::embedding(&self.word, ids, -1, false, false)
            + Tensor::embedding(&self.position, &positions, -1, false, false);
        if let Some(tt) = &self.token_type {
            x = &x + tt.get(0).view([1, 1, -1]);
        }
        let mut x = self.emb_norm.forward(&x);
        let h = x.size()[2];
        let hd = h / self.heads;
        let keys = mask.ne(0).view([b, 1, 1, t]);
        for l in &self.layers {
            let split = |y: Tensor| y.view([b, t, self.heads, hd]).transpose(1, 2);
            let q = split(l.q.forward(&x));
            let k = split(l.k.forward(&x));
            let v = split(l.v.forward(&x));
            let a = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&keys), 0.0, false, None, false);
            let a = a.transpose(1, 2).reshape([b, t, h]);
            x = l.attn_norm.forward(&(l.attn_out.forward(&a) + &x));
            let f = l.out.forward(&self.act.apply(&l.inter.forward(&x)));
            x = l.out_norm.forward(&(f + &x));
        }
        Ok(x)
    }
}

#[derive(Debug)]
enum Arch {
    Bert(Bert),
    ModernBert(ModernBert),
}

/// An encoder of any supported family on one device in one dtype.
#[derive(Debug)]
pub struct Encoder {
    arch: Arch,
    device: Device,
    kind: Kind,
}

impl Encoder {
    /// Loads `config.json` and the safetensors checkpoint of a Hugging Face model directory.
    pub fn from_dir(dir: &Path, kind: Kind, device: Device) -> Result<Self> {
        let cfg = HfConfig::read(&dir.join("config.json"))?;
        let store = TensorStore::load_dir(dir, kind, device)?;
        Self::from_store(&cfg, store, kind, device)
    }

    pub fn from_store(cfg: &HfConfig, store: TensorStore, kind: Kind, device: Device) -> Result<Self> {
        let arch = match cfg.model_type()? {
            "bert" | "xlm-roberta" | "roberta" | "camembert" => Arch::Bert(Bert::from_store(cfg, store)?),
            "modernbert" => Arch::ModernBert(ModernBert::from_store(cfg, store, device)?),
            other => {
                return Err(Error::input(
                    format!("{} field `model_type`", cfg.path),
                    format!("`{other}` is not a supported encoder (bert, xlm-roberta, modernbert)"),
                ))
            }
        };
        Ok(Encoder { arch, device, kind })
    }

    pub fn device(&self) -> Device {
        self.device
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Every weight under its Hugging Face name (shallow clones sharing storage).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let params = match &self.arch {
            Arch::Bert(m) => &m.params,
            Arch::ModernBert(m) => &m.params,
        };
        params.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect()
    }

    /// Last hidden states for `input_ids` `[batch, seq]` under `attention_mask` (1 = token).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<EncoderOutput> {
        let vocab = match &self.arch {
            Arch::Bert(m) => m.vocab,
            Arch::ModernBert(m) => m.vocab,
        };
        let (b, t) = crate::check_token_batch(input_ids, vocab, "encoder input_ids")?;
        if attention_mask.size() != [b, t] {
            return Err(Error::input(
                "encoder attention_mask",
                format!("shape {:?}, expected [{b}, {t}]", attention_mask.size()),
            ));
        }
        let ids = input_ids.to_kind(Kind::Int64).to_device(self.device);
        let mask = attention_mask.to_kind(Kind::Int64).to_device(self.device);
        let hidden = match &self.arch {
            Arch::Bert(m) => m.forward(&ids, &mask)?,
            Arch::ModernBert(m) => m.forward(&ids, &mask)?,
        };
        Ok(EncoderOutput { hidden, mask })
    }
}
