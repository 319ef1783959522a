//! End to end through the real binary and real plugin libraries: the LRPO bandit router plus
//! the toy fixture components. A run writes its metrics, router log and checkpoints; a run
//! killed with SIGKILL and resumed reproduces the uninterrupted run; A/B arms run side by side.

use lrpo_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn data(file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/prepared").join(file).display().to_string()
}

fn config(dir: &Path, delay_ms: u64, routers: &[(&str, &str)]) -> PathBuf {
    let mut text = format!(
        "[run]\nname = \"e2e\"\nout_dir = \"runs\"\nthreads = 1\n\n\
         [data]\ntrain_files = [\"{}\"]\nval_files = [\"{}\"]\ntrain_batch_size = 16\ngroup_size = 4\n\n\
         [trainer]\ntotal_steps = 6\nsave_freq = 2\ntest_freq = 3\nval_max_questions = 5\nmax_new_tokens = 8\n\n",
        data("train.parquet"),
        data("test.parquet")
    );
    // Kind `none`: an arm without a router (plain GRPO), so no component table.
    for (name, kind) in routers.iter().filter(|(_, k)| *k != "none") {
        let cfg = match *kind {
            "lrpo-bandit" | "thompson" => "update_every = 1, log_every = 1, orig_lang_min = 1, seed = 7",
            _ => "orig_lang_min = 1, seed = 7",
        };
        text += &format!(
            "[components.router.{name}]\nplugin = \"lrpo_router_bandit\"\nkind = \"{kind}\"\nconfig = {{ {cfg} }}\n\n"
        );
    }
    text += &format!(
        "[components.language_id.marker]\nplugin = \"lrpo_fixture_toy\"\nkind = \"marker\"\n\n\
         [components.reward_model.length]\nplugin = \"lrpo_fixture_toy\"\nkind = \"length\"\n\n\
         [components.rollout_engine.seeded]\nplugin = \"lrpo_fixture_toy\"\nkind = \"seeded\"\nconfig = {{ delay_ms = {delay_ms} }}\n\n\
         [components.optimizer.scalar]\nplugin = \"lrpo_fixture_toy\"\nkind = \"scalar\"\n"
    );
    if routers.len() > 1 {
        for (name, kind) in routers {
            let router = if *kind == "none" { "none" } else { name };
            text += &format!("\n[[experiment.arms]]\nname = \"{name}\"\nrouter = \"{router}\"\n");
        }
    }
    write_file(dir, "run.toml", &text)
}

fn setup(delay_ms: u64, routers: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(&["lrpo_router_bandit", "lrpo_fixture_toy"]);
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    for e in std::fs::read_dir(plugins.path()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join("plugins").join(e.file_name())).unwrap();
    }
    config(dir.path(), delay_ms, routers);
    dir
}

