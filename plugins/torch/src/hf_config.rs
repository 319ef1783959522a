//! The fields of Hugging Face `config.json` files that the model code needs.
//!
//! Read through `serde_json::Value` rather than derived structs: the same field has moved between
//! transformers releases (`rope_theta` / `rope_scaling` became `rope_parameters` in v5), and every
//! error must name the file and field.

use std::path::Path;

use lrpo_core::{Error, Result};
use serde_json::Value;

/// A parsed `config.json` with the path kept for error messages.
#[derive(Debug, Clone)]
pub struct HfConfig {
    pub path: String,
    pub json: Value,
}

impl HfConfig {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
        if !json.is_object() {
            return Err(Error::input(path.display().to_string(), "config must be a JSON object"));
        }
        Ok(HfConfig { path: path.display().to_string(), json })
    }

    fn bad(&self, field: &str, message: impl std::fmt::Display) -> Error {
        Error::input(format!("{} field `{field}`", self.path), message.to_string())
    }

    pub fn opt(&self, field: &str) -> Option<&Value> {
        self.json.get(field).filter(|v| !v.is_null())
    }

    pub fn usize(&self, field: &str) -> Result<usize> {
        self.opt_usize(field)?.ok_or_else(|| self.bad(field, "missing"))
    }

    pub fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        match self.opt(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.bad(field, format!("expected a non-negative integer, got {v}"))),
        }
    }

    pub fn f64_or(&self, field: &str, default: f64) -> Result<f64> {
        match self.opt(field) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| self.bad(field, format!("expected a number, got {v}"))),
        }
    }

    pub fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.opt(field) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(field, format!("expected true/false, got {v}"))),
        }
    }

    pub fn str_or<'a>(&'a self, field: &str, default: &'a str) -> Result<&'a str> {
        match self.opt(field) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| self.bad(field, format!("expected a string, got {v}"))),
        }
    }

    pub fn model_type(&self) -> Result<&str> {
        self.opt("model_type").and_then(Value::as_str).ok_or_else(|| self.bad("model_type", "missing"))
    }
}

/// Rotary embedding frequency rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor`.
    Linear {
        factor: f64,
    },
    /// Llama 3.1: low frequencies slowed by `factor`, a smooth band between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position: f64,
    },
}

/// Which decoder family: decides biases and per-head norms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderFamily {
    Llama,
    Qwen2,
    Qwen3,
}

#[derive(Debug, Clone)]
pub struct DecoderConfig {
    pub family: DecoderFamily,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_layers: usize,
    pub num_heads: i64,
    pub num_kv_heads: i64,
    pub head_dim: i64,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub max_position_embeddings: usize,
}

impl DecoderConfig {
    pub fn from_hf(cfg: &HfConfig) -> Result<Self> {
        let family = match cfg.model_type()? {
            "llama" => DecoderFamily::Llama,
            "qwen2" => DecoderFamily::Qwen2,
            "qwen3" => DecoderFamily::Qwen3,
            other => {
                return Err(cfg.bad("model_type", format!("`{other}` is not a supported decoder (llama, qwen2, qwen3)")))
            }
        };
        let hidden_size = cfg.usize("hidden_size")? as i64;
        let num_heads = cfg.usize("num_attention_heads")? as i64;
        let num_kv_heads = cfg.opt_usize("num_key_value_heads")?.map(|n| n as i64).unwrap_or(num_heads);
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(cfg.bad(
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            ));
        }
        let head_dim = match cfg.opt_usize("head_dim")? {
            Some(d) => d as i64,
            None if hidden_size % num_heads == 0 => hidden_size / num_heads,
            None => {
                return Err(cfg
                    .bad("hidden_size", format!("{hidden_size} is not a multiple of num_attention_heads {num_heads}")))
            }
        };
        if head_dim % 2 != 0 {
            return Err(cfg.bad("head_dim", format!("{head_dim} must be even for rotary embeddings")));
        }
        // Attention is always full-context here; a sliding window would silently change results
        // past the window, so configs that ask for one are refused rather than misread.
        if cfg.bool_or("use_sliding_window", false)? {
            return Err(cfg.bad("use_sliding_window", "sliding-window attention is not supported"));
        }
        let (rope_theta, rope_scaling) = rope_from_hf(cfg)?;
        Ok(DecoderConfig {
            family,
            vocab_size: cfg.usize("vocab_size")? as i64,
            hidden_size,
            intermediate_size: cfg.usize("intermediate_size")? as i64,
            num_layers: cfg.usize("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: cfg.f64_or("rms_norm_eps", 1e-6)?,
            rope_theta,
            rope_scaling,
            tie_word_embeddings: cfg.bool_or("tie_word_embeddings", false)?,
            // Qwen2 always has q/k/v biases; Llama and Qwen3 only when the config says so.
            attention_bias: family == DecoderFamily::Qwen2 || cfg.bool_or("attention_bias", false)?,
            mlp_bias: cfg.bool_or("mlp_bias", false)?,
            max_position_embeddings: cfg.opt_usize("max_position_embeddings")?.unwrap_or(2048),
        })
    }
}

