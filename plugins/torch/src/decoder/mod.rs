//! Decoder-only LMs in Hugging Face layout: Llama family, Qwen2/2.5 (q/k/v biases), Qwen3
//! (per-head q/k RMSNorm); grouped-query attention, tied or untied embeddings.

use std::path::Path;

use lrpo_core::{Error, Result};
use tch::{Device, Kind, Tensor};

use crate::gemm::{self, PackedWeight};
use crate::hf_config::{DecoderConfig, DecoderFamily, HfConfig};
use crate::rope::{self, Rotary};
use crate::tensors::TensorStore;

mod packed;
pub use packed::DecodeWeights;

#[derive(Debug)]
pub(crate) struct Linear {
    pub w: Tensor,
    pub b: Option<Tensor>,
}

impl Linear {
    pub(crate) fn load(
        store: &mut TensorStore,
        params: &mut Vec<(String, Tensor)>,
        name: &str,
        out: i64,
        inp: i64,
        bias: bool,
    ) -> Result<Self> {
        let w = store.take(&format!("{name}.weight"), &[out, inp])?;
        params.push((format!("{name}.weight"), w.shallow_clone()));
        let b = if bias {
            let b = store.take(&format!("{name}.bias"), &[out])?;
            params.push((format!("{name}.bias"), b.shallow_clone()));
            Some(b)
        } else {
            None
        };
        Ok(Linear { w, b })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        gemm::linear(x, &self.w, self.b.as_ref())
    }

    /// [`forward`](Self::forward), through `packed` (this weight packed for decoding) where it
    /// applies: few rows and nothing that needs gradients.
    fn forward_with(&self, x: &Tensor, packed: Option<&PackedWeight>) -> Tensor {
        match packed {
            Some(p) if packed::applies(x, &self.w) => {
                let y = p.apply(x);
                match &self.b {
                    Some(b) => y + b,
                    None => y,
                }
            }
            _ => self.forward(x),
        }
    }
}

pub(crate) fn take_param(
    store: &mut TensorStore,
    params: &mut Vec<(String, Tensor)>,
    name: &str,
    shape: &[i64],
) -> Result<Tensor> {
    let t = store.take(name, shape)?;
    params.push((name.to_string(), t.shallow_clone()));
    Ok(t)
}

/// RMSNorm computed in f32 and cast back before the weight, as transformers does.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Tensor {
    let xf = x.to_kind(Kind::Float);
    let var = xf.square().mean_dim(-1, true, Kind::Float);
    weight * (xf * (var + eps).rsqrt()).to_kind(x.kind())
}

#[derive(Debug)]
struct Block {
    input_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    post_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Block {
    /// The linear layers in the order [`DecodeWeights`] packs them.
    fn linears(&self) -> [&Linear; 7] {
        [&self.q, &self.k, &self.v, &self.o, &self.gate, &self.up, &self.down]
    }
}

/// Keys and values of every layer for the tokens seen so far, plus their padding mask.
///
/// Each layer's keys and values are `[batch, kv_heads, capacity, head_dim]`, of which the first
/// [`len`](Self::len) positions hold data. Without spare capacity every new token concatenates
/// the whole cache into a fresh tensor; [`reserve`](Self::reserve) makes room once so that
/// decoding writes each new position in place (the concatenation was a quarter of a decode
/// step on CPU).
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    mask: Option<Tensor>,
}

