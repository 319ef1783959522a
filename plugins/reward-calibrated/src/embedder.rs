//! Sentence embeddings from any lrpo-torch encoder (spec §4.4): tokenise with truncation, mean
//! pool over the attention mask, L2-normalise; cosine = dot product.
//!
//! Texts are sorted by token length before batching so that a batch pads to similar lengths;
//! the spec notes that chunking changes nothing but padding numerics. Identical texts (a
//! group's shared reference answer) are embedded once.

use std::collections::HashMap;
use std::path::PathBuf;

use lrpo_core::{Error, Result};
use lrpo_torch::encoder::l2_normalize;
use lrpo_torch::{Device, Encoder, Kind, TextTokenizer};
use schemars::JsonSchema;
use serde::Deserialize;
use tch::Tensor;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Which encoder and how to run it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Model name in the lrpo model cache (`lrpo_core::paths::model_dir`).
    pub model: String,
    /// A Hugging Face layout directory; overrides `model`.
    #[schemars(schema_with = "lrpo_sdk::schema::input_dir")]
    pub model_dir: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// `f32`, `bf16` or `f16`.
    pub dtype: String,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Tokens per text, special tokens included; longer texts are cut on the right.
    pub max_length: usize,
    /// Prepended to every response (e5 models expect `query: ` or `passage: `; `""` for others).
    pub response_prefix: String,
    /// Prepended to every reference answer.
    pub reference_prefix: String,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            model: "multilingual-e5-small".into(),
            model_dir: None,
            device: "cpu".into(),
            dtype: "f32".into(),
            batch_size: 128,
            max_length: 512,
            response_prefix: "query: ".into(),
            reference_prefix: "query: ".into(),
        }
    }
}

impl EncoderConfig {
    /// The model directory this config names.
    pub fn resolved_dir(&self) -> PathBuf {
        self.model_dir.clone().unwrap_or_else(|| lrpo_core::paths::model_dir(&self.model))
    }
}

/// `prefix` + the trimmed text. Trailing whitespace of the whole is dropped as well, so an
/// empty text under `"query: "` tokenizes as transformers tokenizes it (without a lone `▁`).
pub fn prefixed(prefix: &str, text: &str) -> String {
    format!("{prefix}{}", text.trim()).trim_end().to_string()
}

/// A loaded encoder with its tokenizer.
#[derive(Debug)]
pub struct Embedder {
    encoder: Encoder,
    tokenizer: Tokenizer,
    pad_id: i64,
    config: EncoderConfig,
}

