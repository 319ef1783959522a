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

const SOURCE: &str = r#"
#define THREADS 256

__device__ float block_sum(float v, float* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s]; __syncthreads(); }
    float r = sh[0]; __syncthreads(); return r;
}
__device__ float block_max(float v, float* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]); __syncthreads(); }
    float r = sh[0]; __syncthreads(); return r;
}
__device__ long long block_min_ll(long long v, long long* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s && sh[threadIdx.x + s] < sh[threadIdx.x]) sh[threadIdx.x] = sh[threadIdx.x + s]; __syncthreads(); }
    long long r = sh[0]; __syncthreads(); return r;
}
__device__ long long block_max_ll(long long v, long long* sh) {
    sh[threadIdx.x] = v; __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) { if (threadIdx.x < s && sh[threadIdx.x + s] > sh[threadIdx.x]) sh[threadIdx.x] = sh[threadIdx.x + s]; __syncthreads(); }
    long long r = sh[0]; __syncthreads(); return r;
}

extern "C" __global__ void fused_sample(const float* logits, long long vocab, const float* temperature,
        const long long* top_k, const float* top_p, const float* min_p, const float* uniforms, long long* out) {
    __shared__ float shf[THREADS];
    __shared__ long long shl[THREADS];
    __shared__ float prefix[THREADS];
    const long long row = blockIdx.x;
    const float* x = logits + row * vocab;
    const int tid = threadIdx.x;
    const float t_raw = temperature[row];
    const float t = t_raw > 0.0f ? t_raw : 1.0f;

    float m = __int_as_float(0xff800000);  // -inf; NVRTC has no math.h for INFINITY
    for (long long i = tid; i < vocab; i += THREADS) m = fmaxf(m, x[i] / t);
    m = block_max(m, shf);
    if (t_raw == 0.0f) {
        long long first = vocab;
        for (long long i = tid; i < vocab; i += THREADS) if (x[i] / t == m && i < first) first = i;
        first = block_min_ll(first, shl);
        if (tid == 0) out[row] = first;
        return;
    }
    float z = 0.0f;
    for (long long i = tid; i < vocab; i += THREADS) z += expf(x[i] / t - m);
    z = block_sum(z, shf);
    #define PROB(i) (expf(x[i] / t - m) / z)
    const float p_max = 1.0f / z;

    float kth = 0.0f;
    const long long k = top_k[row];
    if (k > 0 && k < vocab) {
        unsigned int lo = 0u, hi = __float_as_uint(p_max) + 1u;
        while (hi - lo > 1u) {
            unsigned int mid = lo + (hi - lo) / 2u;
            float c = 0.0f;
            for (long long i = tid; i < vocab; i += THREADS) c += PROB(i) >= __uint_as_float(mid) ? 1.0f : 0.0f;
            if (block_sum(c, shf) >= (float)k) lo = mid; else hi = mid;
        }
        kth = __uint_as_float(lo);
    }
    float tp = 0.0f;
    const float want = top_p[row];
    if (want < 1.0f) {
        float mk = 0.0f;
        for (long long i = tid; i < vocab; i += THREADS) { float p = PROB(i); if (p >= kth) mk += p; }
        mk = block_sum(mk, shf);
        unsigned int lo = __float_as_uint(kth), hi = __float_as_uint(p_max) + 1u;
        while (hi - lo > 1u) {
            unsigned int mid = lo + (hi - lo) / 2u;
            float bound = fmaxf(__uint_as_float(mid), kth);
            float s = 0.0f;
            for (long long i = tid; i < vocab; i += THREADS) { float p = PROB(i); if (p >= bound) s += p; }
            if (block_sum(s, shf) / mk >= want) lo = mid; else hi = mid;
        }
        tp = __uint_as_float(lo);
    }
    const float thr = fmaxf(fmaxf(kth, tp), min_p[row] * p_max);

    // Inverse CDF in vocabulary order: each thread owns one contiguous segment.
    const long long seg = (vocab + THREADS - 1) / THREADS;
    const long long begin = tid * seg;
    const long long end = begin + seg < vocab ? begin + seg : vocab;
    float local = 0.0f;
    long long last = -1;
    for (long long i = begin; i < end; ++i) { float p = PROB(i); if (p >= thr) { local += p; last = i; } }
    prefix[tid] = local;
    __syncthreads();
    if (tid == 0) { float run = 0.0f; for (int j = 0; j < THREADS; ++j) { float v = prefix[j]; prefix[j] = run; run += v; } shf[0] = run; }
    __syncthreads();
    const float target = uniforms[row] * shf[0];
    long long found = vocab;
    float run = prefix[tid];
    if (run <= target && run + local > target) {
        for (long long i = begin; i < end; ++i) {
            float p = PROB(i);
            if (p >= thr) { run += p; if (run > target) { found = i; break; } }
        }
    }
    __syncthreads();
    found = block_min_ll(found, shl);
    last = block_max_ll(last, shl);
    // Rounding can put the target at the very top of the CDF; the last kept token is then meant.
    if (tid == 0) out[row] = found < vocab ? found : last;
}
"#;

/// Compiles the kernel source to PTX with NVRTC. Needs no GPU, only the NVRTC library, so
/// machines without a device can still check that the kernel compiles.
pub fn compile() -> Result<Ptx> {
    preload_nvrtc();
    cudarc::nvrtc::compile_ptx(SOURCE).map_err(|e| Error::runtime(format!("CUDA sampler: NVRTC: {e}")))
}

/// Opens the NVRTC that ships with the CUDA build of torch whose libtorch we link (pip's
/// `nvidia/<pkg>/lib` next to `torch/lib`), so that cudarc's later `dlopen` by soname finds
/// it already loaded. A system NVRTC on the loader path works too; this only adds the wheel's.
fn preload_nvrtc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(site) = std::path::Path::new(lrpo_torch::LIBTORCH_LIB_DIR).parent().and_then(|p| p.parent()) else { return };
        let Ok(packages) = std::fs::read_dir(site.join("nvidia")) else { return };
        let files: Vec<std::path::PathBuf> = packages
            .flatten()
            .filter_map(|pkg| std::fs::read_dir(pkg.path().join("lib")).ok())
            .flat_map(|dir| dir.flatten().map(|e| e.path()))
            .collect();
        // The builtins first: NVRTC opens them by soname when it compiles.
        for prefix in ["libnvrtc-builtins.so.", "libnvrtc.so."] {
            let mut found: Vec<&std::path::PathBuf> =
                files.iter().filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix))).collect();
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
        if logits.device() != device || size.len() != 2 || size[0] as usize != params.len() || uniforms.len() != params.len() {
            return Err(Error::runtime(format!("CUDA sampler: logits {size:?} on {:?} for {} rows", logits.device(), params.len())));
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
        let (pl, pt, pk, pp, pm, pu, po) = (ptr(&logits), ptr(&temperature), ptr(&top_k), ptr(&top_p), ptr(&min_p), ptr(&u), ptr(&out));
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