impl KvCache {
    pub fn new() -> Self {
        KvCache::default()
    }
    /// Number of positions cached (padding included).
    pub fn len(&self) -> i64 {
        self.mask.as_ref().map_or(0, |m| m.size()[1])
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn batch(&self) -> Option<i64> {
        self.mask.as_ref().map(|m| m.size()[0])
    }
    /// Positions the cache can hold without reallocating (`len()` when nothing is reserved).
    pub fn capacity(&self) -> i64 {
        self.layers.first().map_or(0, |(k, _)| k.size()[2])
    }
    /// Makes room for `extra` more positions in every layer, so that the next `extra` tokens
    /// are written in place. Does nothing on an empty cache or when the room is there already.
    pub fn reserve(&mut self, extra: i64) {
        let len = self.len();
        if self.layers.is_empty() || self.capacity() >= len + extra {
            return;
        }
        let grow = |t: &Tensor| {
            let mut size = t.size();
            size[2] = len + extra;
            let buffer = Tensor::zeros(size.as_slice(), (t.kind(), t.device()));
            buffer.narrow(2, 0, len).copy_(&t.narrow(2, 0, len));
            buffer
        };
        for (k, v) in self.layers.iter_mut() {
            *k = grow(k);
            *v = grow(v);
        }
    }
    /// Keeps only the batch rows in `rows` (e.g. after some sequences finished).
    pub fn select_rows(&mut self, rows: &Tensor) {
        for (k, v) in self.layers.iter_mut() {
            *k = k.index_select(0, rows);
            *v = v.index_select(0, rows);
        }
        if let Some(m) = self.mask.as_mut() {
            *m = m.index_select(0, rows);
        }
    }
}

/// Per-forward attention inputs shared by every layer.
#[derive(Debug)]
struct AttnContext {
    /// Padding mask of everything attended to (cache and new tokens), `[batch, total]`.
    full_mask: Tensor,
    /// Boolean attention mask `[batch|1, 1, seq, total]`, or `None` for plain causal attention.
    mask: Option<Tensor>,
    is_causal: bool,
    cos: Tensor,
    sin: Tensor,
}

/// What [`DecoderLm::forward_hidden_checkpointed`] keeps for the backward pass: each block's input.
#[derive(Debug)]
pub struct Checkpoint {
    ids: Tensor,
    ctx: AttnContext,
    inputs: Vec<Tensor>,
    /// The last block's output as an autograd leaf; the caller's backward fills its gradient.
    top: Tensor,
}

impl Checkpoint {
    /// Back-propagates the gradient that the caller's `loss.backward()` left on the checkpointed
    /// hidden states through every block and the embedding, accumulating into the weights'
    /// `.grad` exactly as an uncheckpointed backward would.
    pub fn backward(self, model: &DecoderLm) -> Result<()> {
        let mut grad = self.top.grad();
        if !grad.defined() {
            return Err(Error::runtime(
                "checkpointed backward: the loss does not depend on the hidden states (call loss.backward() first)",
            ));
        }
        for (blk, input) in model.blocks.iter().zip(self.inputs).rev() {
            let input = input.set_requires_grad(true);
            let (out, _) = model.block_forward(blk, &input, &self.ctx, None, None);
            // The vector-Jacobian product with the upstream gradient, as a scalar to backward.
            (out * &grad).sum(grad.kind()).f_backward().map_err(crate::torch_err("checkpointed backward"))?;
            grad = input.grad();
        }
        if model.embed.requires_grad() {
            let h = Tensor::embedding(&model.embed, &self.ids, -1, false, false);
            (h * &grad).sum(grad.kind()).f_backward().map_err(crate::torch_err("checkpointed backward (embedding)"))?;
        }
        Ok(())
    }
}

/// A causal LM with its weights on one device in one dtype.
#[derive(Debug)]
pub struct DecoderLm {
    pub config: DecoderConfig,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    /// `None` when the output projection is the (tied) input embedding.
    lm_head: Option<Tensor>,
    rotary: Rotary,
    params: Vec<(String, Tensor)>,
    device: Device,
    kind: Kind,
}

impl DecoderLm {
    /// Loads `config.json` and the safetensors checkpoint of a Hugging Face model directory.
    pub fn from_dir(dir: &Path, kind: Kind, device: Device) -> Result<Self> {
        let config = DecoderConfig::from_hf(&HfConfig::read(&dir.join("config.json"))?)?;
        let store = TensorStore::load_dir(dir, kind, device)?;
        Self::from_store(config, store, kind, device)
    }

