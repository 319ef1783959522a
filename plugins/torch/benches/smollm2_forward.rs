//! Forward pass of the imported SmolLM2-135M (batch 8 x 128 tokens, f32, CPU) in lrpo-torch vs
//! transformers (PyTorch eager, same weights, same inputs, same thread count), side by side.
//! The two alternate pass by pass, so both see the same background load.
//!
//!     cargo bench -p lrpo-torch --bench smollm2_forward
//!
//! Env: LRPO_BENCH_THREADS (default 2), LRPO_BENCH_REPS (default 7).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use lrpo_torch::{configure_cpu_runtime, DecoderLm, Device, Kind};
use tch::Tensor;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() {
    let threads = env_usize("LRPO_BENCH_THREADS", 2);
    let reps = env_usize("LRPO_BENCH_REPS", 7).max(1);
    let dir = lrpo_core::paths::model_dir("smollm2-135m-instruct");
    if !dir.join(lrpo_torch::import::MARKER).is_file() {
        eprintln!("{} is not imported: run {}", dir.display(), lrpo_core::paths::SETUP_COMMAND);
        std::process::exit(1);
    }
    configure_cpu_runtime(threads);
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).expect("load model");
    tch::manual_seed(0);
    let ids = Tensor::randint_low(3, model.config.vocab_size, [8, 128], (Kind::Int64, Device::Cpu));
    let work = tempfile::tempdir().expect("tempdir");
    let ids_path = work.path().join("ids.safetensors");
    Tensor::write_safetensors(&[("input_ids", &ids)], &ids_path).expect("write ids");

    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut py = Command::new(lrpo_testkit::python())
        .arg(manifest.join("benches/smollm2_forward.py"))
        .args([dir.to_str().unwrap(), ids_path.to_str().unwrap(), &threads.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run .venv/bin/python (scripts/setup.sh creates it)");
    let mut to_py = py.stdin.take().unwrap();
    let mut from_py = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    from_py.read_line(&mut line).expect("python ready");
    assert_eq!(line.trim(), "ready", "transformers side failed to start");

    let _g = tch::no_grad_guard();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_sum, mut their_sum) = (0.0, 0.0);
    // Round 0 warms up allocators and kernels on both sides and is not counted.
    for round in 0..=reps {
        let start = Instant::now();
        let logits = model.forward(&ids, None, None).expect("forward");
        let elapsed = start.elapsed().as_secs_f64();
        our_sum = logits.narrow(1, 127, 1).mean(Kind::Float).double_value(&[]);
        drop(logits);
        writeln!(to_py, "run").and_then(|_| to_py.flush()).expect("talk to python");
        line.clear();
        from_py.read_line(&mut line).expect("python result");
        let mut fields = line.split_whitespace().map(|f| f.parse::<f64>().expect("python number"));
        let (their, sum) = (fields.next().expect("seconds"), fields.next().expect("checksum"));
        their_sum = sum;
        if round > 0 {
            ours.push(elapsed);
            theirs.push(their);
        }
    }
    drop(to_py);
    let _ = py.wait();
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "SmolLM2-135M forward, batch 8 x 128 tokens, f32, CPU, {threads} threads, median of {reps} alternating passes"
    );
    println!(
        "  lrpo-torch (libtorch {})  {:>8.1} ms   (checksum {our_sum:.6})",
        lrpo_torch::LIBTORCH_VERSION,
        ours * 1e3
    );
    println!("  transformers                  {:>8.1} ms   (checksum {their_sum:.6})", theirs * 1e3);
    println!("  speed-up vs transformers: {:.2}x", theirs / ours);
}
