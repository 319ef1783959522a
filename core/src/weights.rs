//! Zero-copy views of model weights, handed from the optimizer to the rollout engine.
//!
//! A [`WeightSet`] borrows memory that the exporting component owns; the `owner` keeps that
//! memory alive until the set is dropped. The receiver copies into its own buffers and drops
//! the set; nothing is ever written through a view.

use std::any::Any;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    F32 = 0,
    F16 = 1,
    BF16 = 2,
    F64 = 3,
    I64 = 4,
    I32 = 5,
    U8 = 6,
}

impl DType {
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::F64 | DType::I64 => 8,
            DType::U8 => 1,
        }
    }
    pub fn from_u8(v: u8) -> Option<DType> {
        Some(match v {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::BF16,
            3 => DType::F64,
            4 => DType::I64,
            5 => DType::I32,
            6 => DType::U8,
            _ => return None,
        })
    }
}

/// Where the bytes live. `Cuda(i)` pointers are device pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda(u32),
}

/// A DLPack-shaped view of one tensor: pointer, dtype, shape, strides (in elements), device.
#[derive(Clone, PartialEq)]
pub struct TensorView {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i64>,
    pub strides: Vec<i64>,
    pub device: Device,
    pub data: *const u8,
}

// The pointer is only read while the owning WeightSet is alive, and the owner is `Send`.
unsafe impl Send for TensorView {}

impl TensorView {
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&d| d.max(0) as usize).product()
    }
    /// True when the elements are laid out densely in row-major order.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1i64;
        for (&dim, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if dim != 1 && stride != expected {
                return false;
            }
            expected *= dim;
        }
        true
    }
    /// The bytes of a contiguous CPU view.
    ///
    /// # Safety
    /// The owning [`WeightSet`] must be alive and the view must describe valid memory.
    pub unsafe fn cpu_bytes(&self) -> Option<&[u8]> {
        if self.device != Device::Cpu || !self.is_contiguous() || self.data.is_null() {
            return None;
        }
        Some(unsafe { std::slice::from_raw_parts(self.data, self.numel() * self.dtype.size_bytes()) })
    }
}

impl fmt::Debug for TensorView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TensorView({} {:?} {:?} {:?})", self.name, self.dtype, self.shape, self.device)
    }
}

/// Named tensor views plus whatever keeps their memory alive.
pub struct WeightSet {
    pub tensors: Vec<TensorView>,
    owner: Option<Box<dyn Any + Send>>,
}

impl WeightSet {
    /// Views over memory that `owner` keeps alive.
    pub fn new(tensors: Vec<TensorView>, owner: Box<dyn Any + Send>) -> Self {
        WeightSet { tensors, owner: Some(owner) }
    }
    /// Views over memory that outlives the set by other means (e.g. `'static` data).
    ///
    /// # Safety
    /// Every view's memory must stay valid for the life of the set.
    pub unsafe fn borrowed(tensors: Vec<TensorView>) -> Self {
        WeightSet { tensors, owner: None }
    }
    pub fn get(&self, name: &str) -> Option<&TensorView> {
        self.tensors.iter().find(|t| t.name == name)
    }
    pub fn has_owner(&self) -> bool {
        self.owner.is_some()
    }
}

impl fmt::Debug for WeightSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightSet").field("tensors", &self.tensors.len()).finish()
    }
}

/// Owned f32 buffers exposed as a WeightSet; handy for tests and small CPU models.
pub fn weight_set_from_f32(named: Vec<(String, Vec<i64>, Vec<f32>)>) -> WeightSet {
    let mut views = Vec::with_capacity(named.len());
    let mut buffers: Vec<Vec<f32>> = Vec::with_capacity(named.len());
    for (name, shape, data) in named {
        let mut strides = vec![1i64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        views.push(TensorView {
            name,
            dtype: DType::F32,
            shape,
            strides,
            device: Device::Cpu,
            data: data.as_ptr() as *const u8,
        });
        buffers.push(data); // moving a Vec keeps its heap pointer
    }
    WeightSet::new(views, Box::new(buffers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_views_read_back() {
        let ws = weight_set_from_f32(vec![("w".into(), vec![2, 3], vec![1., 2., 3., 4., 5., 6.])]);
        let v = ws.get("w").unwrap();
        assert!(v.is_contiguous());
        assert_eq!(v.strides, vec![3, 1]);
        let bytes = unsafe { v.cpu_bytes() }.unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(f32::from_le_bytes(bytes[20..24].try_into().unwrap()), 6.0);
    }

    #[test]
    fn transposed_view_is_not_contiguous() {
        let v = TensorView {
            name: "t".into(),
            dtype: DType::F32,
            shape: vec![2, 3],
            strides: vec![1, 2],
            device: Device::Cpu,
            data: std::ptr::null(),
        };
        assert!(!v.is_contiguous());
    }
}