    pub fn from_store(config: DecoderConfig, mut store: TensorStore, kind: Kind, device: Device) -> Result<Self> {
        let c = &config;
        let (h, hd) = (c.hidden_size, c.head_dim);
        let mut params = Vec::new();
        let p = &mut params;
        let embed = take_param(&mut store, p, "model.embed_tokens.weight", &[c.vocab_size, h])?;
        let mut blocks = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let pre = format!("model.layers.{i}");
            let qk_norm = c.family == DecoderFamily::Qwen3;
            blocks.push(Block {
                input_norm: take_param(&mut store, p, &format!("{pre}.input_layernorm.weight"), &[h])?,
                q: Linear::load(
                    &mut store,
                    p,
                    &format!("{pre}.self_attn.q_proj"),
                    c.num_heads * hd,
                    h,
                    c.attention_bias,
                )?,
                k: Linear::load(
                    &mut store,
                    p,
                    &format!("{pre}.self_attn.k_proj"),
                    c.num_kv_heads * hd,
                    h,
                    c.attention_bias,
                )?,
                v: Linear::load(
                    &mut store,
                    p,
                    &format!("{pre}.self_attn.v_proj"),
                    c.num_kv_heads * hd,
                    h,
                    c.attention_bias,
                )?,
                // Qwen2 has no o_proj bias; Llama's attention_bias covers it.
                o: Linear::load(
                    &mut store,
                    p,
                    &format!("{pre}.self_attn.o_proj"),
                    h,
                    c.num_heads * hd,
                    c.attention_bias && c.family != DecoderFamily::Qwen2,
                )?,
                q_norm: if qk_norm {
                    Some(take_param(&mut store, p, &format!("{pre}.self_attn.q_norm.weight"), &[hd])?)
                } else {
                    None
                },
                k_norm: if qk_norm {
                    Some(take_param(&mut store, p, &format!("{pre}.self_attn.k_norm.weight"), &[hd])?)
                } else {
                    None
                },
                post_norm: take_param(&mut store, p, &format!("{pre}.post_attention_layernorm.weight"), &[h])?,
                gate: Linear::load(&mut store, p, &format!("{pre}.mlp.gate_proj"), c.intermediate_size, h, c.mlp_bias)?,
                up: Linear::load(&mut store, p, &format!("{pre}.mlp.up_proj"), c.intermediate_size, h, c.mlp_bias)?,
                down: Linear::load(&mut store, p, &format!("{pre}.mlp.down_proj"), h, c.intermediate_size, c.mlp_bias)?,
            });
        }
        let norm = take_param(&mut store, p, "model.norm.weight", &[h])?;
        let lm_head = if c.tie_word_embeddings {
            // Some tied checkpoints still carry a copy; it must equal the embedding, so drop it.
            store.take_opt("lm_head.weight", &[c.vocab_size, h])?;
            None
        } else {
            Some(take_param(&mut store, p, "lm_head.weight", &[c.vocab_size, h])?)
        };
        let left = store.leftovers(|n| n.ends_with("rotary_emb.inv_freq"));
        if !left.is_empty() {
            return Err(Error::input(
                store.source().to_string(),
                format!("tensors the {:?} model does not use: {}", c.family, left.join(", ")),
            ));
        }
        let rotary = Rotary::new(hd, c.rope_theta, &c.rope_scaling, device);
        Ok(DecoderLm { config, embed, blocks, norm, lm_head, rotary, params, device, kind })
    }

    pub fn device(&self) -> Device {
        self.device
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Every weight under its Hugging Face name; shallow clones sharing storage with the model.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.params.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect()
    }

    /// Turns gradient tracking on or off for every weight (on for training, off for sampling).
    pub fn set_trainable(&self, trainable: bool) {
        for (_, t) in &self.params {
            let _ = t.set_requires_grad(trainable);
        }
    }

