//! `lrpo-cuda-check`: compiles the fused sampling kernel with NVRTC, runs it on the fixed
//! fixture on GPU 0, and compares every row's token with the plain-Rust reference (equal, or
//! off only where f32 rounding puts the uniform on a CDF boundary). Prints the
//! kernel's time per launch (384 rows x 49,152 tokens). Exit status 0 when all rows agree.
//!
//! Needs only the CUDA driver and NVRTC (`libnvrtc.so.*` on the loader path), no libtorch, so it
//! runs on a GPU machine without the project's toolchain; `scripts/gpu-check.sh` carries it.

use std::process::ExitCode;
use std::time::Instant;

use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg};
use lrpo_cuda_check::{agreement, fixture, reference_tokens, KERNEL_SOURCE, THREADS};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("lrpo-cuda-check: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let f = fixture();
    let rows = f.rows();
    let started = Instant::now();
    let want = reference_tokens(&f);
    println!("reference (CPU, f64): {rows} rows in {:.2} s", started.elapsed().as_secs_f64());

    // cudarc panics when a library is missing; say which one instead.
    // SAFETY: both only try to dlopen the library by its usual names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("no CUDA driver library (libcuda.so.1) on the loader path".into());
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err("no NVRTC (libnvrtc.so.13) on the loader path; add its folder to LD_LIBRARY_PATH".into());
    }
    let ctx = CudaContext::new(0)?;
    let ptx = cudarc::nvrtc::compile_ptx(KERNEL_SOURCE)?;
    let module = ctx.load_module(ptx)?;
    let kernel = module.load_function("fused_sample")?;
    let stream = ctx.default_stream();
    let logits = stream.memcpy_stod(&f.logits)?;
    let temperature = stream.memcpy_stod(&f.temperature)?;
    let top_k = stream.memcpy_stod(&f.top_k)?;
    let top_p = stream.memcpy_stod(&f.top_p)?;
    let min_p = stream.memcpy_stod(&f.min_p)?;
    let uniforms = stream.memcpy_stod(&f.uniforms)?;
    let mut out = stream.alloc_zeros::<i64>(rows)?;
    let vocab = f.vocab as i64;
    let cfg = LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 };
    let mut launch = || -> Result<(), cudarc::driver::DriverError> {
        let mut b = stream.launch_builder(&kernel);
        b.arg(&logits).arg(&vocab).arg(&temperature).arg(&top_k).arg(&top_p).arg(&min_p).arg(&uniforms).arg(&mut out);
        // SAFETY: the buffers have the kernel's element types and lengths (rows x vocab logits,
        // rows for the rest) and live until the stream is synchronised below.
        unsafe { b.launch(cfg) }.map(|_| ())
    };
    launch()?;
    stream.synchronize()?;
    let reps = 50;
    let timer = Instant::now();
    for _ in 0..reps {
        launch()?;
    }
    stream.synchronize()?;
    let per_launch = timer.elapsed().as_secs_f64() / f64::from(reps);
    let got: Vec<i64> = stream.memcpy_dtov(&out)?;
    println!(
        "kernel: {rows} rows x {} tokens in {:.1} us per launch ({:.2} us per row)",
        f.vocab,
        per_launch * 1e6,
        per_launch * 1e6 / rows as f64
    );

    let a = agreement(&f, &got);
    for &i in a.wrong.iter().chain(&a.at_boundary).take(8) {
        println!(
            "  row {i} (T {}, k {}, p {}, min_p {}, u {}): kernel {} reference {}",
            f.temperature[i], f.top_k[i], f.top_p[i], f.min_p[i], f.uniforms[i], got[i], want[i]
        );
    }
    println!(
        "{} of {rows} rows equal the reference, {} differ at a CDF boundary within f32 rounding, {} disagree",
        a.same,
        a.at_boundary.len(),
        a.wrong.len()
    );
    // Rounding may move a handful of rows; more than 2% would point at a systematic error.
    Ok(a.wrong.is_empty() && a.at_boundary.len() * 50 <= rows)
}
