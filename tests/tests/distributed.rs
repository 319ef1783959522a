//! Data-parallel training through the real binary: two ranks on 127.0.0.1 over gloo, started
//! by hand with torchrun's variables or by the venv's torchrun, training the tiny random policy
//! with every real plugin (common/tiny_tch.rs).
//!
//! - the 2-rank step is the 1-rank step over the same batch: the same weights within 1e-6;
//! - torchrun trains, checkpoints, and a run killed after its first checkpoint resumes to the
//!   uninterrupted run's metrics exactly;
//! - a rank killed mid-run ends the other with exit 1 within the collective timeout.

use lrpo_tests::*;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[path = "common/tiny_tch.rs"]
mod tiny_tch;

/// Two training steps with a validation on 5 questions (an uneven share: 3 and 2) before and
/// after them, and the final export. Two, because AdamW's first step is blind to the gradient's
/// scale (it moves each weight by about lr·sign(g)): the second step's update, and the gradient
/// norms, show whether the ranks' gradients were weighed and summed right.
const TWO_STEPS: &str =
    "total_steps = 2\nval_before_train = true\ntest_freq = 2\nval_max_questions = 5\nmax_new_tokens = 12\nexport_final = true";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `size` ranks of `lrpo-host train` in `dir`, each with torchrun's variables set by hand and
/// its stderr in `dir/rank<r>.log`.
fn spawn_ranks(dir: &Path, size: usize, extra: &[&str]) -> Vec<Child> {
    let port = free_port().to_string();
    (0..size)
        .map(|rank| {
            let log = std::fs::File::create(dir.join(format!("rank{rank}.log"))).unwrap();
            train_command(dir, extra)
                .env("WORLD_SIZE", size.to_string())
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", &port)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start lrpo-host")
        })
        .collect()
}

fn log(dir: &Path, rank: usize) -> String {
    std::fs::read_to_string(dir.join(format!("rank{rank}.log"))).unwrap_or_default()
}

/// Waits for `child` at most `limit`; a child still running then is killed and reported.
fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The venv's torchrun, on 127.0.0.1 with a port of its own choosing (`--standalone`), running
/// two ranks of `lrpo-host train` in `dir`, in a process group of its own.
fn torchrun(dir: &Path, extra: &[&str]) -> Command {
    let torchrun = lrpo_testkit::python().parent().unwrap().join("torchrun");
    let mut cmd = Command::new(torchrun);
    cmd.current_dir(dir)
        .args(["--standalone", "--nproc-per-node", "2", "--no-python"])
        .arg(host_binary())
        .args(["--plugins", "plugins", "--config", "run.toml", "train"])
        .args(extra)
        .process_group(0);
    cmd
}

/// The largest absolute difference between two exports' weights, and how many tensors of
/// `a` differ from `base`.
fn weight_diff(a: &Path, b: &Path, base: &Path) -> serde_json::Value {
    let script = tiny_tch::repo().join("tests/py/weights_diff.py");
    lrpo_testkit::python_json(&[script.as_ref(), a.as_ref(), b.as_ref(), base.as_ref()], &())
}

