//! The whole LRPO training step against TRL's `GRPOTrainer`, side by side in one run, f32 and
//! bf16 (issue 20). Run it through `scripts/bench-step.sh`, which builds this example and the
//! optimizer's library in release mode and installs TRL into the venv first:
//!
//!     scripts/bench-step.sh
//!
//! Workload, the same on both sides: the imported SmolLM2-135M-Instruct, the first XQuAD question
//! of en, de, es and ru (chat template, no system prompt of ours) x 4 rollouts, at most 64 new
//! tokens, temperature 1 and no top-k / top-p, a cheap rule reward (unigram F1 of the lower-cased
//! words of response and XQuAD answer), GRPO advantages, KL 0.001 (k3) to a frozen reference
//! model, micro-batches of 4 with gradient accumulation (one optimizer update per step), grad clip
//! 1.0, AdamW lr 1e-6, weight decay 0.01, no gradient checkpointing, N threads on each side. (With
//! its defaults `grpo` runs the four micro-batches through the model in one pass
//! (`max_tokens_per_pass`) and, in f32, each prompt once for its four rollouts (`share_prompts`):
//! the same maths.)
//!
//! The LRPO side is the host's step, done here the way `lrpo-host train` does it: `sampler`
//! (this crate, generate), the reward, `grpo` (the dlopened release library, as the host loads
//! it: reference forward and update in one `step` call), then the weight sync (export across the
//! plugin boundary + `load_weights`). To split the
//! reference forward from the update, a second `grpo` with `kl_coef = 0` (no reference model)
//! takes the same batch: its step is the update alone, and the reference forward is the
//! difference. The TRL side (`trl_step.py`) runs in a child process in lock-step, step by step
//! after ours, so both see the same machine load.
//!
//! Env: LRPO_BENCH_THREADS (2), LRPO_BENCH_REPS (1 counted step), LRPO_BENCH_WARMUP (1 step),
//! LRPO_BENCH_DTYPES (`f32,bf16`), LRPO_BENCH_NEW_TOKENS (64), LRPO_BENCH_BF16_NEW_TOKENS,
//! LRPO_BENCH_BF16_WARMUP and LRPO_BENCH_BF16_REPS (bf16 is slow on CPUs without bf16 units;
//! default: as f32),
//! LRPO_BENCH_SPLIT_REFERENCE (1; 0 skips the kl-0 step), LRPO_BENCH_PLUGINS (where
//! `liblrpo_optim_grpo.so` is; default: this example's target directory, `target/release`),
//! LRPO_BENCH_JSON (also write every figure there), LRPO_BENCH_QUIET_CORES (0.25) and
//! LRPO_BENCH_QUIET_WAIT_S (900): before each side's step, wait (untimed) until other processes
//! use less than that many cores, at most that long; each step records how many cores other
//! processes used while it ran (`foreign_cores`), since the machine may be shared.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use lrpo_core::{
    ComponentKind, GenerationRequest, GenerationResult, Optimizer, RolloutEngine, SamplingParams, TrainBatch,
    TrainSample,
};
use lrpo_rollout_cuda::{Sampler, SamplerConfig};
use lrpo_sdk::host::PluginLibrary;
use lrpo_torch::tokenizer::ChatMessage;
use serde_json::{json, Value};

