//! Weights out to a Hugging Face model directory: `model.safetensors` (or shards plus
//! `model.safetensors.index.json`) and the model's config and tokenizer files, so that
//! transformers and vLLM load what lrpo trained. Shared by the host's `export` command and by
//! rollout engines that hand weights to an external server through the file system.
//!
//! ```no_run
//! # fn main() -> lrpo_core::Result<()> {
//! # let weights = lrpo_core::weight_set_from_f32(vec![]);
//! use lrpo_sdk::hf::{copy_model_files, write_weights, WriteOptions};
//! let out = std::path::Path::new("export");
//! let opts = WriteOptions { dtype: Some(lrpo_core::DType::BF16), ..WriteOptions::default() };
//! write_weights(&weights, out, &opts)?;
//! copy_model_files("models/base".as_ref(), out, opts.dtype)?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lrpo_core::{DType, Error, Result, TensorView, WeightSet};
use safetensors::Dtype;

/// The files of an HF model directory besides the weights, copied when the source has them.
pub const MODEL_FILES: [&str; 5] =
    ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Cast floating-point tensors to this dtype; `None` keeps each tensor's own.
    pub dtype: Option<DType>,
    /// Start a new shard once one holds this many bytes (transformers' default is 5 GB).
    pub max_shard_bytes: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { dtype: None, max_shard_bytes: 5_000_000_000 }
    }
}

/// The HF spelling of a dtype, as `config.json`'s `torch_dtype` writes it.
pub fn torch_dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float32",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::F64 => "float64",
        DType::I64 => "int64",
        DType::I32 => "int32",
        DType::U8 => "uint8",
    }
}

/// Parses `f32`, `bf16` or `f16` (and the torch spellings) for a `--dtype` style option.
pub fn parse_float_dtype(text: &str) -> Option<DType> {
    match text {
        "f32" | "fp32" | "float32" => Some(DType::F32),
        "bf16" | "bfloat16" => Some(DType::BF16),
        "f16" | "fp16" | "float16" => Some(DType::F16),
        _ => None,
    }
}

fn st_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F32 => Dtype::F32,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F64 => Dtype::F64,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::U8 => Dtype::U8,
    }
}

fn is_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
}

/// One tensor ready for safetensors: its bytes in the written dtype.
struct Staged<'a> {
    name: &'a str,
    dtype: DType,
    shape: Vec<usize>,
    data: Cow<'a, [u8]>,
}

impl safetensors::View for &Staged<'_> {
    fn dtype(&self) -> Dtype {
        st_dtype(self.dtype)
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Element values of a float tensor as f64, for a cast (f64 holds f32/f16/bf16 exactly).
fn to_f64(dtype: DType, bytes: &[u8]) -> Vec<f64> {
    match dtype {
        DType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect(),
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        DType::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
        DType::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
        _ => unreachable!("only float tensors are cast"),
    }
}

/// Casts float bytes with round-to-nearest-even, as torch's `.to(dtype)` does.
fn cast(from: DType, to: DType, bytes: &[u8]) -> Vec<u8> {
    if from == DType::F32 && to == DType::BF16 {
        // The common case (fp32 master weights to a bf16 export) without the f64 detour.
        return bytes
            .chunks_exact(4)
            .flat_map(|b| half::bf16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
            .collect();
    }
    let values = to_f64(from, bytes);
    match to {
        DType::F32 => values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect(),
        DType::F64 => values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
        DType::BF16 => values.iter().flat_map(|&v| half::bf16::from_f64(v).to_le_bytes()).collect(),
        DType::F16 => values.iter().flat_map(|&v| half::f16::from_f64(v).to_le_bytes()).collect(),
        _ => unreachable!("only float tensors are cast"),
    }
}

fn stage<'a>(view: &'a TensorView, dtype: Option<DType>) -> Result<Staged<'a>> {
    // SAFETY: the caller's WeightSet is alive for the whole write (it is borrowed by it).
    let bytes = unsafe { view.cpu_bytes() }.ok_or_else(|| {
        Error::runtime(format!(
            "tensor `{}` is {}; only contiguous host tensors can be written to safetensors \
             (run the optimizer with device = \"cpu\" for this, or copy the weights to the host first)",
            view.name,
            match view.device {
                lrpo_core::Device::Cpu => "not contiguous".to_string(),
                lrpo_core::Device::Cuda(i) => format!("on cuda:{i}"),
            }
        ))
    })?;
    let shape = view.shape.iter().map(|&d| d as usize).collect();
    let to = dtype.filter(|&d| is_float(view.dtype) && d != view.dtype);
    Ok(match to {
        Some(to) => Staged { name: &view.name, dtype: to, shape, data: Cow::Owned(cast(view.dtype, to, bytes)) },
        None => Staged { name: &view.name, dtype: view.dtype, shape, data: Cow::Borrowed(bytes) },
    })
}

