//! Decoder logits of a Hugging Face model directory on a given device and dtype, timed: the
//! Rust half of the GPU check's logit parity (scripts/gpu/check.py runs transformers on the same
//! weights, ids, device and dtype, and compares).
//!
//!     logits MODEL_DIR IDS.safetensors OUT.safetensors DEVICE DTYPE [REPS]
//!
//! IDS holds `input_ids` (int64 `[B, T]`); OUT gets `logits` in f32. Prints one JSON line:
//! the median forward time in seconds over REPS (default 3) after one warm-up, and the libtorch.

use std::path::Path;
use std::time::Instant;

use lrpo_torch::{DecoderLm, Device, Kind};
use tch::Tensor;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("logits: {msg}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        fail("usage: logits MODEL_DIR IDS.safetensors OUT.safetensors DEVICE DTYPE [REPS]");
    }
    let device = lrpo_torch::parse_device("device", &args[3]).unwrap_or_else(|e| fail(e));
    let kind = lrpo_torch::parse_dtype("dtype", &args[4]).unwrap_or_else(|e| fail(e));
    let reps: usize = args.get(5).and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    if let Device::Cuda(_) = device {
        // Fail with the reason rather than with libtorch's "no CUDA device" much later.
        if !tch::Cuda::is_available() {
            fail("CUDA requested but libtorch sees no CUDA device (is libtorch_cuda linked? see docs/gpu.md)");
        }
    }
    lrpo_torch::configure_cpu_runtime(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let model = DecoderLm::from_dir(Path::new(&args[0]), kind, device).unwrap_or_else(|e| fail(e));
    let ids = Tensor::read_safetensors(&args[1])
        .unwrap_or_else(|e| fail(format!("{}: {e}", args[1])))
        .into_iter()
        .find(|(n, _)| n == "input_ids")
        .unwrap_or_else(|| fail(format!("{} has no input_ids", args[1])))
        .1
        .to_device(device);
    let _g = tch::no_grad_guard();
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut logits = model.forward(&ids, None, None).unwrap_or_else(|e| fail(e));
    sync();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        logits = model.forward(&ids, None, None).unwrap_or_else(|e| fail(e));
        sync();
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let out = logits.to_kind(Kind::Float).to_device(Device::Cpu);
    Tensor::write_safetensors(&[("logits", &out)], &args[2]).unwrap_or_else(|e| fail(format!("{}: {e}", args[2])));
    println!(
        "{{\"forward_s\": {}, \"all_s\": {:?}, \"libtorch\": \"{}\"}}",
        times[times.len() / 2],
        times,
        lrpo_torch::LIBTORCH_VERSION
    );
}