/// `rope_theta` and scaling, from the v4 fields (`rope_theta`, `rope_scaling`) or the v5 `rope_parameters`.
pub fn rope_from_hf(cfg: &HfConfig) -> Result<(f64, RopeScaling)> {
    let params = cfg.opt("rope_parameters").or_else(|| cfg.opt("rope_scaling"));
    let field = if cfg.opt("rope_parameters").is_some() { "rope_parameters" } else { "rope_scaling" };
    let theta_in_params = params.and_then(|p| p.get("rope_theta")).and_then(Value::as_f64);
    let theta = match theta_in_params {
        Some(t) => t,
        None => cfg.f64_or("rope_theta", 10000.0)?,
    };
    let Some(params) = params else { return Ok((theta, RopeScaling::None)) };
    let get = |name: &str| -> Result<f64> {
        params
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| cfg.bad(&format!("{field}.{name}"), "missing or not a number"))
    };
    let kind = params.get("rope_type").or_else(|| params.get("type")).and_then(Value::as_str).unwrap_or("default");
    let scaling = match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor: get("factor")? },
        "llama3" => RopeScaling::Llama3 {
            factor: get("factor")?,
            low_freq_factor: get("low_freq_factor")?,
            high_freq_factor: get("high_freq_factor")?,
            original_max_position: get("original_max_position_embeddings")?,
        },
        other => {
            return Err(
                cfg.bad(&format!("{field}.rope_type"), format!("`{other}` is not supported (default, linear, llama3)"))
            )
        }
    };
    Ok((theta, scaling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: Value) -> HfConfig {
        HfConfig { path: "config.json".into(), json }
    }

    fn llama(extra: Value) -> Value {
        let mut base = serde_json::json!({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
            "num_key_value_heads": 2, "intermediate_size": 96, "num_hidden_layers": 2, "vocab_size": 100});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        base
    }

    #[test]
    fn reads_v4_rope_scaling_fields() {
        let c = DecoderConfig::from_hf(&cfg(llama(serde_json::json!({"rope_theta": 500000.0, "rope_scaling": {
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192}}))))
        .unwrap();
        assert_eq!(c.rope_theta, 500000.0);
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 8.0));
        assert_eq!((c.head_dim, c.num_kv_heads), (16, 2));
    }

    #[test]
    fn errors_name_the_field() {
        let mut j = llama(serde_json::json!({}));
        j.as_object_mut().unwrap().remove("hidden_size");
        let e = DecoderConfig::from_hf(&cfg(j)).unwrap_err().to_string();
        assert!(e.contains("config.json field `hidden_size`"), "{e}");
        let e =
            DecoderConfig::from_hf(&cfg(llama(serde_json::json!({"num_key_value_heads": 3})))).unwrap_err().to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
        let e = DecoderConfig::from_hf(&cfg(llama(serde_json::json!({"use_sliding_window": true}))))
            .unwrap_err()
            .to_string();
        assert!(e.contains("use_sliding_window"), "{e}");
        let e = DecoderConfig::from_hf(&cfg(llama(
            serde_json::json!({"rope_scaling": {"rope_type": "yarn", "factor": 2.0}}),
        )))
        .unwrap_err()
        .to_string();
        assert!(e.contains("rope_scaling.rope_type"), "{e}");
    }
}
