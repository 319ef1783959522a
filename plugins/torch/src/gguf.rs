//! A reader for GGUF v2/v3 files (llama.cpp's container): metadata and tensor directory.
//!
//! Written here rather than taken from a crate: the GGUF crates we looked at panic or transmute
//! unknown type ids on malformed files, and every failure here must be an error naming the file.

use std::collections::HashMap;

use lrpo_core::{Error, Result};

use crate::bytes::ByteReader;
use crate::quant::GgmlType;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<GgufValue>),
}

impl GgufValue {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::UInt(v) => Some(v),
            GgufValue::Int(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::Float(v) => Some(v),
            GgufValue::UInt(v) => Some(v as f64),
            GgufValue::Int(v) => Some(v as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GgufTensor {
    pub name: String,
    /// GGML order: `dims[0]` varies fastest (the reverse of a row-major shape).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset from the start of the data section.
    pub offset: u64,
}

impl GgufTensor {
    /// Row-major shape, as PyTorch / safetensors write it.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
    pub fn numel(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }
}

/// A parsed GGUF file borrowing its bytes.
#[derive(Debug)]
pub struct Gguf<'a> {
    pub source: String,
    pub metadata: HashMap<String, GgufValue>,
    pub tensors: Vec<GgufTensor>,
    data: &'a [u8],
}

/// The GGUF-specific reads on top of the shared byte reader.
trait GgufReads {
    fn string(&mut self) -> Result<String>;
    fn value(&mut self, ty: u32, depth: u32) -> Result<GgufValue>;
}

impl GgufReads for ByteReader<'_> {
    fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| self.err("string length overflows"))?;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.err("string is not UTF-8"))
    }
    fn value(&mut self, ty: u32, depth: u32) -> Result<GgufValue> {
        Ok(match ty {
            0 => GgufValue::UInt(self.u8()? as u64),
            1 => GgufValue::Int(self.u8()? as i8 as i64),
            2 => GgufValue::UInt(self.u16()? as u64),
            3 => GgufValue::Int(self.u16()? as i16 as i64),
            4 => GgufValue::UInt(self.u32()? as u64),
            5 => GgufValue::Int(self.u32()? as i32 as i64),
            6 => GgufValue::Float(f32::from_bits(self.u32()?) as f64),
            7 => GgufValue::Bool(self.u8()? != 0),
            8 => GgufValue::Str(self.string()?),
            9 if depth < 4 => {
                let item_ty = self.u32()?;
                let n = self.u64()?;
                // Each item takes at least one byte, which bounds a corrupt count.
                if n > self.remaining() as u64 {
                    return Err(self.err(format!("array of {n} items cannot fit in the file")));
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(item_ty, depth + 1)?);
                }
                GgufValue::Array(items)
            }
            10 => GgufValue::UInt(self.u64()?),
            11 => GgufValue::Int(self.u64()? as i64),
            12 => GgufValue::Float(f64::from_bits(self.u64()?)),
            other => return Err(self.err(format!("unknown metadata value type {other}"))),
        })
    }
}

impl<'a> Gguf<'a> {
    pub fn parse(bytes: &'a [u8], source: &str) -> Result<Self> {
        let mut c = ByteReader::new(bytes, source);
        if c.take(4)? != b"GGUF" {
            return Err(Error::input(source, "not a GGUF file (bad magic)"));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::input(source, format!("GGUF version {version} is not supported (2 or 3)")));
        }
        let n_tensors = c.u64()?;
        let n_kv = c.u64()?;
        let mut metadata = HashMap::new();
        for _ in 0..n_kv {
            let key = c.string()?;
            let ty = c.u32()?;
            let value = c.value(ty, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = c.string()?;
            let n_dims = c.u32()?;
            if n_dims > 8 {
                return Err(c.err(format!("tensor `{name}` has {n_dims} dimensions")));
            }
            let dims = (0..n_dims).map(|_| c.u64()).collect::<Result<Vec<_>>>()?;
            let ty_id = c.u32()?;
            let ty = GgmlType::from_id(ty_id)
                .ok_or_else(|| c.err(format!("tensor `{name}` has unsupported GGML type {ty_id}")))?;
            let offset = c.u64()?;
            tensors.push(GgufTensor { name, dims, ty, offset });
        }
        let align = metadata.get("general.alignment").and_then(GgufValue::as_u64).unwrap_or(32).max(1) as usize;
        let start = c.pos.div_ceil(align) * align;
        if start > bytes.len() {
            return Err(Error::input(source, "truncated before the tensor data"));
        }
        Ok(Gguf { source: source.to_string(), metadata, tensors, data: &bytes[start..] })
    }

    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    fn missing(&self, key: &str, what: &str) -> Error {
        Error::input(format!("{} metadata `{key}`", self.source), format!("missing or not {what}"))
    }

    pub fn u64(&self, key: &str) -> Result<u64> {
        self.get(key).and_then(GgufValue::as_u64).ok_or_else(|| self.missing(key, "an integer"))
    }
    pub fn f64(&self, key: &str) -> Result<f64> {
        self.get(key).and_then(GgufValue::as_f64).ok_or_else(|| self.missing(key, "a number"))
    }
    pub fn str(&self, key: &str) -> Result<&str> {
        self.get(key).and_then(GgufValue::as_str).ok_or_else(|| self.missing(key, "a string"))
    }
    pub fn strings(&self, key: &str) -> Result<Vec<&str>> {
        let arr = self.get(key).and_then(GgufValue::as_array).ok_or_else(|| self.missing(key, "an array"))?;
        arr.iter().map(|v| v.as_str().ok_or_else(|| self.missing(key, "an array of strings"))).collect()
    }
    pub fn ints(&self, key: &str) -> Result<Vec<i64>> {
        let arr = self.get(key).and_then(GgufValue::as_array).ok_or_else(|| self.missing(key, "an array"))?;
        arr.iter()
            .map(|v| match *v {
                GgufValue::Int(i) => Ok(i),
                GgufValue::UInt(u) => Ok(u as i64),
                _ => Err(self.missing(key, "an array of integers")),
            })
            .collect()
    }

    pub fn tensor(&self, name: &str) -> Result<&GgufTensor> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::input(self.source.clone(), format!("no tensor `{name}`")))
    }

    /// The tensor's values as f32, row-major.
    pub fn dequantize(&self, t: &GgufTensor) -> Result<Vec<f32>> {
        let what = format!("{} tensor `{}`", self.source, t.name);
        let n = t.numel();
        let len =
            t.ty.bytes_for(n)
                .ok_or_else(|| Error::input(what.clone(), format!("{n} elements are not whole {:?} blocks", t.ty)))?;
        let start = t.offset as usize;
        let bytes = start
            .checked_add(len)
            .and_then(|end| self.data.get(start..end))
            .ok_or_else(|| Error::input(what.clone(), "data runs past the end of the file"))?;
        crate::quant::dequantize(t.ty, bytes, n, &what)
    }
}