const QUESTIONS: usize = 4;
const ROLLOUTS: usize = 4;
const MICRO_BATCH: usize = 4;
const KL: f64 = 0.001;
const LR: f64 = 1e-6;
const WEIGHT_DECAY: f64 = 0.01;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The first XQuAD question of each of four languages, with its first answer.
fn questions() -> Vec<(String, String)> {
    let dir = lrpo_testkit::shared_data().join("xquad");
    ["en", "de", "es", "ru"]
        .iter()
        .map(|lang| {
            let path = dir.join(format!("xquad.{lang}.json"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let json: Value = serde_json::from_str(&text).expect("XQuAD JSON");
            let qa = &json["data"][0]["paragraphs"][0]["qas"][0];
            let q = qa["question"].as_str().expect("a question").to_string();
            let a = qa["answers"][0]["text"].as_str().expect("an answer").to_string();
            (q, a)
        })
        .collect()
}

/// Lower-cased alphanumeric runs: the words both sides' reward compares.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect()
}

/// Unigram F1 of response and reference words (SQuAD's token F1 without its article rule).
fn unigram_f1(response: &str, reference: &str) -> f64 {
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for w in words(reference) {
        *want.entry(w).or_default() += 1;
    }
    let got = words(response);
    let (n_got, n_want): (usize, usize) = (got.len(), want.values().sum());
    let mut common = 0;
    for w in got {
        if let Some(n) = want.get_mut(&w).filter(|n| **n > 0) {
            *n -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let (p, r) = (common as f64 / n_got as f64, common as f64 / n_want as f64);
    2.0 * p * r / (p + r)
}

/// Useful floating-point work of the step's phases from its token counts, the same formulas
/// for both sides: matmuls at 2 FLOP per multiply-add, causal attention, the vocabulary
/// projection only where a token is sampled or scored, the backward pass at twice the forward.
/// Padding, repeated prefill of identical prompts and rows that already finished are not
/// counted: they are what an implementation may skip.
struct Flops {
    per_token: f64,
    attention_per_context: f64,
    head: f64,
}

impl Flops {
    fn from_config(dir: &Path) -> Flops {
        let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json");
        let c: Value = serde_json::from_str(&text).expect("config JSON");
        let get = |k: &str| c[k].as_f64().unwrap_or_else(|| panic!("config.json has no {k}"));
        let (h, inter, layers, vocab) =
            (get("hidden_size"), get("intermediate_size"), get("num_hidden_layers"), get("vocab_size"));
        let heads = get("num_attention_heads");
        let kv = c["num_key_value_heads"].as_f64().unwrap_or(heads);
        let hd = c["head_dim"].as_f64().unwrap_or(h / heads);
        let per_layer = h * heads * hd * 2.0 + 2.0 * h * kv * hd + 3.0 * h * inter;
        Flops {
            per_token: 2.0 * layers * per_layer,
            attention_per_context: 4.0 * layers * heads * hd,
            head: 2.0 * vocab * h,
        }
    }

    /// Positions `from..to` of one sequence through the decoder (no vocabulary projection).
    fn positions(&self, from: usize, to: usize) -> f64 {
        (from..to).map(|t| self.per_token + self.attention_per_context * (t + 1) as f64).sum()
    }

    /// Prefill of each distinct prompt once, then one decode step per further response token.
    fn generate(&self, rows: &[(usize, usize)], distinct_prompts: &[usize]) -> f64 {
        let prefill: f64 = distinct_prompts.iter().map(|&p| self.positions(0, p) + self.head).sum();
        let decode: f64 = rows
            .iter()
            .map(|&(p, r)| self.positions(p, p + r.saturating_sub(1)) + self.head * r.saturating_sub(1) as f64)
            .sum();
        prefill + decode
    }

    /// One forward over prompt + response, vocabulary projection at the response positions.
    fn score(&self, rows: &[(usize, usize)]) -> f64 {
        rows.iter().map(|&(p, r)| self.positions(0, p + r) + self.head * r as f64).sum()
    }
}

/// CPU seconds the whole machine spent busy (all cores, from /proc/stat).
fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy.
    let busy: f64 = ticks.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    busy / clock_ticks()
}

/// CPU seconds (user + system) of process `pid` so far.
fn process_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the parenthesised command name come the fields from the 3rd (state) on: utime is
    // the 14th field, stime the 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| rest.split_whitespace().nth(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field(14) + field(15)) / clock_ticks()
}

/// Linux reports /proc CPU times in USER_HZ ticks, 100 per second on every architecture.
fn clock_ticks() -> f64 {
    100.0
}

/// How much of the machine other processes used: cores' worth of CPU outside this benchmark's
/// two processes, between `start` and now.
#[derive(Clone, Copy)]
struct Load {
    at: Instant,
    busy: f64,
    ours: f64,
}

impl Load {
    fn start(pids: [u32; 2]) -> Load {
        Load { at: Instant::now(), busy: machine_busy_s(), ours: pids.iter().map(|&p| process_cpu_s(p)).sum() }
    }

    /// Other processes' CPU use since `start`, in cores.
    fn foreign_cores(&self, pids: [u32; 2]) -> f64 {
        let ours: f64 = pids.iter().map(|&p| process_cpu_s(p)).sum();
        let foreign = (machine_busy_s() - self.busy) - (ours - self.ours);
        (foreign / self.at.elapsed().as_secs_f64().max(1e-3)).max(0.0)
    }
}

/// Waits (untimed) until other processes use less than `limit` cores over 3 s, or `patience`
/// runs out; returns the seconds waited. The machine is shared: a step timed while something
/// else computes measures the other load as much as the step.
fn wait_for_quiet(pids: [u32; 2], limit: f64, patience: f64) -> f64 {
    let started = Instant::now();
    loop {
        let load = Load::start(pids);
        std::thread::sleep(std::time::Duration::from_secs(3));
        if load.foreign_cores(pids) < limit || started.elapsed().as_secs_f64() > patience {
            return started.elapsed().as_secs_f64();
        }
    }
}

/// TRL's `GRPOTrainer`, stepped from here.
struct Trl {
    child: Child,
    to_py: ChildStdin,
    from_py: BufReader<ChildStdout>,
    log: PathBuf,
}

impl Trl {
    fn start(setup: &Value, dtype: &str) -> (Trl, Value) {
        let log = std::env::temp_dir().join(format!("lrpo-bench-step-trl-{dtype}.log"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/whole_step/trl_step.py");
        let mut child = Command::new(lrpo_testkit::python())
            .arg(script)
            .arg(setup.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("TRL log file"))
            .spawn()
            .expect("the project venv's python (scripts/setup.sh creates it)");
        let to_py = child.stdin.take().expect("stdin");
        let from_py = BufReader::new(child.stdout.take().expect("stdout"));
        let mut trl = Trl { child, to_py, from_py, log };
        let ready = trl.expect("ready");
        (trl, ready)
    }

    /// The next protocol line of `kind`, skipping anything else on stdout.
    fn expect(&mut self, kind: &str) -> Value {
        let prefix = format!("@@trl {kind} ");
        loop {
            let mut line = String::new();
            let n = self.from_py.read_line(&mut line).expect("read the TRL side");
            if n == 0 {
                let _ = self.child.wait();
                panic!("the TRL side ended before `{kind}`; its log: {}", self.log.display());
            }
            if let Some(rest) = line.trim_end().strip_prefix(&prefix) {
                return serde_json::from_str(rest).expect("TRL protocol JSON");
            }
        }
    }

    fn step(&mut self) -> Value {
        writeln!(self.to_py, "go").and_then(|_| self.to_py.flush()).expect("talk to the TRL side");
        self.expect("step")
    }

    fn finish(mut self) {
        self.expect("done");
        drop(self.to_py);
        let _ = self.child.wait();
    }
}

/// The LRPO components of one precision.
struct Lrpo {
    sampler: Sampler,
    optimizer: Box<dyn Optimizer>,
    /// `kl_coef = 0`: times the update without the reference forward.
    update_only: Option<Box<dyn Optimizer>>,
}

fn open(plugins: &Path, name: &str, threads: usize) -> PluginLibrary {
    let path = plugins.join(format!("lib{name}.so"));
    assert!(path.is_file(), "{} is missing: run scripts/bench-step.sh (it builds the release library)", path.display());
    PluginLibrary::open(&path, threads).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Lrpo {
    fn build(optim: &PluginLibrary, dir: &Path, dtype: &str, split: bool) -> Lrpo {
        let config = SamplerConfig {
            model_dir: Some(dir.to_path_buf()),
            dtype: dtype.into(),
            device: "cpu".into(),
            ..Default::default()
        };
        let sampler = Sampler::from_config(config).expect("sampler");
        let grpo = |kl: f64| -> Box<dyn Optimizer> {
            let config = json!({"model_dir": dir, "dtype": dtype, "device": "cpu", "kl_coef": kl, "lr": LR,
                "weight_decay": WEIGHT_DECAY, "micro_batch_size": MICRO_BATCH, "grad_clip": 1.0});
            optim
                .instantiate(ComponentKind::Optimizer, "grpo", "grpo", &config.to_string())
                .and_then(|c| c.try_into())
                .expect("grpo")
        };
        Lrpo { sampler, optimizer: grpo(KL), update_only: split.then(|| grpo(0.0)) }
    }

    fn step(
        &mut self,
        step: u64,
        prompts: &[String],
        answers: &[String],
        new_tokens: u32,
    ) -> (Value, Vec<GenerationResult>) {
        let requests: Vec<GenerationRequest> = (0..QUESTIONS * ROLLOUTS)
            .map(|i| GenerationRequest {
                prompt: prompts[i / ROLLOUTS].clone(),
                max_new_tokens: new_tokens,
                sampling: SamplingParams::default(),
                seed: step * 1000 + i as u64,
                stop_strings: vec![],
                stop_token_ids: vec![],
            })
            .collect();
        let started = Instant::now();
        let clock = Instant::now();
        let results = self.sampler.generate(&requests).expect("generate");
        let generate = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let rewards: Vec<f64> =
            results.iter().enumerate().map(|(i, r)| unigram_f1(&r.text, &answers[i / ROLLOUTS])).collect();
        let reward = clock.elapsed().as_secs_f64();
        let batch = TrainBatch {
            step,
            samples: results
                .iter()
                .zip(&rewards)
                .enumerate()
                .map(|(i, (r, &reward))| TrainSample {
                    group_id: (i / ROLLOUTS) as u64,
                    prompt_tokens: r.prompt_tokens.clone(),
                    response_tokens: r.response_tokens.clone(),
                    sampler_logprobs: r.logprobs.clone(),
                    reward,
                })
                .collect(),
        };
        let clock = Instant::now();
        let stats = self.optimizer.step(&batch).expect("grpo step");
        let optimize = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let weights = self.optimizer.export_weights().expect("export weights");
        self.sampler.load_weights(&weights).expect("load weights");
        drop(weights);
        let weight_sync = clock.elapsed().as_secs_f64();
        let whole = started.elapsed().as_secs_f64();
        // Outside the step: the same batch through the kl-0 optimizer.
        let update = self.update_only.as_mut().map(|opt| {
            let clock = Instant::now();
            opt.step(&batch).expect("kl-0 grpo step");
            clock.elapsed().as_secs_f64()
        });
        let record = json!({
            "step": whole,
            "generate": generate,
            "reward": reward,
            "optimize": optimize,
            "update": update,
            "reference": update.map(|u| optimize - u),
            "other": whole - generate - reward - optimize - weight_sync,
            "weight_sync": weight_sync,
            "loss": stats.get("loss"),
            "kl_loss": stats.get("kl_loss"),
            "prompt_tokens": results.iter().map(|r| r.prompt_tokens.len()).collect::<Vec<_>>(),
            "completion_tokens": results.iter().map(|r| r.response_tokens.len()).collect::<Vec<_>>(),
            "rewards": rewards,
        });
        (record, results)
    }
}

/// (prompt tokens, response tokens) of each row of a step.
type Rows = [(usize, usize)];

fn lengths(record: &Value) -> Vec<(usize, usize)> {
    let list = |k: &str| -> Vec<usize> {
        record[k]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).map(|v| v as usize).collect())
            .unwrap_or_default()
    };
    list("prompt_tokens").into_iter().zip(list("completion_tokens")).collect()
}

/// What one precision's run was: its dtype, length, step counts and measured GEMM rate.
struct RunShape<'a> {
    dtype: &'a str,
    new_tokens: u32,
    reps: usize,
    warmup: usize,
    /// The yardstick of the GFLOP/s columns (TRL's side measures it at start).
    gemm_gflops: Option<f64>,
}

/// Per phase: the median over the counted steps of each side, and the useful GFLOP/s.
fn report(run: &RunShape, ours: &[Value], theirs: &[Value], flops: &Flops) -> Value {
    let RunShape { dtype, new_tokens, reps, warmup, gemm_gflops } = *run;
    let med = |records: &[Value], key: &str| median(records.iter().filter_map(|r| r[key].as_f64()).collect());
    // Useful work of a step from its token counts (medians over the counted steps).
    let work = |records: &[Value]| -> BTreeMap<&'static str, f64> {
        let per = |f: &dyn Fn(&Rows) -> f64| median(records.iter().map(|r| f(&lengths(r))).collect());
        // Rows come grouped by prompt on both sides (generation order).
        let distinct = |rows: &Rows| -> Vec<usize> { rows.iter().step_by(ROLLOUTS).map(|r| r.0).collect() };
        BTreeMap::from([
            ("generate", per(&|rows| flops.generate(rows, &distinct(rows)))),
            ("reference", per(&|rows| flops.score(rows))),
            ("update", per(&|rows| 3.0 * flops.score(rows))),
        ])
    };
    let (w_ours, w_theirs) = (work(ours), work(theirs));
    let tokens = |records: &[Value]| {
        median(records.iter().map(|r| lengths(r).iter().map(|l| l.1 as f64).sum::<f64>()).collect())
    };
    println!();
    println!(
        "Whole GRPO step, SmolLM2-135M-Instruct, {QUESTIONS} questions x {ROLLOUTS} rollouts, <= {new_tokens} new tokens, KL {KL}, lr {LR}, {dtype}; median of {reps} step(s) after {warmup} warm-up"
    );
    println!(
        "  response tokens per step: lrpo {:.0}, TRL {:.0}; GFLOP/s: useful work / time (this run's 1024^3 {dtype} GEMM: {})",
        tokens(ours),
        tokens(theirs),
        gemm_gflops.map_or_else(|| "not measured".to_string(), |g| format!("{g:.0} GFLOP/s"))
    );
    println!(
        "  {:<22}{:>10}{:>10}{:>11}{:>13}{:>13}",
        "phase", "lrpo s", "TRL s", "TRL/lrpo", "lrpo GFLOP/s", "TRL GFLOP/s"
    );
    let mut phases = serde_json::Map::new();
    let rows: [(&str, &str, &str); 7] = [
        ("generate", "generate", "generate"),
        ("reward", "reward", "reward"),
        ("reference forward", "reference", "reference"),
        ("update", "update", "update"),
        ("weight sync", "weight_sync", ""),
        ("other", "other", "other"),
        ("whole step", "step", "step"),
    ];
    for (label, ours_key, their_key) in rows {
        let a = med(ours, ours_key);
        let b = if their_key.is_empty() { f64::NAN } else { med(theirs, their_key) };
        let rate = |w: &BTreeMap<&str, f64>, key: &str, t: f64| w.get(key).map_or(f64::NAN, |f| f / t / 1e9);
        let (ra, rb) = (rate(&w_ours, ours_key, a), rate(&w_theirs, their_key, b));
        let cell = |v: f64, prec: usize| if v.is_nan() { "-".to_string() } else { format!("{v:.prec$}") };
        // A ratio of two phases that take microseconds says nothing.
        let ratio = if a.is_nan() || b.is_nan() || a.max(b) < 0.01 { "-".into() } else { format!("{:.2}x", b / a) };
        println!(
            "  {label:<22}{:>10}{:>10}{:>11}{:>13}{:>13}",
            cell(a, 3),
            cell(b, 3),
            ratio,
            cell(ra, 1),
            cell(rb, 1)
        );
        phases.insert(label.into(), json!({"lrpo_s": a, "trl_s": b, "lrpo_gflops": ra, "trl_gflops": rb}));
    }
    println!(
        "  other processes' CPU during the counted steps (median, cores of 2): lrpo {:.2}, TRL {:.2}",
        med(ours, "foreign_cores"),
        med(theirs, "foreign_cores")
    );
    let a = med(ours, "optimize");
    println!(
        "  (lrpo's grpo step, reference + update as one call: {a:.3} s; the split uses a kl-0 step of the same batch)"
    );
    json!({"dtype": dtype, "new_tokens": new_tokens, "phases": phases, "lrpo_steps": ours, "trl_steps": theirs,
        "lrpo_optimize_s": a, "response_tokens": {"lrpo": tokens(ours), "trl": tokens(theirs)}})
}

