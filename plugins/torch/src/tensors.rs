//! Reading and writing safetensors checkpoints in Hugging Face layout.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use lrpo_core::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use tch::{Device, Kind, Tensor};

/// All tensors of a checkpoint, converted to one dtype and device, handed out by name once each.
pub struct TensorStore {
    source: String,
    tensors: HashMap<String, Tensor>,
}

impl std::fmt::Debug for TensorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TensorStore({}, {} tensors)", self.source, self.tensors.len())
    }
}

/// The safetensors files of a model directory: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json`.
pub fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if !index.is_file() {
        return Err(Error::io(dir.display(), "no model.safetensors or model.safetensors.index.json"));
    }
    let text = std::fs::read_to_string(&index).map_err(|e| Error::io(index.display(), e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::input(index.display().to_string(), e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::input(format!("{} field `weight_map`", index.display()), "missing or not an object"))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| Error::input(format!("{} field `weight_map.{name}`", index.display()), "not a file name"))?;
        let path = dir.join(file);
        if !files.contains(&path) {
            files.push(path);
        }
    }
    Ok(files)
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

impl TensorStore {
    /// Loads every tensor of the checkpoint in `dir`; floating tensors become `kind` on `device`.
    pub fn load_dir(dir: &Path, kind: Kind, device: Device) -> Result<Self> {
        let mut tensors = HashMap::new();
        for file in checkpoint_files(dir)? {
            Self::load_file_into(&file, kind, device, &mut tensors)?;
        }
        Ok(TensorStore { source: dir.display().to_string(), tensors })
    }

    fn load_file_into(file: &Path, kind: Kind, device: Device, out: &mut HashMap<String, Tensor>) -> Result<()> {
        let handle = std::fs::File::open(file).map_err(|e| Error::io(file.display(), e))?;
        // SAFETY: the map is read-only and dropped before this function returns; the bytes are
        // copied into libtorch-owned memory by `f_from_data_size`.
        let mmap = unsafe { memmap2::Mmap::map(&handle) }.map_err(|e| Error::io(file.display(), e))?;
        let st =
            SafeTensors::deserialize(&mmap).map_err(|e| Error::input(file.display().to_string(), e.to_string()))?;
        for (name, view) in st.tensors() {
            let src_kind = kind_of(view.dtype()).ok_or_else(|| {
                Error::input(
                    format!("{} tensor `{name}`", file.display()),
                    format!("unsupported dtype {:?}", view.dtype()),
                )
            })?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, src_kind)
                .map_err(crate::torch_err(format!("{} tensor `{name}`", file.display())))?;
            let t = if matches!(src_kind, Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double) {
                t.to_kind(kind)
            } else {
                t
            };
            out.insert(name, t.to_device(device));
        }
        Ok(())
    }

    /// Wraps tensors already in memory (tests, conversions from a WeightSet).
    pub fn from_tensors(source: impl Into<String>, tensors: HashMap<String, Tensor>) -> Self {
        TensorStore { source: source.into(), tensors }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().cloned().collect();
        names.sort();
        names
    }

    /// Removes and returns `name`, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| Error::input(format!("{} tensor `{name}`", self.source), "missing from the checkpoint"))?;
        if t.size() != shape {
            return Err(Error::input(
                format!("{} tensor `{name}`", self.source),
                format!("shape {:?}, expected {shape:?}", t.size()),
            ));
        }
        Ok(t)
    }

    /// Like [`take`](Self::take), for tensors a model may or may not have.
    pub fn take_opt(&mut self, name: &str, shape: &[i64]) -> Result<Option<Tensor>> {
        if self.tensors.contains_key(name) {
            self.take(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Tensor names left after a model took what it needs, minus ones known to be derivable.
    pub fn leftovers(&self, ignorable: impl Fn(&str) -> bool) -> Vec<String> {
        self.names().into_iter().filter(|n| !ignorable(n)).collect()
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// An f32 tensor to write: HF name, shape, row-major values.
#[derive(Debug, Clone)]
pub struct F32Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Writes f32 tensors as one safetensors file (written to a temporary name, then renamed, so a
/// crash never leaves a half-written checkpoint that looks complete).
pub fn write_f32_safetensors(path: &Path, tensors: &[F32Tensor], metadata: BTreeMap<String, String>) -> Result<()> {
    let mut bytes: Vec<Vec<u8>> = Vec::with_capacity(tensors.len());
    for t in tensors {
        let n: usize = t.shape.iter().product();
        if n != t.data.len() {
            return Err(Error::runtime(format!(
                "tensor `{}`: shape {:?} holds {n} values, got {}",
                t.name,
                t.shape,
                t.data.len()
            )));
        }
        bytes.push(t.data.iter().flat_map(|v| v.to_le_bytes()).collect());
    }
    let mut views = Vec::with_capacity(tensors.len());
    for (t, b) in tensors.iter().zip(&bytes) {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, t.shape.clone(), b)
            .map_err(|e| Error::runtime(format!("tensor `{}`: {e}", t.name)))?;
        views.push((t.name.clone(), view));
    }
    let tmp = path.with_extension("safetensors.partial");
    let meta: std::collections::HashMap<String, String> = metadata.into_iter().collect();
    safetensors::serialize_to_file(views, Some(meta), &tmp).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
}
