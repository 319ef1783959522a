//! Conversions between tch tensors and the SDK's [`WeightSet`] of [`TensorView`]s.
//!
//! Export copies nothing: each view points at the tensor's own storage and the set's owner box
//! keeps shallow clones of the tensors (which hold a storage reference) alive. Import copies from
//! the views into existing parameters after checking dtype, shape and device.

use lrpo_core::{DType, Device as ViewDevice, TensorView, WeightSet};
use lrpo_core::{Error, Result};
use tch::{Device, Kind, Tensor};

pub fn dtype_of(kind: Kind) -> Option<DType> {
    Some(match kind {
        Kind::Float => DType::F32,
        Kind::Half => DType::F16,
        Kind::BFloat16 => DType::BF16,
        Kind::Double => DType::F64,
        Kind::Int64 => DType::I64,
        Kind::Int => DType::I32,
        Kind::Uint8 => DType::U8,
        _ => return None,
    })
}

pub fn kind_of(dtype: DType) -> Kind {
    match dtype {
        DType::F32 => Kind::Float,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::F64 => Kind::Double,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::U8 => Kind::Uint8,
    }
}

fn view_device(device: Device) -> Result<ViewDevice> {
    match device {
        Device::Cpu => Ok(ViewDevice::Cpu),
        Device::Cuda(i) => Ok(ViewDevice::Cuda(i as u32)),
        other => Err(Error::runtime(format!("weights on {other:?} cannot be shared as tensor views"))),
    }
}

fn tch_device(device: ViewDevice) -> Device {
    match device {
        ViewDevice::Cpu => Device::Cpu,
        ViewDevice::Cuda(i) => Device::Cuda(i as usize),
    }
}

/// Views of `named` tensors without copying; the returned set keeps the tensors alive.
pub fn export_weights(named: Vec<(String, Tensor)>) -> Result<WeightSet> {
    let mut views = Vec::with_capacity(named.len());
    let mut keep = Vec::with_capacity(named.len());
    for (name, t) in named {
        let dtype = dtype_of(t.kind())
            .ok_or_else(|| Error::runtime(format!("tensor `{name}`: dtype {:?} has no view equivalent", t.kind())))?;
        // A detached shallow clone shares storage but carries no autograd history.
        let t = t.detach();
        views.push(TensorView {
            name,
            dtype,
            shape: t.size(),
            strides: t.stride(),
            device: view_device(t.device())?,
            data: t.data_ptr() as *const u8,
        });
        keep.push(t);
    }
    Ok(WeightSet::new(views, Box::new(keep)))
}

/// A non-owning tensor over a view's memory, after checking it against what the caller expects.
///
/// # Safety
/// The view's memory must stay valid while the returned tensor is used (i.e. the [`WeightSet`]
/// it came from must be alive), and nothing may write through it.
pub unsafe fn borrow_view(view: &TensorView, kind: Kind, shape: &[i64]) -> Result<Tensor> {
    let what = format!("weight `{}`", view.name);
    if kind_of(view.dtype) != kind {
        return Err(Error::input(what, format!("dtype {:?}, expected {kind:?}", view.dtype)));
    }
    if view.shape != shape {
        return Err(Error::input(what, format!("shape {:?}, expected {shape:?}", view.shape)));
    }
    if view.strides.len() != view.shape.len() || view.strides.iter().any(|&s| s < 0) {
        return Err(Error::input(what, format!("strides {:?} do not fit shape {:?}", view.strides, view.shape)));
    }
    if view.data.is_null() && view.numel() > 0 {
        return Err(Error::input(what, "null data pointer"));
    }
    if let ViewDevice::Cuda(i) = view.device {
        let available = tch::Cuda::device_count();
        if i64::from(i) >= available {
            return Err(Error::input(what, format!("on cuda:{i}, but this process sees {available} CUDA device(s)")));
        }
    }
    // SAFETY: validity of the memory is the caller's contract; shape/strides/dtype were checked.
    unsafe { Tensor::f_from_blob(view.data, &view.shape, &view.strides, kind, tch_device(view.device)) }
        .map_err(crate::torch_err(what))
}

/// Copies every tensor of `set` into the parameter of the same name (dtype, shape checked; the
/// copy crosses devices when needed). Every parameter must be present in the set.
pub fn import_weights(params: &[(String, Tensor)], set: &WeightSet) -> Result<()> {
    let _guard = tch::no_grad_guard();
    let mut checked = Vec::with_capacity(params.len());
    for (name, p) in params {
        let view =
            set.get(name).ok_or_else(|| Error::input(format!("weight `{name}`"), "missing from the weight set"))?;
        // SAFETY: `set` is borrowed for the whole function, so its owner keeps the memory alive.
        let src = unsafe { borrow_view(view, p.kind(), &p.size()) }?;
        checked.push((p, src));
    }
    // Only copy once everything matched, so a bad set leaves the model untouched.
    for (p, src) in checked {
        let mut dst = p.shallow_clone();
        dst.f_copy_(&src).map_err(crate::torch_err("copying weights"))?;
    }
    if set.tensors.len() != params.len() {
        let known: std::collections::HashSet<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(extra) = set.tensors.iter().find(|v| !known.contains(v.name.as_str())) {
            return Err(Error::input(format!("weight `{}`", extra.name), "not a parameter of this model"));
        }
    }
    Ok(())
}