impl Embedder {
    /// Loads the model; `key` prefixes config errors (e.g. `encoder`).
    pub fn load(config: EncoderConfig, key: &str) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::config(format!("{key}.batch_size"), "must be at least 1"));
        }
        if config.max_length < 2 {
            return Err(Error::config(
                format!("{key}.max_length"),
                "must leave room for the special tokens (at least 2)",
            ));
        }
        let device = lrpo_torch::parse_device(&format!("{key}.device"), &config.device)?;
        let kind = lrpo_torch::parse_dtype(&format!("{key}.dtype"), &config.dtype)?;
        if let Device::Cuda(i) = device {
            if i as i64 >= tch::Cuda::device_count() {
                return Err(Error::config(
                    format!("{key}.device"),
                    format!("cuda:{i} requested, {} CUDA device(s) visible", tch::Cuda::device_count()),
                ));
            }
        }
        let dir = config.resolved_dir();
        if !dir.join("config.json").is_file() {
            return Err(Error::config(
                format!("{key}.model"),
                format!(
                    "{} has no config.json; import the model with {} or set {key}.model_dir",
                    dir.display(),
                    lrpo_core::paths::SETUP_COMMAND
                ),
            ));
        }
        let text_tokenizer = TextTokenizer::from_dir(&dir)?;
        let pad_id = text_tokenizer
            .pad
            .as_ref()
            .map(|t| t.id)
            .or_else(|| ["<pad>", "[PAD]"].iter().find_map(|t| text_tokenizer.token_to_id(t)))
            .unwrap_or(0) as i64;
        let mut tokenizer = text_tokenizer.inner().clone();
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: config.max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::config(format!("{key}.max_length"), e.to_string()))?;
        let encoder = Encoder::from_dir(&dir, kind, device)?;
        Ok(Embedder { encoder, tokenizer, pad_id, config })
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Token ids per text (special tokens added, truncated to `max_length`).
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::runtime(format!("tokenizing: {e}")))?;
        Ok(encodings.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Unit-length embeddings `[texts.len(), hidden]` (f32, on the encoder's device) in input order.
    pub fn embed(&self, texts: &[String]) -> Result<Tensor> {
        let mut unique: Vec<String> = Vec::new();
        let mut slot_of: HashMap<&str, i64> = HashMap::new();
        let slots: Vec<i64> = texts
            .iter()
            .map(|t| {
                *slot_of.entry(t.as_str()).or_insert_with(|| {
                    unique.push(t.clone());
                    unique.len() as i64 - 1
                })
            })
            .collect();
        if unique.is_empty() {
            return Err(Error::input("embedding", "no texts"));
        }
        let ids = self.tokenize(&unique)?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let _no_grad = tch::no_grad_guard();
        let mut pooled = Vec::with_capacity(order.len().div_ceil(self.config.batch_size));
        for chunk in order.chunks(self.config.batch_size) {
            let width = chunk.iter().map(|&i| ids[i].len()).max().unwrap_or(1);
            let mut flat = Vec::with_capacity(chunk.len() * width);
            let mut mask = Vec::with_capacity(chunk.len() * width);
            for &i in chunk {
                let row = &ids[i];
                flat.extend(row.iter().map(|&t| t as i64));
                flat.extend(std::iter::repeat_n(self.pad_id, width - row.len()));
                mask.extend(std::iter::repeat_n(1i64, row.len()));
                mask.extend(std::iter::repeat_n(0i64, width - row.len()));
            }
            let shape = [chunk.len() as i64, width as i64];
            let out =
                self.encoder.forward(&Tensor::from_slice(&flat).view(shape), &Tensor::from_slice(&mask).view(shape))?;
            pooled.push(l2_normalize(&out.mean_pool()));
        }
        let sorted = Tensor::cat(&pooled, 0);
        // Row k of `sorted` is unique text order[k]; invert that, then expand duplicates.
        let mut position = vec![0i64; order.len()];
        for (k, &i) in order.iter().enumerate() {
            position[i] = k as i64;
        }
        let rows: Vec<i64> = slots.iter().map(|&s| position[s as usize]).collect();
        let index = Tensor::from_slice(&rows).to_device(sorted.device());
        Ok(sorted.index_select(0, &index).to_kind(Kind::Float))
    }

    /// Cosines of (response, reference) pairs, each side trimmed and given its prefix.
    pub fn pair_cosines(&self, responses: &[&str], references: &[&str]) -> Result<Vec<f64>> {
        if responses.len() != references.len() {
            return Err(Error::input(
                "pair cosines",
                format!("{} responses but {} references", responses.len(), references.len()),
            ));
        }
        if responses.is_empty() {
            return Ok(Vec::new());
        }
        let n = responses.len() as i64;
        let texts: Vec<String> = responses
            .iter()
            .map(|r| prefixed(&self.config.response_prefix, r))
            .chain(references.iter().map(|r| prefixed(&self.config.reference_prefix, r)))
            .collect();
        let e = self.embed(&texts)?;
        let cos = (e.narrow(0, 0, n) * e.narrow(0, n, n)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let cos = cos.to_device(Device::Cpu).to_kind(Kind::Double);
        Vec::<f64>::try_from(&cos).map_err(|e| Error::runtime(format!("reading cosines: {e}")))
    }
}