#[test]
fn a_run_writes_metrics_router_log_and_checkpoints() {
    let dir = setup(0, &[("lrpo", "lrpo-bandit")]);
    let out = train_command(dir.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run = dir.path().join("runs/e2e");
    let m = run_metrics(&run);
    assert_eq!(m.iter().filter(|v| v["phase"] == "train").count(), 6);
    assert_eq!(m.iter().filter(|v| v["phase"] == "val").count(), 2);
    let log = std::fs::read_to_string(run.join("router_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 6);
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(first["probs"].is_object(), "{first}");
    assert!(run.join("checkpoints/step_000006/router.state").is_file());
    assert!(stdout(&out).contains("arm `main`: 6 steps"), "{}", stdout(&out));
    // The console follows reward and the router's probabilities step by step.
    let console = stderr(&out);
    for want in
        ["main step 1/6: reward", "main step 6/6: reward", "main validation after step 3: reward", "router p(lang): "]
    {
        assert!(console.contains(want), "`{want}` missing from:\n{console}");
    }

    let out = Command::new(host_binary()).args(["report", "runs/e2e"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    // The latest step's sampled responses, from samples.jsonl (4 per step by default).
    assert!(page.contains("Sampled responses, step 6"), "{page}");
    assert_eq!(page.matches("<tr><td>").count(), 4, "{page}");
    for svg in ["reward.svg", "reward_by_language.svg", "time.svg", "router_topic_0.svg"] {
        assert!(page.contains(svg), "{page}");
        let text = std::fs::read_to_string(run.join("report").join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("</svg>"), "{svg}");
    }
}

#[test]
fn killed_run_resumes_to_the_same_metrics() {
    let whole = setup(150, &[("lrpo", "lrpo-bandit")]);
    let out = train_command(whole.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let killed = setup(150, &[("lrpo", "lrpo-bandit")]);
    let ckpt = killed.path().join("runs/e2e/checkpoints/step_000002/host.json");
    let mut child = spawn_run_until(killed.path(), &ckpt, Duration::from_secs(60));
    // SIGKILL in the middle of the next step (generation sleeps 150 ms).
    std::thread::sleep(Duration::from_millis(80));
    child.kill().unwrap();
    child.wait().unwrap();
    let before = run_metrics(&killed.path().join("runs/e2e"));
    assert!(before.len() < run_metrics(&whole.path().join("runs/e2e")).len(), "the run was killed before it finished");

    let out = train_command(killed.path(), &["--resume", "auto"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming arm `main` after step"), "{}", stderr(&out));
    assert_eq!(run_metrics(&killed.path().join("runs/e2e")), run_metrics(&whole.path().join("runs/e2e")));
    assert_eq!(
        std::fs::read_to_string(killed.path().join("runs/e2e/router_log.jsonl")).unwrap(),
        std::fs::read_to_string(whole.path().join("runs/e2e/router_log.jsonl")).unwrap()
    );
}

#[test]
fn ab_arms_with_two_router_kinds_and_none() {
    let dir = setup(0, &[("bandit", "lrpo-bandit"), ("uniform", "uniform"), ("mono", "none")]);
    let out = train_command(dir.path(), &["--set", "trainer.val_before_train=true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let a = run_metrics(&dir.path().join("runs/e2e/bandit"));
    let b = run_metrics(&dir.path().join("runs/e2e/uniform"));
    let mono = run_metrics(&dir.path().join("runs/e2e/mono"));
    assert_eq!((a.len(), b.len(), mono.len()), (9, 9, 9), "6 steps and 3 validations each");
    // Same data order and seeds: the first batch's questions, hence routed copy counts per
    // group, match; the routers' choices are what differs.
    assert_eq!(a[1]["reward"]["count"], b[1]["reward"]["count"]);
    // Without a router every copy keeps its question's language: the routed languages are
    // exactly the batch's question languages, never the 6 of 8 a router spreads.
    for rec in mono.iter().filter(|r| r["phase"] == "train") {
        let routed: Vec<&String> = rec["routed"].as_object().unwrap().keys().collect();
        assert!(routed.len() <= 4, "at most one language per question: {routed:?}");
    }
    assert!(
        !dir.path().join("runs/e2e/mono/router_log.jsonl").exists() || {
            std::fs::read_to_string(dir.path().join("runs/e2e/mono/router_log.jsonl")).unwrap().is_empty()
        }
    );
    // Validation keeps each question's reward, in the same order in every arm.
    let questions = |m: &[serde_json::Value]| m[0]["question_rewards"].as_array().map(Vec::len);
    assert_eq!(questions(&a), Some(5));
    assert_eq!(a[0]["question_rewards"], mono[0]["question_rewards"], "one model before training");

    let out = Command::new(host_binary()).args(["ab", "report", "runs/e2e"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for arm in ["bandit", "uniform", "mono"] {
        assert!(text.contains(&format!("arm `{arm}` (6 steps)")), "{text}");
    }
    assert!(text.contains("training reward: mean") && text.contains("last 1 steps - first 1:"), "{text}");
    assert!(text.contains("held-out validation (5 questions): step 0"), "{text}");
    assert!(text.contains("router, topic `") && text.contains("rank correlation with reward per language"), "{text}");
    assert!(text.contains("arms on the held-out questions") && text.contains("mono - uniform:"), "{text}");
    assert!(text.contains("moving blocks of 2 steps"), "{text}");
    for plot in ["ab_reward.svg", "ab_gate.svg", "ab_validation.svg", "ab_router_vs_reward.svg"] {
        assert!(dir.path().join("runs/e2e/report").join(plot).is_file(), "{plot}: {text}");
    }
}

#[test]
fn every_router_kind_reaches_the_console_the_log_and_the_plots() {
    let routers = [("bandit", "lrpo-bandit"), ("thompson", "thompson"), ("uniform", "uniform")];
    let dir = setup(0, &routers);
    let out = train_command(dir.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let console = stderr(&out);
    for (arm, _) in routers {
        // The console line names the router's likeliest languages, whatever router it is.
        let last = console.lines().find(|l| l.starts_with(&format!("{arm} step 6/6:"))).unwrap_or_default();
        assert!(last.contains("; router p(lang): "), "arm `{arm}`: {last:?} in\n{console}");
        let run = dir.path().join("runs/e2e").join(arm);
        let log = std::fs::read_to_string(run.join("router_log.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 6, "arm `{arm}`");
        for line in log.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let probs = v["probs"].as_object().unwrap_or_else(|| panic!("arm `{arm}`: {line}"));
            assert!(probs.keys().any(|k| k.starts_with("topic:")), "arm `{arm}`: {line}");
            for (key, dist) in probs {
                let total: f64 = dist["effective"].as_object().unwrap().values().map(|p| p.as_f64().unwrap()).sum();
                assert!((total - 1.0).abs() < 1e-9, "arm `{arm}`, {key}: effective sums to {total}");
            }
        }
        let report = format!("runs/e2e/{arm}");
        let out = Command::new(host_binary()).args(["report", &report]).current_dir(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let heatmap = std::fs::read_to_string(run.join("report/router_topic_0.svg")).unwrap();
        assert!(heatmap.contains("Router language probabilities"), "arm `{arm}`");
    }
}

#[test]
fn a_run_directory_has_one_writer_and_a_finished_run_is_not_appended_to() {
    let dir = setup(150, &[("lrpo", "lrpo-bandit")]);
    let metrics = dir.path().join("runs/e2e/metrics.jsonl");
    let mut first = spawn_run_until(dir.path(), &metrics, Duration::from_secs(60));
    // While the first writes, a second (fresh or resuming) is refused with the holder's pid.
    let out = train_command(dir.path(), &["--resume", "auto"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("lrpo-host (pid {}) is writing to this run directory", first.id())),
        "{}",
        stderr(&out)
    );
    assert!(first.wait().unwrap().success());
    let records = run_metrics(&dir.path().join("runs/e2e")).len();
    assert_eq!(records, 8, "the refused writer changed nothing");

    // A fresh run into the finished run's directory would append a second run to it.
    let out = train_command(dir.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already holds a run (8 records); pass --resume auto"), "{}", stderr(&out));
    assert_eq!(run_metrics(&dir.path().join("runs/e2e")).len(), records);
}

#[test]
fn an_epoch_count_that_overflows_is_refused_not_run_for_zero_steps() {
    let dir = setup(0, &[("lrpo", "lrpo-bandit")]);
    let set = ["--set", "trainer.total_steps=0", "--set", "trainer.total_epochs=4611686018427387904"];
    let out = train_command(dir.path(), &set).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("config `trainer.total_epochs`"), "{}", stderr(&out));
}

/// Every complete checkpoint of `run`: its step and whether host.json parses and every
/// component's state is there.
fn complete_checkpoints(run: &Path) -> Vec<(u64, bool)> {
    lrpo_host::train::checkpoint::complete(run)
        .into_iter()
        .map(|(step, dir)| {
            let whole = lrpo_host::train::checkpoint::load_host(&dir).is_ok()
                && dir.join("router.state").is_file()
                && dir.join("optimizer.state").is_file();
            (step, whole)
        })
        .collect()
}

#[test]
fn checkpoints_stay_bounded_and_a_kill_at_any_moment_leaves_a_complete_one() {
    let dir = setup(25, &[("lrpo", "lrpo-bandit")]);
    let text = std::fs::read_to_string(dir.path().join("run.toml")).unwrap();
    let text = text
        .replace("total_steps = 6", "total_steps = 12")
        .replace("save_freq = 2", "save_freq = 1\nmax_checkpoints_to_keep = 1");
    write_file(dir.path(), "run.toml", &text);
    let run = dir.path().join("runs/e2e");
    let first = run.join("checkpoints/step_000001/host.json");
    let mut child = spawn_run_until(dir.path(), &first, Duration::from_secs(60));
    // SIGKILL at spread-out moments: inside a step, inside a save, inside the removal of the
    // older checkpoint. Each time, one whole checkpoint must remain and the run must resume.
    for (i, delay_ms) in [7u64, 41, 13, 60, 29, 3, 52, 19].into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let ckpts = complete_checkpoints(&run);
        assert!(!ckpts.is_empty() && ckpts.iter().all(|(_, whole)| *whole), "after kill {i}: {ckpts:?}");
        assert!(ckpts.len() <= 2, "at most the kept one and one being replaced: {ckpts:?}");
        child = train_command(dir.path(), &["--resume", "auto"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    let names: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["step_000012"], "one checkpoint kept, no leftovers");
    let m = run_metrics(&run);
    assert_eq!(m.iter().filter(|v| v["phase"] == "train").count(), 12, "every step once, however often killed");
}

#[test]
fn reward_parts_combine_in_the_arm_and_are_logged_per_language() {
    let single = setup(0, &[("lrpo", "lrpo-bandit")]);
    let out = train_command(single.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Two instances of the toy length reward: 0.5·a + 0.5·b·gate(a). Its value is already
    // gate·sim with a 0/1 gate, so the combination must equal the single reward exactly.
    let combined = setup(0, &[("lrpo", "lrpo-bandit")]);
    let text = std::fs::read_to_string(combined.path().join("run.toml")).unwrap().replace(
        "[components.reward_model.length]\nplugin = \"lrpo_fixture_toy\"\nkind = \"length\"\n",
        "[components.reward_model.a]\nplugin = \"lrpo_fixture_toy\"\nkind = \"length\"\n\n\
         [components.reward_model.b]\nplugin = \"lrpo_fixture_toy\"\nkind = \"length\"\n\n\
         [[reward.parts]]\ninstance = \"a\"\nweight = 0.5\n\n\
         [[reward.parts]]\ninstance = \"b\"\nweight = 0.5\ngated_by = \"a\"\n",
    );
    write_file(combined.path(), "run.toml", &text);
    let out = train_command(combined.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("reward part     b = lrpo_fixture_toy:length (weight 0.5, gated by a)"),
        "{}",
        stderr(&out)
    );
    let one = run_metrics(&single.path().join("runs/e2e"));
    let two = run_metrics(&combined.path().join("runs/e2e"));
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(&two) {
        let (ra, rb) = (a["reward"]["mean"].as_f64().unwrap(), b["reward"]["mean"].as_f64().unwrap());
        assert!((ra - rb).abs() < 1e-12, "step {}: {ra} vs {rb}", a["step"]);
        assert!(a.get("reward_parts").is_none(), "one reward model logs no parts");
        let parts = &b["reward_parts"];
        assert_eq!(parts["a"]["reward"]["mean"], parts["b"]["reward"]["mean"], "{parts}");
        assert_eq!(
            parts["a"]["by_lang"].as_object().unwrap().keys().collect::<Vec<_>>(),
            b["reward_by_lang"].as_object().unwrap().keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_truncated_newest_checkpoint_is_named_and_the_previous_one_resumes() {
    let whole = setup(0, &[("lrpo", "lrpo-bandit")]);
    let out = train_command(whole.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run = whole.path().join("runs/e2e");
    let expected = run_metrics(&run);
    // Damage the newest checkpoint's optimizer state (a disk that filled up mid-write, say).
    let state = run.join("checkpoints/step_000006/optimizer.state");
    std::fs::write(&state, [1u8]).unwrap();
    let out = train_command(whole.path(), &["--resume", "auto"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}", state.display())), "the damaged file is named:\n{err}");
    assert!(err.contains("checkpoints/step_000004, the newest checkpoint that loads"), "{err}");
    assert!(err.contains("resuming arm `main` after step 4"), "{err}");
    assert_eq!(run_metrics(&run), expected, "steps 5 and 6 are redone exactly");

    // With every checkpoint damaged the run refuses, naming them, and exits 1.
    for step in ["step_000004", "step_000006"] {
        std::fs::write(run.join("checkpoints").join(step).join("optimizer.state"), [1u8]).unwrap();
    }
    let out = train_command(whole.path(), &["--resume", "auto"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no checkpoint loads"), "{}", stderr(&out));
}

#[test]
fn a_checkpoint_that_cannot_be_written_costs_no_step_but_the_last_one_fails_the_run() {
    // A file where step 2's checkpoint directory would go makes that save fail (as a full disk
    // would) without touching the others.
    let dir = setup(0, &[("lrpo", "lrpo-bandit")]);
    let run = dir.path().join("runs/e2e");
    std::fs::create_dir_all(run.join("checkpoints")).unwrap();
    std::fs::write(run.join("checkpoints/step_000002"), "in the way").unwrap();
    let out = train_command(dir.path(), &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("checkpoint of step 2 not written") && err.contains("step_000002"), "{err}");
    assert!(err.contains("training goes on and the next save tries again"), "{err}");
    assert_eq!(run_metrics(&run).iter().filter(|r| r["phase"] == "train").count(), 6, "every step trained");
    assert_eq!(complete_checkpoints(&run), vec![(4, true), (6, true)]);
    let leftovers: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written checkpoint is left: {leftovers:?}");

    // The last save has nothing after it to make up for it: exit 1, naming what is left.
    let dir = setup(0, &[("lrpo", "lrpo-bandit")]);
    let run = dir.path().join("runs/e2e");
    std::fs::create_dir_all(run.join("checkpoints")).unwrap();
    std::fs::write(run.join("checkpoints/step_000006"), "in the way").unwrap();
    let out = train_command(dir.path(), &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the last checkpoint (step 6) could not be written"), "{err}");
    assert!(err.contains("checkpoints/step_000004, and `--resume auto` continues from it"), "{err}");
}
