//! The fused sampling kernel (one thread block per row) and its launch on libtorch's tensors.
//!
//! Thresholds are found by bisection over the bit patterns of non-negative floats (whose integer
//! order is their value order), so no sort is needed: the k-th largest probability is the
//! largest `t` with `count(p >= t) >= k`, and the top-p threshold the largest `t` with
//! `mass(p >= max(t, kth)) / mass(p >= kth) >= top_p`; both are exactly the values the
//! sort-based definition in [`crate::sampling`] picks.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use lrpo_core::{Error, Result};
use tch::{Device, Kind, Tensor};

use crate::sampling::RowParams;

const THREADS: u32 = 256;

/// The kernel source (`fused_sample.cu`); `THREADS` there must match the constant above.
pub const SOURCE: &str = include_str!("fused_sample.cu");

/// Compiles the kernel source to PTX with NVRTC. Needs no GPU, only the NVRTC library, so
/// machines without a device can still check that the kernel compiles.
pub fn compile() -> Result<Ptx> {
    preload_nvrtc();
    // SAFETY: only tries to dlopen NVRTC by its usual names (cudarc would panic instead).
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(Error::runtime("CUDA sampler: NVRTC (libnvrtc.so.13) is neither in the torch wheel's nvidia/ folder nor on the loader path"));
    }
    cudarc::nvrtc::compile_ptx(SOURCE).map_err(|e| Error::runtime(format!("CUDA sampler: NVRTC: {e}")))
}

/// Opens the NVRTC that ships with the CUDA build of torch whose libtorch we link (pip's
/// `nvidia/<pkg>/lib` next to `torch/lib`), so that cudarc's later `dlopen` by soname finds
/// it already loaded. A system NVRTC on the loader path works too; this only adds the wheel's.
fn preload_nvrtc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(site) = std::path::Path::new(lrpo_torch::LIBTORCH_LIB_DIR).parent().and_then(|p| p.parent()) else {
            return;
        };
        let Ok(packages) = std::fs::read_dir(site.join("nvidia")) else { return };
        let files: Vec<std::path::PathBuf> = packages
            .flatten()
            .filter_map(|pkg| std::fs::read_dir(pkg.path().join("lib")).ok())
            .flat_map(|dir| dir.flatten().map(|e| e.path()))
            .collect();
        // The builtins first: NVRTC opens them by soname when it compiles.
        for prefix in ["libnvrtc-builtins.so.", "libnvrtc.so."] {
            let mut found: Vec<&std::path::PathBuf> = files
                .iter()
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
                .collect();
            found.sort();
            if let Some(path) = found.first() {
                // SAFETY: loading NVRTC runs no initialisers with preconditions; the handle is
                // leaked on purpose so the library stays loaded for cudarc.
                match unsafe { libloading::Library::new(path) } {
                    Ok(lib) => std::mem::forget(lib),
                    Err(e) => tracing::debug!("could not preload {}: {e}", path.display()),
                }
            }
        }
    });
}

/// The compiled kernel on one GPU.
#[derive(Debug)]
pub struct FusedSampler {
    ordinal: usize,
    stream: Arc<CudaStream>,
    func: CudaFunction,
}

fn cuda_err(what: &'static str) -> impl Fn(cudarc::driver::DriverError) -> Error {
    move |e| Error::runtime(format!("CUDA sampler: {what}: {e}"))
}

impl FusedSampler {
    /// Compiles the kernel with NVRTC and loads it into `cuda:ordinal`'s primary context (the
    /// one libtorch uses).
    pub fn new(ordinal: usize) -> Result<Self> {
        // SAFETY: only tries to dlopen the driver library by its usual names.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(Error::runtime("CUDA sampler: no CUDA driver library (libcuda.so.1) on the loader path"));
        }
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("opening the device"))?;
        let ptx = compile()?;
        let module = ctx.load_module(ptx).map_err(cuda_err("loading the module"))?;
        let func = module.load_function("fused_sample").map_err(cuda_err("finding fused_sample"))?;
        Ok(FusedSampler { ordinal, stream: ctx.default_stream(), func })
    }

    /// Tokens `[B]` (int64, on the GPU) picked from `logits` `[B, V]` with the given uniforms.
    pub fn pick(&self, logits: &Tensor, params: &RowParams, uniforms: &[f32]) -> Result<Tensor> {
        let device = Device::Cuda(self.ordinal);
        let size = logits.size();
        if logits.device() != device
            || size.len() != 2
            || size[0] as usize != params.len()
            || uniforms.len() != params.len()
        {
            return Err(Error::runtime(format!(
                "CUDA sampler: logits {size:?} on {:?} for {} rows",
                logits.device(),
                params.len()
            )));
        }
        let logits = logits.to_kind(Kind::Float).contiguous();
        let on = |t: Tensor| t.to_device(device).contiguous();
        let temperature = on(Tensor::from_slice(&params.temperature));
        let top_k = on(Tensor::from_slice(&params.top_k));
        let top_p = on(Tensor::from_slice(&params.top_p));
        let min_p = on(Tensor::from_slice(&params.min_p));
        let u = on(Tensor::from_slice(uniforms));
        let out = Tensor::empty([size[0]], (Kind::Int64, device));
        // libtorch may have queued the logits on its own stream; the kernel must see them done.
        tch::Cuda::synchronize(self.ordinal as i64);
        let ptr = |t: &Tensor| t.data_ptr() as u64;
        let (pl, pt, pk, pp, pm, pu, po) =
            (ptr(&logits), ptr(&temperature), ptr(&top_k), ptr(&top_p), ptr(&min_p), ptr(&u), ptr(&out));
        let vocab = size[1];
        let cfg = LaunchConfig { grid_dim: (size[0] as u32, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 };
        let mut launch = self.stream.launch_builder(&self.func);
        launch.arg(&pl).arg(&vocab).arg(&pt).arg(&pk).arg(&pp).arg(&pm).arg(&pu).arg(&po);
        // SAFETY: every pointer is a live, contiguous device tensor of the kernel's element type
        // and length (rows x vocab for logits, rows for the rest), kept alive until the sync below.
        unsafe { launch.launch(cfg) }.map_err(cuda_err("launching fused_sample"))?;
        self.stream.synchronize().map_err(cuda_err("waiting for fused_sample"))?;
        Ok(out)
    }
}
