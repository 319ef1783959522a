//! Hugging Face tokenizers (`tokenizer.json`) with the special tokens, chat template and padding
//! side that `tokenizer_config.json` / `generation_config.json` describe. Chat templates are
//! [`lrpo_sdk::chat`], the one renderer the host's prompt builder uses too.

use std::path::Path;

use lrpo_core::{Error, Result};
use lrpo_sdk::chat::ChatTemplate;
use serde_json::Value;
use tch::{Kind, Tensor};
use tokenizers::Tokenizer;

/// Which end of a shorter sequence gets the padding. Decoders sample with left padding so that
/// every row's last position is a real token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingSide {
    Left,
    Right,
}

/// One chat turn as chat templates expect it.
pub use lrpo_sdk::chat::Message as ChatMessage;

/// A special token: its text and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialToken {
    pub text: String,
    pub id: u32,
}

#[derive(Debug)]
pub struct TextTokenizer {
    inner: Tokenizer,
    source: String,
    pub bos: Option<SpecialToken>,
    pub eos: Option<SpecialToken>,
    pub pad: Option<SpecialToken>,
    pub unk: Option<SpecialToken>,
    /// Ids that end a generation: `generation_config.json`'s `eos_token_id` (one or a list),
    /// else the tokenizer's eos.
    pub stop_ids: Vec<u32>,
    /// `chat_template.jinja`, else `tokenizer_config.json`'s `chat_template` (HF's list form
    /// too), compiled when the tokenizer is loaded so that a broken template fails there.
    pub chat_template: Option<ChatTemplate>,
    pub padding_side: PaddingSide,
}

/// A padded batch ready for a model.
#[derive(Debug)]
pub struct EncodedBatch {
    /// `[batch, seq]` int64.
    pub input_ids: Tensor,
    /// `[batch, seq]` int64, 1 for tokens and 0 for padding.
    pub attention_mask: Tensor,
    /// Unpadded length of each row.
    pub lengths: Vec<usize>,
}

fn read_json_opt(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| Error::input(path.display().to_string(), e.to_string()))
}

/// `"<s>"` or `{"content": "<s>", ...}`, as tokenizer_config.json spells special tokens.
fn token_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl TextTokenizer {
    /// Reads `tokenizer.json` plus, when present, `tokenizer_config.json`, `chat_template.jinja`
    /// and `generation_config.json` from a model directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let inner = Tokenizer::from_file(&path).map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
        let config_path = dir.join("tokenizer_config.json");
        let config = read_json_opt(&config_path)?.unwrap_or(Value::Null);
        let mut tok = TextTokenizer {
            inner,
            source: path.display().to_string(),
            bos: None,
            eos: None,
            pad: None,
            unk: None,
            stop_ids: Vec::new(),
            chat_template: None,
            padding_side: PaddingSide::Right,
        };
        let special = |tok: &TextTokenizer, field: &str| -> Result<Option<SpecialToken>> {
            let Some(text) = config.get(field).and_then(token_text) else { return Ok(None) };
            match tok.inner.token_to_id(&text) {
                Some(id) => Ok(Some(SpecialToken { text, id })),
                None => Err(Error::input(
                    format!("{} field `{field}`", config_path.display()),
                    format!("`{text}` is not in the vocabulary"),
                )),
            }
        };
        tok.bos = special(&tok, "bos_token")?;
        tok.eos = special(&tok, "eos_token")?;
        tok.pad = special(&tok, "pad_token")?;
        tok.unk = special(&tok, "unk_token")?;
        tok.padding_side = match config.get("padding_side").and_then(Value::as_str) {
            None | Some("right") => PaddingSide::Right,
            Some("left") => PaddingSide::Left,
            Some(other) => {
                return Err(Error::input(
                    format!("{} field `padding_side`", config_path.display()),
                    format!("`{other}` is neither left nor right"),
                ))
            }
        };
        tok.chat_template = ChatTemplate::find_in_model_dir(dir)?;
        let gen_path = dir.join("generation_config.json");
        if let Some(gen) = read_json_opt(&gen_path)? {
            match gen.get("eos_token_id") {
                Some(Value::Number(n)) => tok.stop_ids.extend(n.as_u64().map(|n| n as u32)),
                Some(Value::Array(a)) => tok.stop_ids.extend(a.iter().filter_map(Value::as_u64).map(|n| n as u32)),
                _ => {}
            }
        }
        if tok.stop_ids.is_empty() {
            tok.stop_ids.extend(tok.eos.as_ref().map(|t| t.id));
        }
        Ok(tok)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token ids of `text`; `add_special_tokens` applies the post-processor (e.g. `[CLS] … [SEP]`).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| Error::runtime(format!("{}: encoding failed: {e}", self.source)))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| Error::runtime(format!("{}: decoding failed: {e}", self.source)))
    }

    /// Pads id sequences into one batch on [`padding_side`](Self::padding_side) with the pad
    /// token (or 0 when the tokenizer names none; padding positions are masked anyway).
    pub fn pad_batch(&self, rows: &[Vec<u32>]) -> Result<EncodedBatch> {
        if rows.is_empty() || rows.iter().any(Vec::is_empty) {
            return Err(Error::input(self.source.clone(), "cannot pad an empty batch or an empty sequence"));
        }
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let pad = self.pad.as_ref().map_or(0, |p| p.id) as i64;
        let mut ids = Vec::with_capacity(rows.len() * width);
        let mut mask = Vec::with_capacity(rows.len() * width);
        for row in rows {
            let fill = width - row.len();
            let (before, after) = match self.padding_side {
                PaddingSide::Left => (fill, 0),
                PaddingSide::Right => (0, fill),
            };
            ids.extend(std::iter::repeat_n(pad, before));
            mask.extend(std::iter::repeat_n(0i64, before));
            ids.extend(row.iter().map(|&i| i as i64));
            mask.extend(std::iter::repeat_n(1i64, row.len()));
            ids.extend(std::iter::repeat_n(pad, after));
            mask.extend(std::iter::repeat_n(0i64, after));
        }
        let shape = [rows.len() as i64, width as i64];
        Ok(EncodedBatch {
            input_ids: Tensor::from_slice(&ids).view(shape).to_kind(Kind::Int64),
            attention_mask: Tensor::from_slice(&mask).view(shape),
            lengths: rows.iter().map(Vec::len).collect(),
        })
    }

    /// Encodes and pads texts in one go.
    pub fn encode_batch(&self, texts: &[&str], add_special_tokens: bool) -> Result<EncodedBatch> {
        let rows = texts.iter().map(|t| self.encode(t, add_special_tokens)).collect::<Result<Vec<_>>>()?;
        self.pad_batch(&rows)
    }

    /// Renders the chat template for `messages` (with the assistant header when
    /// `add_generation_prompt`), as transformers' `apply_chat_template(tokenize=False)`.
    pub fn apply_chat_template(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        // No ChatML fallback here, unlike the host's prompt builder: a caller rendering for a
        // model wants that model's template, and a silent stand-in would hide a missing file.
        let template = self
            .chat_template
            .as_ref()
            .ok_or_else(|| Error::input(self.source.clone(), "the tokenizer has no chat template"))?;
        template.render(messages, add_generation_prompt)
    }
}