#[test]
fn two_ranks_make_the_one_rank_update() {
    // One pass per micro-batch, one row per response: a rank's micro-batches then go through the
    // model in the 1-rank run's shapes, so the two updates differ by summation order only (with
    // passes of several micro-batches, the 1-rank run's passes hold twice a rank's rows: the
    // same maths, but after two AdamW steps at lr 0.01 the weights differed by 2.8e-5).
    const GRPO: &str = ", max_tokens_per_pass = 0, share_prompts = false";
    let one = tiny_tch::setup_with("", TWO_STEPS, GRPO);
    let out = train_command(one.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let two = tiny_tch::setup_with("", TWO_STEPS, GRPO);
    // `--resume auto` with nothing to resume: every rank finds no checkpoint, and they agree.
    let mut ranks = spawn_ranks(two.path(), 2, &["--resume", "auto"]);
    for (r, child) in ranks.iter_mut().enumerate() {
        let status = wait_for(child, Duration::from_secs(600));
        assert_eq!(status.and_then(|s| s.code()), Some(0), "rank {r}:\n{}", log(two.path(), r));
    }
    assert!(log(two.path(), 1).contains("rank 1 of 2: trains its share"), "{}", log(two.path(), 1));

    let run = |d: &Path| d.join("runs/tch");
    let diff = weight_diff(
        &run(two.path()).join("final/model.safetensors"),
        &run(one.path()).join("final/model.safetensors"),
        &two.path().join("policy/model.safetensors"),
    );
    eprintln!("2 ranks against 1: {diff}");
    let max = diff["max_abs_diff"].as_f64().unwrap();
    assert!(max <= 1e-6, "the 2-rank update differs from the 1-rank update by {max}: {diff}");
    assert!(diff["changed_vs_base"].as_u64().unwrap() > 0, "the step changed nothing: {diff}");

    // Rank 0 wrote one record per step and validation, over every rank's rows.
    let (m1, m2) = (run_metrics(&run(one.path())), run_metrics(&run(two.path())));
    assert_eq!(m1.len(), 4, "{m1:?}");
    assert_eq!(m2.len(), m1.len(), "{m2:?}");
    for (a, b) in m1.iter().zip(&m2) {
        assert_eq!(a["phase"], b["phase"]);
        for key in ["count", "mean"] {
            let (x, y) = (a["reward"][key].as_f64().unwrap(), b["reward"][key].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5, "reward {key}: 1 rank {x}, 2 ranks {y}\n{a}\n{b}");
        }
        assert_eq!(a["question_rewards"].as_array().map(Vec::len), b["question_rewards"].as_array().map(Vec::len));
    }
    for step in [1, 2] {
        let (a, b) = (&m1[step]["optimizer"], &m2[step]["optimizer"]);
        let (l1, l2) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!((l1 - l2).abs() <= 1e-6, "step {step}: loss {l1} vs {l2}");
        let (g1, g2) = (a["grad_norm"].as_f64().unwrap(), b["grad_norm"].as_f64().unwrap());
        assert!((g1 - g2).abs() <= 1e-5 * g1, "step {step}: gradient norm {g1} on 1 rank, {g2} on 2");
        assert_eq!(b["samples"], a["samples"], "sample counts add up over ranks");
    }
    let lines = |d: &Path| std::fs::read_to_string(run(d).join("router_log.jsonl")).unwrap().lines().count();
    assert_eq!(lines(two.path()), lines(one.path()));
}

/// The ranks torchrun `parent` started (its children, from /proc).
fn rank_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|stat| {
                // pid (comm) state ppid ...: the comm may hold spaces, so read after its ')'.
                stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

#[test]
fn torchrun_trains_checkpoints_and_resumes_identically() {
    const STEPS: &str = "total_steps = 3\nsave_freq = 1\nmax_new_tokens = 12";
    let whole = tiny_tch::setup_with("", STEPS, "");
    let out = torchrun(whole.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run = whole.path().join("runs/tch");
    let m = run_metrics(&run);
    assert_eq!(m.len(), 3, "{m:?}");
    for step in ["step_000002", "step_000003"] {
        assert!(run.join("checkpoints").join(step).join("host.json").is_file(), "no checkpoint {step}");
    }

    let killed = tiny_tch::setup_with("", STEPS, "");
    let ckpt = killed.path().join("runs/tch/checkpoints/step_000001/host.json");
    let mut child = torchrun(killed.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !ckpt.exists() && started.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL to torchrun and both ranks at once: torchrun leads its own process group, and
    // starts each rank in a session (so a group) of its own.
    let group = |pid: u32| unsafe { libc::getpgid(pid as i32) };
    let pgids: Vec<i32> = rank_pids(child.id()).into_iter().map(group).filter(|g| *g > 1).collect();
    // Safety: plain signals to process groups this test started.
    unsafe {
        libc::killpg(child.id() as i32, libc::SIGKILL);
        for g in pgids {
            libc::killpg(g, libc::SIGKILL);
        }
    }
    child.wait().unwrap();
    assert!(ckpt.exists(), "no checkpoint after 300 s");
    assert!(run_metrics(&killed.path().join("runs/tch")).len() < 3, "the run was killed before it finished");
    let out = torchrun(killed.path(), &["--resume", "auto"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming arm `main` after step"), "{}", stderr(&out));
    assert_eq!(run_metrics(&killed.path().join("runs/tch")), m);
    let log = |d: &Path| std::fs::read_to_string(d.join("runs/tch/router_log.jsonl")).unwrap();
    assert_eq!(log(killed.path()), log(whole.path()));
}

#[test]
fn a_killed_rank_ends_the_other_with_exit_1() {
    let dir = tiny_tch::setup_with("", "total_steps = 200\nmax_new_tokens = 12", "");
    let config = dir.path().join("run.toml");
    let text = std::fs::read_to_string(&config).unwrap() + "\n[distributed]\ntimeout_s = 30\n";
    std::fs::write(&config, text).unwrap();
    let mut ranks = spawn_ranks(dir.path(), 2, &[]);
    let metrics: PathBuf = dir.path().join("runs/tch/metrics.jsonl");
    let started = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < 1 {
        assert!(started.elapsed() < Duration::from_secs(300), "no step after 300 s:\n{}", log(dir.path(), 0));
        std::thread::sleep(Duration::from_millis(20));
    }
    ranks[1].kill().unwrap();
    ranks[1].wait().unwrap();
    let killed_at = Instant::now();
    let status = wait_for(&mut ranks[0], Duration::from_secs(120));
    assert_eq!(status.and_then(|s| s.code()), Some(1), "rank 0 after rank 1 died:\n{}", log(dir.path(), 0));
    assert!(killed_at.elapsed() < Duration::from_secs(60), "rank 0 took {:?} to notice", killed_at.elapsed());
    let err = log(dir.path(), 0);
    eprintln!(
        "rank 0 after rank 1 died, {:?} later:\n{}",
        killed_at.elapsed(),
        err.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
    assert!(err.contains("error"), "{err}");
}

#[test]
fn a_rank_whose_peers_never_come_gives_up_after_the_timeout() {
    // Rank 1 of 2 with no rank 0 anywhere: the rendezvous waits `timeout_s`, then exit 1.
    let dir = tiny_tch::setup_with("", "total_steps = 1\nmax_new_tokens = 12", "");
    let mut child = train_command(dir.path(), &["--set", "distributed.timeout_s=5"])
        .env("WORLD_SIZE", "2")
        .env("RANK", "1")
        .env("LOCAL_RANK", "1")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", free_port().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = wait_for(&mut child, Duration::from_secs(120));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60), "gave up after {:?}", started.elapsed());
    assert!(err.contains("joining the gloo process group"), "{err}");
    assert!(!dir.path().join("runs/tch/metrics.jsonl").exists(), "a rank other than 0 wrote the run directory");
}
