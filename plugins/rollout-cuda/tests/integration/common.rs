//! Test helpers: a tiny random Llama with a word-level tokenizer written on the fly, the
//! imported SmolLM2 and a full-forward greedy reference.

use std::path::{Path, PathBuf};

use lrpo_core::{GenerationRequest, SamplingParams};
use lrpo_rollout_cuda::{Sampler, SamplerConfig};
use lrpo_torch::DecoderLm;
use serde_json::json;
use tch::{Device, Kind, Tensor};

pub const TINY_VOCAB: i64 = 40;
/// `<eos>` of the tiny tokenizer.
pub const TINY_EOS: u32 = 1;

/// The imported SmolLM2 directory, failing with the set-up command when it is missing.
pub fn smollm2_dir() -> PathBuf {
    lrpo_testkit::cached_model(lrpo_rollout_cuda::DEFAULT_MODEL, lrpo_torch::import::MARKER)
}

/// Writes a random 2-layer Llama (GQA, untied head) and a word-level tokenizer `<unk> <eos> w0..`
/// into `dir`. Different seeds give different weights of the same shapes.
pub fn write_tiny_llama(dir: &Path, seed: i64) {
    std::fs::create_dir_all(dir).unwrap();
    let (h, inter, layers) = (32i64, 48i64, 2);
    let config = json!({
        "model_type": "llama", "vocab_size": TINY_VOCAB, "hidden_size": h, "intermediate_size": inter,
        "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": false
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let rand = |shape: &[i64], scale: f64| Tensor::randn(shape, opts) * scale;
    let mut named: Vec<(String, Tensor)> = vec![
        ("model.embed_tokens.weight".into(), rand(&[TINY_VOCAB, h], 1.0)),
        ("model.norm.weight".into(), rand(&[h], 0.1) + 1.0),
        ("lm_head.weight".into(), rand(&[TINY_VOCAB, h], 0.5)),
    ];
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        named.push((format!("{p}.input_layernorm.weight"), rand(&[h], 0.1) + 1.0));
        named.push((format!("{p}.post_attention_layernorm.weight"), rand(&[h], 0.1) + 1.0));
        for (name, rows, cols) in [("q_proj", h, h), ("k_proj", h / 2, h), ("v_proj", h / 2, h), ("o_proj", h, h)] {
            named.push((format!("{p}.self_attn.{name}.weight"), rand(&[rows, cols], 0.3)));
        }
        for (name, rows, cols) in [("gate_proj", inter, h), ("up_proj", inter, h), ("down_proj", h, inter)] {
            named.push((format!("{p}.mlp.{name}.weight"), rand(&[rows, cols], 0.3)));
        }
    }
    let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::write_safetensors(&refs, dir.join("model.safetensors")).unwrap();

    let mut vocab = serde_json::Map::new();
    vocab.insert("<unk>".into(), json!(0));
    vocab.insert("<eos>".into(), json!(TINY_EOS));
    for i in 2..TINY_VOCAB {
        vocab.insert(format!("w{}", i - 2), json!(i));
    }
    let tokenizer = json!({
        "version": "1.0",
        "added_tokens": [
            {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 1, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"eos_token": "<eos>", "pad_token": "<eos>", "unk_token": "<unk>"}).to_string(),
    )
    .unwrap();
}

/// A CPU f32 sampler over `dir`.
pub fn sampler(dir: &Path, max_batch_size: usize) -> Sampler {
    let config = SamplerConfig {
        model_dir: Some(dir.to_path_buf()),
        dtype: "f32".into(),
        device: "cpu".into(),
        max_batch_size,
        ..Default::default()
    };
    Sampler::from_config(config).expect("sampler")
}

pub fn request(prompt: &str, max_new_tokens: u32, sampling: SamplingParams, seed: u64) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        max_new_tokens,
        sampling,
        seed,
        stop_strings: vec![],
        stop_token_ids: vec![],
    }
}

/// Greedy continuation by re-running the whole sequence through the model at every step (no KV
/// cache, no batching), stopping after `stop` ids or `max_new` tokens.
pub fn full_forward_greedy(model: &DecoderLm, prompt: &[u32], max_new: usize, stop: &[u32]) -> Vec<u32> {
    let _g = tch::no_grad_guard();
    let mut seq: Vec<i64> = prompt.iter().map(|&t| i64::from(t)).collect();
    let mut out = Vec::new();
    for _ in 0..max_new {
        let logits = model.forward(&Tensor::from_slice(&seq).view([1, -1]), None, None).unwrap();
        let next = logits.select(1, -1).argmax(-1, false).int64_value(&[0]) as u32;
        out.push(next);
        seq.push(i64::from(next));
        if stop.contains(&next) {
            break;
        }
    }
    out
}
