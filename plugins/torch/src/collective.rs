//! Tensors summed over the ranks of a data-parallel run ([`lrpo_sdk::collective`]), in the
//! buckets DDP uses: one collective per few tens of MB rather than one per parameter, whose
//! fixed cost (a round trip between the ranks) would dominate for small tensors.

use lrpo_core::{Error, Result};
use lrpo_sdk::collective::{ElementType, FfiBuffer, World};
use tch::{Device, Kind, Tensor};

/// Elements per bucket: 64 MiB of f32.
const BUCKET: i64 = 16 << 20;

fn element(kind: Kind) -> Result<ElementType> {
    match kind {
        Kind::Float => Ok(ElementType::F32),
        Kind::Double => Ok(ElementType::F64),
        Kind::BFloat16 => Ok(ElementType::Bf16),
        Kind::Half => Ok(ElementType::F16),
        other => Err(Error::runtime(format!("all-reduce of {other:?} tensors is not supported"))),
    }
}

/// Sums a contiguous tensor over the ranks, in place.
fn reduce_contiguous(world: &World, t: &Tensor) -> Result<()> {
    let device = match t.device() {
        Device::Cpu => -1,
        Device::Cuda(i) => i as i32,
        other => return Err(Error::runtime(format!("all-reduce of tensors on {other:?}"))),
    };
    let buffer = FfiBuffer { ptr: t.data_ptr() as usize, len: t.numel() as u64, element: element(t.kind())?, device };
    // Safety: `t` is contiguous, owns `numel` elements of its kind on `device`, and nothing else
    // touches it during the call (the caller holds it; libtorch's queued work on the device
    // stream is ordered before the collective by the backend).
    unsafe { world.all_reduce_sum_raw(buffer) }
}

/// Sums every tensor over the ranks, in place; all tensors share a device and kind. Tensors
/// are packed into buckets of up to 64 MiB, reduced, and copied back.
pub fn all_reduce_sum(world: &World, tensors: &[Tensor]) -> Result<()> {
    let _guard = tch::no_grad_guard();
    let mut start = 0;
    while start < tensors.len() {
        let mut end = start;
        let mut numel = 0i64;
        while end < tensors.len() && (end == start || numel + tensors[end].numel() as i64 <= BUCKET) {
            numel += tensors[end].numel() as i64;
            end += 1;
        }
        let group = &tensors[start..end];
        if group.len() == 1 && group[0].is_contiguous() {
            reduce_contiguous(world, &group[0])?;
        } else {
            let flat: Vec<Tensor> = group.iter().map(|t| t.reshape([-1])).collect();
            let bucket = Tensor::cat(&flat, 0);
            reduce_contiguous(world, &bucket)?;
            let mut offset = 0i64;
            for t in group {
                let n = t.numel() as i64;
                t.shallow_clone().copy_(&bucket.narrow(0, offset, n).view_as(t));
                offset += n;
            }
        }
        start = end;
    }
    Ok(())
}