    fn output_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// Final hidden states `[batch, seq, hidden]` for `input_ids` `[batch, seq]`.
    ///
    /// `attention_mask` (1 = token, 0 = padding; left padding for batched prompts) covers the
    /// new tokens only; with a `cache`, the new tokens attend to everything cached and the cache
    /// grows by `seq` positions. Position ids count real tokens only, as in transformers' generate.
    pub fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        self.forward_hidden_with(input_ids, attention_mask, cache, None)
    }

    /// [`forward_hidden`](Self::forward_hidden) with the linear layers' weights `packed` for
    /// decoding ([`DecodeWeights`], built from this model's current weights): the same
    /// numbers, faster for steps of few rows on the CPU. Steps of many rows (a prefill) and
    /// passes with gradients use the plain weights.
    pub fn forward_hidden_with(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        packed: Option<&DecodeWeights>,
    ) -> Result<Tensor> {
        let (ids, ctx) = self.prepare(input_ids, attention_mask, cache.as_deref())?;
        let mut h = Tensor::embedding(&self.embed, &ids, -1, false, false);
        let mut new_layers = Vec::with_capacity(self.blocks.len());
        let past_len = cache.as_ref().map_or(0, |c| c.len());
        for (i, blk) in self.blocks.iter().enumerate() {
            let past = cache.as_ref().and_then(|c| c.layers.get(i)).map(|kv| (kv, past_len));
            let (out, kv) = self.block_forward(blk, &h, &ctx, past, packed.map(|p| p.block(i)));
            if cache.is_some() {
                new_layers.push(kv);
            }
            h = out;
        }
        if let Some(cache) = cache.as_mut() {
            cache.layers = new_layers;
            cache.mask = Some(ctx.full_mask.shallow_clone());
        }
        Ok(rms_norm(&h, &self.norm, self.config.rms_norm_eps))
    }

    /// Final hidden states `[batch, seq, hidden]` for tokens at explicit RoPE `positions`
    /// `[batch, seq]` under an explicit boolean `attention_mask` `[batch, 1, seq, seq]` (true:
    /// the query of dim 2 may attend to the key of dim 3).
    ///
    /// This packs sequences that share a prefix into one row: a prompt followed by several
    /// continuations, each at the positions after the prompt and seeing the prompt and itself
    /// only, is the same maths as one row per continuation, with the prompt computed once and
    /// every weight applied to one matrix of tokens (one weight gradient, not one per sequence).
    /// Every query must see at least one key (padding: itself), or its state is NaN.
    pub fn forward_hidden_packed(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Tensor> {
        let (b, t) = crate::check_token_batch(input_ids, self.config.vocab_size, "decoder input_ids")?;
        if positions.size() != [b, t] {
            return Err(Error::input(
                "decoder positions",
                format!("shape {:?}, expected [{b}, {t}]", positions.size()),
            ));
        }
        if attention_mask.size() != [b, 1, t, t] || attention_mask.kind() != Kind::Bool {
            return Err(Error::input(
                "decoder attention_mask",
                format!(
                    "{:?} of shape {:?}, expected Bool [{b}, 1, {t}, {t}]",
                    attention_mask.kind(),
                    attention_mask.size()
                ),
            ));
        }
        let ids = input_ids.to_kind(Kind::Int64).to_device(self.device);
        let (cos, sin) = self.rotary.cos_sin(&positions.to_device(self.device), self.kind);
        let ctx = AttnContext {
            full_mask: Tensor::ones([b, t], (Kind::Int64, self.device)),
            mask: Some(attention_mask.to_device(self.device)),
            is_causal: false,
            cos,
            sin,
        };
        let mut h = Tensor::embedding(&self.embed, &ids, -1, false, false);
        for blk in &self.blocks {
            h = self.block_forward(blk, &h, &ctx, None, None).0;
        }
        Ok(rms_norm(&h, &self.norm, self.config.rms_norm_eps))
    }

    /// Token ids on the model's device and what every layer's attention needs for them.
    fn prepare(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&KvCache>,
    ) -> Result<(Tensor, AttnContext)> {
        let (b, t) = crate::check_token_batch(input_ids, self.config.vocab_size, "decoder input_ids")?;
        let ids = input_ids.to_kind(Kind::Int64).to_device(self.device);
        let new_mask = match attention_mask {
            Some(m) if m.size() != [b, t] => {
                return Err(Error::input(
                    "decoder attention_mask",
                    format!("shape {:?}, expected [{b}, {t}]", m.size()),
                ));
            }
            Some(m) => m.to_kind(Kind::Int64).to_device(self.device),
            None => Tensor::ones([b, t], (Kind::Int64, self.device)),
        };
        if let Some(cb) = cache.and_then(|c| c.batch()) {
            if cb != b {
                return Err(Error::input("decoder KV cache", format!("cache holds batch {cb}, input has {b}")));
            }
        }
        let past = cache.map_or(0, |c| c.len());
        let full_mask = match cache.and_then(|c| c.mask.as_ref()) {
            Some(m) => Tensor::cat(&[m, &new_mask], 1),
            None => new_mask,
        };
        let positions = (full_mask.cumsum(1, Kind::Int64) - 1).clamp_min(0).narrow(1, past, t);
        let padded = full_mask.min().int64_value(&[]) == 0;
        // No padding: plain causal attention lets libtorch pick its fused kernels.
        let (mask, is_causal) = if !padded && past == 0 {
            (None, t > 1)
        } else if !padded && t == 1 {
            (None, false)
        } else {
            let total = past + t;
            let q_pos = Tensor::arange_start(past, total, (Kind::Int64, self.device)).unsqueeze(1);
            let k_pos = Tensor::arange(total, (Kind::Int64, self.device)).unsqueeze(0);
            let causal = k_pos.le_tensor(&q_pos);
            let keys = full_mask.ne(0).view([b, 1, 1, total]);
            // A padding query would see no key at all and give NaN, which then leaks through
            // 0 * NaN in later layers; letting it see itself keeps it finite and unused.
            let own = k_pos.eq_tensor(&q_pos);
            (Some(causal.view([1, 1, t, total]).logical_and(&keys).logical_or(&own.view([1, 1, t, total]))), false)
        };
        let (cos, sin) = self.rotary.cos_sin(&positions, self.kind);
        Ok((ids, AttnContext { full_mask, mask, is_causal, cos, sin }))
    }

    /// One transformer block on `h` `[batch, seq, hidden]`; returns its output and the layer's
    /// keys and values: with `past` (the cached ones and how many positions of them hold data),
    /// the cached ones followed by the new ones, written in place when the cache has room.
    /// `packed`: the block's linear weights packed for decoding, in [`Block::linears`] order.
    fn block_forward(
        &self,
        blk: &Block,
        h: &Tensor,
        ctx: &AttnContext,
        past: Option<(&(Tensor, Tensor), i64)>,
        packed: Option<&[PackedWeight]>,
    ) -> (Tensor, (Tensor, Tensor)) {
        let lin = |i: usize| packed.map(|p| &p[i]);
        let c = &self.config;
        let (nh, nkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let size = h.size();
        let (b, t) = (size[0], size[1]);
        let x = rms_norm(h, &blk.input_norm, c.rms_norm_eps);
        let mut q = blk.q.forward_with(&x, lin(0)).view([b, t, nh, hd]);
        let mut k = blk.k.forward_with(&x, lin(1)).view([b, t, nkv, hd]);
        let v = blk.v.forward_with(&x, lin(2)).view([b, t, nkv, hd]).transpose(1, 2);
        if let (Some(qn), Some(kn)) = (&blk.q_norm, &blk.k_norm) {
            q = rms_norm(&q, qn, c.rms_norm_eps);
            k = rms_norm(&k, kn, c.rms_norm_eps);
        }
        let q = rope::apply(&q.transpose(1, 2), &ctx.cos, &ctx.sin);
        let k = rope::apply(&k.transpose(1, 2), &ctx.cos, &ctx.sin);
        let ((k, v), kv) = match past {
            Some(((pk, pv), len)) if pk.size()[2] >= len + t => {
                pk.narrow(2, len, t).copy_(&k);
                pv.narrow(2, len, t).copy_(&v);
                let kv = (pk.shallow_clone(), pv.shallow_clone());
                ((pk.narrow(2, 0, len + t), pv.narrow(2, 0, len + t)), kv)
            }
            Some(((pk, pv), len)) => {
                let (k, v) =
                    (Tensor::cat(&[&pk.narrow(2, 0, len), &k], 2), Tensor::cat(&[&pv.narrow(2, 0, len), &v], 2));
                let kv = (k.shallow_clone(), v.shallow_clone());
                ((k, v), kv)
            }
            None => {
                let kv = (k.shallow_clone(), v.shallow_clone());
                ((k, v), kv)
            }
        };
        let attn = attend(&q, &k, &v, ctx, nh != nkv);
        let attn = attn.transpose(1, 2).reshape([b, t, nh * hd]);
        // Not `+=`: under autograd the old `h` is saved by the norm above and must not change.
        let h = h + blk.o.forward_with(&attn, lin(3));
        let x = rms_norm(&h, &blk.post_norm, c.rms_norm_eps);
        let gated = blk.gate.forward_with(&x, lin(4)).silu() * blk.up.forward_with(&x, lin(5));
        let out = &h + blk.down.forward_with(&gated, lin(6));
        (out, kv)
    }

    /// [`forward_hidden`](Self::forward_hidden) with gradient checkpointing, for training.
    ///
    /// The blocks run without autograd and keep only their inputs; the returned hidden states
    /// hang off a fresh leaf. After the caller's `loss.backward()`, [`Checkpoint::backward`]
    /// recomputes one block at a time under autograd and pushes the gradient down to the
    /// embedding, so activation memory is one block's instead of all of them, for about one
    /// extra forward pass. (tch has no custom autograd functions, so the recomputation is driven
    /// from here rather than from inside libtorch's backward.) Padding masks work; KV caches do not apply.
    pub fn forward_hidden_checkpointed(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<(Tensor, Checkpoint)> {
        let (ids, ctx) = self.prepare(input_ids, attention_mask, None)?;
        let mut inputs = Vec::with_capacity(self.blocks.len());
        let top = {
            let _guard = tch::no_grad_guard();
            let mut h = Tensor::embedding(&self.embed, &ids, -1, false, false);
            for blk in &self.blocks {
                let (out, _) = self.block_forward(blk, &h, &ctx, None, None);
                inputs.push(h);
                h = out;
            }
            h.set_requires_grad(true)
        };
        let hidden = rms_norm(&top, &self.norm, self.config.rms_norm_eps);
        Ok((hidden, Checkpoint { ids, ctx, inputs, top }))
    }
    /// The output projection of final hidden states `[..., hidden]`: logits `[..., vocab]` in
    /// the model dtype, through the packed head of `packed` where it applies.
    pub fn project(&self, hidden: &Tensor, packed: Option<&DecodeWeights>) -> Tensor {
        match packed {
            Some(p) if packed::applies(hidden, self.output_weight()) => p.head().apply(hidden),
            _ => gemm::linear(hidden, self.output_weight(), None),
        }
    }

    /// Full-vocabulary logits `[batch, seq, vocab]` (in the model dtype).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let h = self.forward_hidden(input_ids, attention_mask, cache)?;
        Ok(self.project(&h, None))
    }

    /// f32 log-probability of each token given the ones before it: `[batch, seq - 1]`, entry
    /// `[i, j]` for token `j + 1` of row `i`.
    ///
    /// The vocabulary projection runs `chunk_tokens` positions at a time, so at most that many
    /// full-vocabulary rows exist at once outside autograd (under autograd each chunk's softmax
    /// input stays alive until backward, as it must).
    pub fn token_logprobs(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        chunk_tokens: i64,
    ) -> Result<Tensor> {
        let size = input_ids.size();
        if size.len() != 2 || size[1] < 2 {
            return Err(Error::input(
                "decoder input_ids",
                format!("need [batch, seq >= 2] to score tokens, got {size:?}"),
            ));
        }
        let (b, t) = (size[0], size[1]);
        let h = self.forward_hidden(input_ids, attention_mask, None)?;
        let hs = h.narrow(1, 0, t - 1).reshape([-1, self.config.hidden_size]);
        let targets = input_ids.to_device(self.device).to_kind(Kind::Int64).narrow(1, 1, t - 1).reshape([-1]);
        let n = b * (t - 1);
        let chunk = chunk_tokens.max(1);
        let mut parts = Vec::with_capacity(((n + chunk - 1) / chunk) as usize);
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let logits = gemm::linear(&hs.narrow(0, start, len), self.output_weight(), None).to_kind(Kind::Float);
            let picked = logits.gather(1, &targets.narrow(0, start, len).unsqueeze(1), false).squeeze_dim(1);
            parts.push(picked - logits.logsumexp([-1i64].as_slice(), false));
            start += len;
        }
        Ok(Tensor::cat(&parts, 0).view([b, t - 1]))
    }

    /// Greedy continuation of one prompt with the KV cache; stops after `max_new` tokens or at
    /// any id in `stop` (which is included in the result).
    pub fn greedy(&self, prompt: &[i64], max_new: usize, stop: &[i64]) -> Result<Vec<i64>> {
        if prompt.is_empty() {
            return Err(Error::input("greedy prompt", "empty prompt"));
        }
        let _guard = tch::no_grad_guard();
        let mut cache = KvCache::new();
        let mut input = Tensor::from_slice(prompt).view([1, -1]);
        let mut out = Vec::with_capacity(max_new);
        for step in 0..max_new {
            let logits = self.forward(&input, None, Some(&mut cache))?;
            if step == 0 {
                cache.reserve(max_new as i64);
            }
            let next = logits.select(1, -1).argmax(-1, false).int64_value(&[0]);
            out.push(next);
            if stop.contains(&next) {
                break;
            }
            input = Tensor::from_slice(&[next]).view([1, 1]);
        }
        Ok(out)
    }
}

