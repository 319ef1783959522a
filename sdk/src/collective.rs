//! The ranks of a data-parallel run, as a component sees them.
//!
//! The host owns the process group (PyTorch's own, docs/architecture.md §"Distributed
//! training") and tells every plugin library about it before building any component. A
//! component that must agree with its peers (an optimizer summing gradients) asks [`world`]: `None`
//! means the run is one process and nothing needs reducing.
//!
//! ```no_run
//! if let Some(world) = lrpo_sdk::collective::world() {
//!     let mut grads = vec![0.5f32; 4];
//!     world.all_reduce_sum(&mut grads)?; // now the sum over every rank's values
//! }
//! # Ok::<(), lrpo_core::Error>(())
//! ```

use crate::FfiError;
use abi_stable::std_types::RResult;
use abi_stable::StableAbi;
use lrpo_core::{Error, Result};
use std::sync::OnceLock;

/// Element types a buffer may hold.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    F32 = 0,
    F64 = 1,
    Bf16 = 2,
    F16 = 3,
}

/// A number type a host buffer may hold, for [`World::all_reduce_sum`].
pub trait HostElement: Copy {
    const ELEMENT: ElementType;
}
impl HostElement for f32 {
    const ELEMENT: ElementType = ElementType::F32;
}
impl HostElement for f64 {
    const ELEMENT: ElementType = ElementType::F64;
}

/// `len` elements at `ptr` in the memory of `device` (-1: host memory, N: CUDA device N).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiBuffer {
    pub ptr: usize,
    pub len: u64,
    pub element: ElementType,
    pub device: i32,
}

/// What the host hands each plugin library once when the run has more than one rank.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiWorld {
    pub rank: u32,
    pub size: u32,
    /// The rank's index on its node: `device = "cuda"` means `cuda:<local_rank>`.
    pub local_rank: u32,
    /// Sums the buffer over every rank, in place; every rank calls it in the same order.
    pub all_reduce_sum: extern "C" fn(buffer: FfiBuffer) -> RResult<(), FfiError>,
}

/// This process's place among the ranks, and the one collective components need.
#[derive(Debug, Clone, Copy)]
pub struct World(FfiWorld);

impl World {
    pub fn rank(&self) -> usize {
        self.0.rank as usize
    }
    pub fn size(&self) -> usize {
        self.0.size as usize
    }
    pub fn local_rank(&self) -> usize {
        self.0.local_rank as usize
    }

    /// Sums `values` (f32 or f64) over every rank, in place.
    pub fn all_reduce_sum<T: HostElement>(&self, values: &mut [T]) -> Result<()> {
        let buffer =
            FfiBuffer { ptr: values.as_mut_ptr() as usize, len: values.len() as u64, element: T::ELEMENT, device: -1 };
        // Safety: the buffer is exactly `values`, borrowed mutably for the call.
        unsafe { self.all_reduce_sum_raw(buffer) }
    }

    /// Sums a buffer in device memory (a tensor's storage) over every rank, in place. On CUDA
    /// the reduction is ordered after the work already queued on the device's current stream.
    ///
    /// # Safety
    /// `buffer` must describe `len` contiguous, writable elements of its type on its device,
    /// not read or written by anything else until the call returns.
    pub unsafe fn all_reduce_sum_raw(&self, buffer: FfiBuffer) -> Result<()> {
        (self.0.all_reduce_sum)(buffer).into_result().map_err(Error::from)
    }
}

static WORLD: OnceLock<World> = OnceLock::new();

/// The run's ranks; `None` when the run is a single process.
pub fn world() -> Option<World> {
    WORLD.get().copied()
}

/// Called through the root module's `set_world` (inside the plugin) and by the host for the
/// components it runs in its own process. The first world set stays.
#[doc(hidden)]
pub fn install(world: FfiWorld) {
    let _ = WORLD.set(World(world));
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_stable::std_types::{RErr, ROk};

    extern "C" fn doubles(buffer: FfiBuffer) -> RResult<(), FfiError> {
        if buffer.element != ElementType::F32 || buffer.device != -1 {
            return RErr(Error::runtime("only host f32 here").into());
        }
        // Safety: the test hands its own f32 slice.
        let values = unsafe { std::slice::from_raw_parts_mut(buffer.ptr as *mut f32, buffer.len as usize) };
        values.iter_mut().for_each(|v| *v *= 2.0);
        ROk(())
    }

    #[test]
    fn a_world_reduces_through_the_host_callback() {
        let world = World(FfiWorld { rank: 1, size: 2, local_rank: 1, all_reduce_sum: doubles });
        let mut values = vec![1.0f32, -0.5];
        world.all_reduce_sum(&mut values).unwrap();
        assert_eq!(values, vec![2.0, -1.0]);
        assert_eq!((world.rank(), world.size(), world.local_rank()), (1, 2, 1));
        let bad = FfiBuffer { ptr: 0, len: 0, element: ElementType::F64, device: -1 };
        let e = unsafe { world.all_reduce_sum_raw(bad) }.unwrap_err();
        assert!(e.to_string().contains("only host f32"), "{e}");
    }
}