fn main() {
    let threads = env_usize("LRPO_BENCH_THREADS", 2);
    let reps = env_usize("LRPO_BENCH_REPS", 1).max(1);
    let warmup = env_usize("LRPO_BENCH_WARMUP", 1);
    let new_tokens = env_usize("LRPO_BENCH_NEW_TOKENS", 64) as u32;
    let bf16_tokens = env_usize("LRPO_BENCH_BF16_NEW_TOKENS", new_tokens as usize) as u32;
    let bf16_warmup = env_usize("LRPO_BENCH_BF16_WARMUP", warmup);
    let bf16_reps = env_usize("LRPO_BENCH_BF16_REPS", reps).max(1);
    let split = env_usize("LRPO_BENCH_SPLIT_REFERENCE", 1) == 1;
    let env_f64 = |name: &str, default: f64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let quiet_limit = env_f64("LRPO_BENCH_QUIET_CORES", 0.25);
    let patience = env_f64("LRPO_BENCH_QUIET_WAIT_S", 900.0);
    let dtypes = std::env::var("LRPO_BENCH_DTYPES").unwrap_or_else(|_| "f32,bf16".into());
    let plugins = std::env::var_os("LRPO_BENCH_PLUGINS").map(PathBuf::from).unwrap_or_else(|| {
        // target/<profile>/examples/whole_step -> target/<profile>
        let exe = std::env::current_exe().expect("executable path");
        exe.parent().and_then(Path::parent).expect("target/<profile>/examples").to_path_buf()
    });
    let dir = lrpo_core::paths::model_dir("smollm2-135m-instruct");
    if !dir.join("config.json").is_file() {
        eprintln!("{} is missing: run {}", dir.display(), lrpo_core::paths::SETUP_COMMAND);
        std::process::exit(1);
    }
    let flops = Flops::from_config(&dir);
    let qa = questions();
    lrpo_torch::configure_cpu_runtime(threads);
    let tokenizer = lrpo_torch::TextTokenizer::from_dir(&dir).expect("tokenizer");
    let prompts: Vec<String> = qa
        .iter()
        .map(|(q, _)| tokenizer.apply_chat_template(&[ChatMessage::new("user", q.as_str())], true).expect("template"))
        .collect();
    let answers: Vec<String> = qa.iter().map(|(_, a)| a.clone()).collect();

    let optim = open(&plugins, "lrpo_optim_grpo", threads);
    println!(
        "whole step: lrpo (sampler in-process, {} dlopened; f32 GEMM: {}) vs TRL GRPOTrainer, {threads} threads each, dtypes {dtypes}",
        optim.path.display(),
        lrpo_torch::gemm::f32_gemm().name()
    );
    let mut all = Vec::new();
    for dtype in dtypes.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (tokens, warmup, reps) =
            if dtype == "bf16" { (bf16_tokens, bf16_warmup, bf16_reps) } else { (new_tokens, warmup, reps) };
        let setup = json!({
            "model_dir": dir, "threads": threads, "dtype": dtype, "steps": warmup + reps,
            "max_new_tokens": tokens, "rollouts": ROLLOUTS, "micro_batch": MICRO_BATCH, "lr": LR, "kl": KL,
            "weight_decay": WEIGHT_DECAY, "seed": 0,
            "questions": qa.iter().map(|(q, a)| json!({"question": q, "answer": a})).collect::<Vec<_>>(),
        });
        let loading = Instant::now();
        let (mut trl, ready) = Trl::start(&setup, dtype);
        let mut lrpo = Lrpo::build(&optim, &dir, dtype, split);
        let pids = [std::process::id(), trl.child.id()];
        println!("\n[{dtype}] loaded both sides in {:.1} s; TRL side: {ready}", loading.elapsed().as_secs_f64());
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for step in 0..warmup + reps {
            let waited = wait_for_quiet(pids, quiet_limit, patience);
            let load = Load::start(pids);
            let (mut record, results) = lrpo.step(step as u64, &prompts, &answers, tokens);
            record["foreign_cores"] = json!(load.foreign_cores(pids));
            record["waited_for_quiet_s"] = json!(waited);
            if step == 0 {
                let ids: Vec<&Vec<u32>> = results.iter().step_by(ROLLOUTS).map(|r| &r.prompt_tokens).collect();
                let same = ready["prompt_ids"].as_array().is_some_and(|p| {
                    p.len() == ids.len()
                        && p.iter().zip(&ids).all(|(a, b)| serde_json::to_value(b).is_ok_and(|b| &b == a))
                });
                println!("[{dtype}] prompt token ids identical on both sides: {same}");
            }
            // Each side's record as soon as it is there: a bf16 step takes minutes.
            let tag = if step < warmup { "warm-up" } else { "counted" };
            println!(
                "[{dtype}] step {step} ({tag}): lrpo {:.2} s {record}",
                record["step"].as_f64().unwrap_or(f64::NAN)
            );
            let waited = wait_for_quiet(pids, quiet_limit, patience);
            let load = Load::start(pids);
            let mut record_theirs = trl.step();
            record_theirs["foreign_cores"] = json!(load.foreign_cores(pids));
            record_theirs["waited_for_quiet_s"] = json!(waited);
            println!(
                "[{dtype}] step {step} ({tag}): TRL {:.2} s {record_theirs}",
                record_theirs["step"].as_f64().unwrap_or(f64::NAN)
            );
            if step >= warmup {
                ours.push(record);
                theirs.push(record_theirs);
            }
        }
        trl.finish();
        drop(lrpo);
        let run =
            RunShape { dtype, new_tokens: tokens, reps, warmup, gemm_gflops: ready["gemm_gflops"][dtype].as_f64() };
        let mut summary = report(&run, &ours, &theirs, &flops);
        summary["trl_ready"] = ready;
        all.push(summary);
    }

    let whole = |dtype: &str, side: &str| {
        all.iter()
            .find(|s| s["dtype"] == dtype)
            .and_then(|s| s["phases"]["whole step"][side].as_f64())
            .unwrap_or(f64::NAN)
    };
    println!("\nWhole step (s)        lrpo        TRL   TRL/lrpo");
    for dtype in ["f32", "bf16"] {
        let (a, b) = (whole(dtype, "lrpo_s"), whole(dtype, "trl_s"));
        if !a.is_nan() {
            println!("  {dtype:<18}{a:>8.2}   {b:>8.2}   {:>7.2}x", b / a);
        }
    }
    let (lrpo_bf16, trl_f32) = (whole("bf16", "lrpo_s"), whole("f32", "trl_s"));
    if !(lrpo_bf16.is_nan() || trl_f32.is_nan()) {
        let tokens = |dtype: &str| all.iter().find(|s| s["dtype"] == dtype).and_then(|s| s["new_tokens"].as_u64());
        let (t_f32, t_bf16) = (tokens("f32").unwrap_or(0), tokens("bf16").unwrap_or(0));
        let caveat = if t_f32 == t_bf16 {
            String::new()
        } else {
            format!("; not the same work: <= {t_f32} new tokens in f32, <= {t_bf16} in bf16")
        };
        println!("  TRL f32 / lrpo bf16: {:.2}x (target >= 2.5x{caveat})", trl_f32 / lrpo_bf16);
    }
    if let Some(path) = std::env::var_os("LRPO_BENCH_JSON") {
        std::fs::write(&path, serde_json::to_string_pretty(&json!({"threads": threads, "runs": all})).unwrap())
            .expect("write LRPO_BENCH_JSON");
        println!("figures written to {}", PathBuf::from(path).display());
    }
}