/// Scaled dot-product attention of `q` `[b, heads, t, head_dim]` over `k`, `v`.
///
/// A decoding step (one query position) with grouped-query attention folds each group of
/// query heads into query positions of its key/value head: `[b, kv_heads, group, head_dim]`
/// attending without a causal mask is the same maths, but reads every cached key and value
/// once instead of once per query head (libtorch's `enable_gqa` repeats them), and its
/// `group`-long queries take libtorch's fast 16-bit kernels. On SmolLM2's shapes (32 rows, 160
/// cached positions, 2 cores of an AMX Xeon) that is 0.95 ms a layer in bf16, against 2.2 ms
/// for the previous way (cast to f32, `enable_gqa`) and 1.3 ms for bf16 with `enable_gqa`.
///
/// Otherwise 16-bit attention on the CPU runs in f32 and rounds the result back. For training
/// that is the fast way: libtorch's 16-bit attention backward on the CPU is slow (forward and
/// backward of SmolLM2's attention at 4 rows x 115 positions on 2 cores of an AMX Xeon: 21.4 ms
/// a layer in bf16, 8.9 ms cast to f32 and back). A forward alone costs a little more that way
/// (2.3 ms in bf16, 3.2 ms cast), but the passes without gradients (the GRPO reference and
/// π_old, a prefill) must compute what the trained pass computes, or the policy and an equal
/// reference would differ by rounding (a k3 KL of 0.0025 a token at step 0, measured). And for
/// a single query position without grouping libtorch's 16-bit kernel is slow anyway (a GEMV
/// per head: 1.3 ms a layer in bf16 and 2.4 ms in f16 at 16 rows x 100 positions, against
/// 0.3-0.4 ms in f32, with the same error against an f64 reference).
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, ctx: &AttnContext, gqa: bool) -> Tensor {
    let sdpa = |q: &Tensor, k: &Tensor, v: &Tensor| {
        Tensor::scaled_dot_product_attention(q, k, v, ctx.mask.as_ref(), 0.0, ctx.is_causal, None, gqa)
    };
    let (b, heads, t, head_dim) = q.size4().expect("attention query is 4-d");
    let kv_heads = k.size()[1];
    if t == 1 && gqa && !ctx.is_causal {
        let grouped = q.reshape([b, kv_heads, heads / kv_heads, head_dim]);
        let out = Tensor::scaled_dot_product_attention(&grouped, k, v, ctx.mask.as_ref(), 0.0, false, None, false);
        return out.reshape([b, heads, 1, head_dim]);
    }
    let kind = q.kind();
    if q.device() == Device::Cpu && matches!(kind, Kind::BFloat16 | Kind::Half) {
        let f = |t: &Tensor| t.to_kind(Kind::Float);
        sdpa(&f(q), &f(k), &f(v)).to_kind(kind)
    } else {
        sdpa(q, k, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causal_context() -> AttnContext {
        let none = Tensor::zeros([0], (Kind::Float, Device::Cpu));
        AttnContext {
            full_mask: none.shallow_clone(),
            mask: None,
            is_causal: true,
            cos: none.shallow_clone(),
            sin: none,
        }
    }

    /// bf16 `[1, heads, 6, 8]` queries and `[1, kv_heads, 6, 8]` keys and values that track
    /// gradients.
    fn qkv(heads: i64, kv_heads: i64) -> (Tensor, Tensor, Tensor) {
        let t = |h: i64| Tensor::randn([1, h, 6, 8], (Kind::BFloat16, Device::Cpu)).set_requires_grad(true);
        (t(heads), t(kv_heads), t(kv_heads))
    }

    #[test]
    fn sixteen_bit_attention_runs_in_f32_on_the_cpu_with_and_without_gradients() {
        let ctx = causal_context();
        let f32_then_rounded = |q: &Tensor, k: &Tensor, v: &Tensor| {
            let f = |t: &Tensor| t.detach().to_kind(Kind::Float);
            Tensor::scaled_dot_product_attention(&f(q), &f(k), &f(v), None::<&Tensor>, 0.0, true, None, true)
                .to_kind(Kind::BFloat16)
        };
        let (q, k, v) = qkv(4, 2);
        let trained = attend(&q, &k, &v, &ctx, true);
        assert_eq!(trained.kind(), Kind::BFloat16);
        assert!(trained.requires_grad(), "the f32 detour stays on the autograd graph");
        assert!(trained.detach().equal(&f32_then_rounded(&q, &k, &v)), "trained attention runs in f32");
        trained.to_kind(Kind::Float).sum(Kind::Float).backward();
        for (name, t) in [("q", &q), ("k", &k), ("v", &v)] {
            assert_eq!(t.grad().kind(), Kind::BFloat16, "{name}'s gradient comes back in bf16");
        }
        // Without gradients the same numbers: a frozen reference equal to the policy scores alike.
        let _guard = tch::no_grad_guard();
        let (q, k, v) = (q.detach(), k.detach(), v.detach());
        assert!(attend(&q, &k, &v, &ctx, true).equal(&trained.detach()));
    }
}
