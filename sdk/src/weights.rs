//! Weight hand-over without copies: DLPack-shaped views plus an opaque owner that is dropped
//! inside the library that created it (each library frees its own memory).

use abi_stable::std_types::{RBox, RString, RVec};
use abi_stable::{DynTrait, StableAbi};
use lrpo_core::{DType, Device, Error, TensorView, WeightSet};

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiTensorView {
    pub name: RString,
    pub dtype: u8,
    pub shape: RVec<i64>,
    pub strides: RVec<i64>,
    /// 0 = CPU, 1 = CUDA.
    pub device_kind: u8,
    pub device_index: u32,
    pub data: *const u8,
}

/// Marker interface: the owner can only be moved between threads and dropped.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(impl_InterfaceType(Send))]
pub struct OwnerInterface;

pub type FfiOwner = DynTrait<'static, RBox<()>, OwnerInterface>;

#[repr(C)]
#[derive(StableAbi)]
pub struct FfiWeightSet {
    pub tensors: RVec<FfiTensorView>,
    pub owner: FfiOwner,
}

impl From<&TensorView> for FfiTensorView {
    fn from(t: &TensorView) -> Self {
        let (device_kind, device_index) = match t.device {
            Device::Cpu => (0, 0),
            Device::Cuda(i) => (1, i),
        };
        FfiTensorView {
            name: t.name.as_str().into(),
            dtype: t.dtype as u8,
            shape: t.shape.as_slice().into(),
            strides: t.strides.as_slice().into(),
            device_kind,
            device_index,
            data: t.data,
        }
    }
}

impl TryFrom<&FfiTensorView> for TensorView {
    type Error = Error;
    fn try_from(t: &FfiTensorView) -> Result<Self, Error> {
        let dtype = DType::from_u8(t.dtype)
            .ok_or_else(|| Error::State(format!("tensor `{}`: unknown dtype code {}", t.name, t.dtype)))?;
        if t.shape.len() != t.strides.len() {
            return Err(Error::State(format!("tensor `{}`: shape and strides differ in rank", t.name)));
        }
        Ok(TensorView {
            name: t.name.to_string(),
            dtype,
            shape: t.shape.to_vec(),
            strides: t.strides.to_vec(),
            device: if t.device_kind == 1 { Device::Cuda(t.device_index) } else { Device::Cpu },
            data: t.data,
        })
    }
}

struct CoreOwner(#[allow(dead_code)] WeightSet);

/// Guest side: move a core WeightSet (views + owner) into its FFI form.
pub fn weight_set_to_ffi(set: WeightSet) -> FfiWeightSet {
    let tensors = set.tensors.iter().map(FfiTensorView::from).collect();
    FfiWeightSet { tensors, owner: DynTrait::from_value(CoreOwner(set)) }
}

/// Host side: the FFI set becomes a core WeightSet whose owner is the foreign owner.
pub fn weight_set_from_ffi(set: FfiWeightSet) -> Result<WeightSet, Error> {
    let tensors = set.tensors.iter().map(TensorView::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(WeightSet::new(tensors, Box::new(set.owner)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::weight_set_from_f32;

    #[test]
    fn views_survive_the_round_trip_without_copying() {
        let set = weight_set_from_f32(vec![("a".into(), vec![2], vec![1.0, 2.0])]);
        let ptr = set.tensors[0].data;
        let back = weight_set_from_ffi(weight_set_to_ffi(set)).unwrap();
        assert_eq!(back.tensors[0].data, ptr);
        let bytes = unsafe { back.tensors[0].cpu_bytes() }.unwrap();
        assert_eq!(f32::from_le_bytes(bytes[4..8].try_into().unwrap()), 2.0);
    }

    #[test]
    fn bad_dtype_is_an_error() {
        let v = FfiTensorView {
            name: "w".into(),
            dtype: 99,
            shape: RVec::new(),
            strides: RVec::new(),
            device_kind: 0,
            device_index: 0,
            data: std::ptr::null(),
        };
        assert!(TensorView::try_from(&v).unwrap_err().to_string().contains("unknown dtype"));
    }
}