/// Writes `weights` into `dir` (created if needed) as `model.safetensors`, or as
/// `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json` when they exceed
/// `max_shard_bytes`. Files are written under temporary names and renamed, so a reader never
/// sees half a file. Returns the files written.
pub fn write_weights(weights: &WeightSet, dir: &Path, opts: &WriteOptions) -> Result<Vec<PathBuf>> {
    if weights.tensors.is_empty() {
        return Err(Error::runtime("no weights to write"));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = weights.tensors.iter().find(|t| !seen.insert(t.name.as_str())) {
        return Err(Error::runtime(format!("tensor `{}` appears twice in the weight set", dup.name)));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    // Shards are filled in the set's order (HF order: embeddings, then layer by layer).
    let mut shards: Vec<Vec<&TensorView>> = vec![Vec::new()];
    let mut filled = 0u64;
    for view in &weights.tensors {
        let written = opts.dtype.filter(|_| is_float(view.dtype)).unwrap_or(view.dtype);
        let bytes = (view.numel() * written.size_bytes()) as u64;
        if filled > 0 && filled + bytes > opts.max_shard_bytes {
            shards.push(Vec::new());
            filled = 0;
        }
        shards.last_mut().expect("one shard at least").push(view);
        filled += bytes;
    }
    let total = shards.len();
    let name_of = |i: usize| {
        if total == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{total:05}.safetensors", i + 1)
        }
    };
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let mut files = Vec::with_capacity(total + 1);
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0u64;
    for (i, shard) in shards.iter().enumerate() {
        let staged = shard.iter().map(|v| stage(v, opts.dtype)).collect::<Result<Vec<_>>>()?;
        let file = name_of(i);
        for s in &staged {
            total_size += s.data.len() as u64;
            weight_map.insert(s.name.to_string(), file.clone());
        }
        let path = dir.join(&file);
        let tmp = dir.join(format!(".{file}.tmp"));
        safetensors::serialize_to_file(staged.iter().map(|s| (s.name, s)), Some(metadata.clone()), &tmp)
            .map_err(|e| Error::runtime(format!("writing {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(path.display(), e))?;
        files.push(path);
    }
    let index = dir.join("model.safetensors.index.json");
    if total > 1 {
        let json = serde_json::json!({ "metadata": { "total_size": total_size }, "weight_map": weight_map });
        let text = serde_json::to_string_pretty(&json).map_err(|e| Error::runtime(e.to_string()))?;
        std::fs::write(&index, text).map_err(|e| Error::io(index.display(), e))?;
        files.push(index);
    } else if index.exists() {
        // A stale index from an earlier, sharded write would point loaders at missing files.
        std::fs::remove_file(&index).map_err(|e| Error::io(index.display(), e))?;
    }
    Ok(files)
}

/// Copies the model's config and tokenizer files ([`MODEL_FILES`], those present) from
/// `model_dir` into `out`, setting `config.json`'s `dtype` and `torch_dtype` to `dtype` when given. A
/// `model_dir` without `config.json` is an error: the result would not load anywhere.
pub fn copy_model_files(model_dir: &Path, out: &Path, dtype: Option<DType>) -> Result<()> {
    let config = model_dir.join("config.json");
    if !config.is_file() {
        return Err(Error::input(config.display().to_string(), "missing: not a Hugging Face model directory"));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out.display(), e))?;
    for name in MODEL_FILES {
        let src = model_dir.join(name);
        if !src.is_file() {
            continue;
        }
        let dst = out.join(name);
        if name == "config.json" {
            let text = std::fs::read_to_string(&src).map_err(|e| Error::io(src.display(), e))?;
            let mut json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::input(src.display().to_string(), format!("not JSON: {e}")))?;
            if let (Some(dtype), Some(obj)) = (dtype, json.as_object_mut()) {
                // transformers 4.56+ writes `dtype`, older readers (and vLLM's) `torch_dtype`.
                obj.insert("torch_dtype".into(), torch_dtype_name(dtype).into());
                obj.insert("dtype".into(), torch_dtype_name(dtype).into());
            }
            let text = serde_json::to_string_pretty(&json).map_err(|e| Error::runtime(e.to_string()))?;
            std::fs::write(&dst, text + "\n").map_err(|e| Error::io(dst.display(), e))?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| Error::io(dst.display(), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::weight_set_from_f32;
    use safetensors::SafeTensors;

    fn set() -> WeightSet {
        weight_set_from_f32(vec![
            ("a.weight".into(), vec![2, 2], vec![1.0, -2.5, 3.0e-3, 1.0 + 1.0 / 256.0]),
            ("b.bias".into(), vec![3], vec![0.5, 0.25, -0.125]),
        ])
    }

    #[test]
    fn one_file_holds_every_tensor_with_its_shape_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_weights(&set(), dir.path(), &WriteOptions::default()).unwrap();
        assert_eq!(files, vec![dir.path().join("model.safetensors")]);
        let bytes = std::fs::read(&files[0]).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let a = st.tensor("a.weight").unwrap();
        assert_eq!((a.dtype(), a.shape()), (Dtype::F32, &[2usize, 2][..]));
        assert_eq!(to_f64(DType::F32, a.data()), vec![1.0, -2.5, 3.0e-3f32 as f64, 1.0 + 1.0 / 256.0]);
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt", "transformers wants format=pt");
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WriteOptions { dtype: Some(DType::BF16), ..WriteOptions::default() };
        write_weights(&set(), dir.path(), &opts).unwrap();
        let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let a = st.tensor("a.weight").unwrap();
        assert_eq!(a.dtype(), Dtype::BF16);
        let got = to_f64(DType::BF16, a.data());
        // 1 + 2^-8 is halfway between two bf16 values (ulp 2^-7 at 1): ties go to even, i.e. 1.
        assert_eq!(got[3], 1.0);
        assert_eq!(got[1], -2.5);
        assert!((got[2] - 3.0e-3).abs() < 3.0e-3 / 128.0, "{}", got[2]);
    }

    #[test]
    fn shards_split_at_the_limit_and_the_index_maps_every_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WriteOptions { dtype: None, max_shard_bytes: 16 };
        let files = write_weights(&set(), dir.path(), &opts).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(
            names,
            ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
        );
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(&names[2])).unwrap()).unwrap();
        assert_eq!(index["weight_map"]["a.weight"], names[0]);
        assert_eq!(index["weight_map"]["b.bias"], names[1]);
        assert_eq!(index["metadata"]["total_size"], 28);
        // A later unsharded write removes the stale index.
        write_weights(&set(), dir.path(), &WriteOptions::default()).unwrap();
        assert!(!dir.path().join("model.safetensors.index.json").exists());
    }

    #[test]
    fn a_duplicate_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ws = weight_set_from_f32(vec![("w".into(), vec![1], vec![1.0]), ("w".into(), vec![1], vec![2.0])]);
        let err = write_weights(&ws, dir.path(), &WriteOptions::default()).unwrap_err().to_string();
        assert!(err.contains("`w` appears twice"), "{err}");
    }

    #[test]
    fn model_files_are_copied_and_the_dtype_recorded() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("config.json"), r#"{"model_type":"llama","torch_dtype":"float32"}"#).unwrap();
        std::fs::write(src.path().join("tokenizer.json"), "{}").unwrap();
        copy_model_files(src.path(), out.path(), Some(DType::BF16)).unwrap();
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap()).unwrap();
        assert_eq!((&config["torch_dtype"], &config["dtype"]), (&"bfloat16".into(), &"bfloat16".into()));
        assert_eq!(config["model_type"], "llama");
        assert!(out.path().join("tokenizer.json").is_file());
        assert!(!out.path().join("generation_config.json").exists());
        let err = copy_model_files(out.path().join("nope").as_path(), out.path(), None).unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("not a Hugging Face model directory"), "{err}");
    }
}
