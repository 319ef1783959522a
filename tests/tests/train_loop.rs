//! The training loop over in-process test doubles (the toy fixture's components, used as an
//! rlib here): it runs, writes metrics and the router
//! log, checkpoints atomically, and a resumed run reproduces the uninterrupted run's metrics.

use lrpo_core::*;
use lrpo_fixture_toy::{LengthReward, MarkerLid, ScalarOptimizer, SeededEngine};
use lrpo_host::config::{self, ResolvedConfig, Sources};
use lrpo_host::train::{reward_stack::RewardStack, ArmComponents, Trainer};
use lrpo_sdk::Component;
use lrpo_tests::run_metrics;
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/prepared")
}

fn resolved(total_steps: u64, save_freq: u64) -> ResolvedConfig {
    let d = data_dir();
    let sources = Sources {
        file: None,
        overrides: vec![
            format!("data.train_files=[\"{}\"]", d.join("train.parquet").display()),
            format!("data.val_files=[\"{}\"]", d.join("test.parquet").display()),
            "data.train_batch_size=16".into(),
            "data.group_size=4".into(),
            format!("trainer.total_steps={total_steps}"),
            format!("trainer.save_freq={save_freq}"),
            "trainer.test_freq=3".into(),
            "trainer.val_max_questions=6".into(),
            "trainer.max_new_tokens=8".into(),
        ],
        env: false,
    };
    let mut raw = config::load(&sources).unwrap();
    // Start from the defaults without the default run's models: ChatML prompts with the tag
    // the toy engine reads.
    raw.components = Default::default();
    raw.model.path = None;
    raw.data.prompt_style = lrpo_host::prompt::PromptStyle::Tag;
    config::resolve(raw, &[], Path::new("/")).unwrap()
}

/// Picks languages round-robin over three, from a counter it checkpoints.
struct RoundRobin {
    next: u64,
    seen: f64,
}
impl Router for RoundRobin {
    fn languages(&self) -> Vec<Lang> {
        ["en", "de", "zh"].iter().map(Lang::new).collect()
    }
    fn route(&mut self, r: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
        let langs = self.languages();
        Ok(r.groups
            .iter()
            .map(|_| {
                (0..r.n)
                    .map(|_| {
                        self.next += 1;
                        langs[(self.next % 3) as usize].clone()
                    })
                    .collect()
            })
            .collect())
    }
    fn update(&mut self, _step: u64, fb: &[RouteFeedback]) -> Result<RouterUpdate> {
        self.seen += fb.iter().map(|f| f.reward).sum::<f64>();
        let report =
            RouterReport { languages: self.languages(), contexts: vec![], extras: vec![("seen".into(), self.seen)] };
        Ok(RouterUpdate { flushed: true, report: Some(report) })
    }
    fn save_state(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(&(self.next, self.seen)).unwrap())
    }
    fn load_state(&mut self, s: &[u8]) -> Result<()> {
        (self.next, self.seen) = serde_json::from_slice(s).map_err(|e| Error::State(e.to_string()))?;
        Ok(())
    }
}

fn components() -> ArmComponents {
    ArmComponents {
        router: Some(Box::new(RoundRobin { next: 0, seen: 0.0 })),
        language_id: Box::new(MarkerLid),
        reward_model: RewardStack::single(Box::new(LengthReward::default())),
        rollout_engine: Box::new(SeededEngine::new("e", Default::default()).unwrap()),
        optimizer: Box::new(ScalarOptimizer::new("o", Default::default()).unwrap()),
    }
}

#[test]
fn runs_and_writes_metrics_router_log_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(resolved(6, 2), components(), dir.path()).unwrap();
    let summary = t.run(|_, _| {}).unwrap();
    assert_eq!(summary.steps, 6);
    let m = run_metrics(dir.path());
    let train: Vec<_> = m.iter().filter(|v| v["phase"] == "train").collect();
    let val: Vec<_> = m.iter().filter(|v| v["phase"] == "val").collect();
    assert_eq!(train.len(), 6);
    assert_eq!(val.len(), 2, "validation at steps 3 and 6");
    assert_eq!(train[0]["reward"]["count"], 16);
    assert_eq!(val[0]["reward"]["count"], 6);
    let gate = train[0]["gate_rate"].as_f64().unwrap();
    assert!(gate > 0.5 && gate < 1.0, "about 3 in 4 responses are in the routed language: {gate}");
    // The optimizer's weight reaches the engine: responses grow as w grows.
    let len = |i: usize| train[i]["response_tokens"]["mean"].as_f64().unwrap();
    assert!(len(5) > len(0), "{} vs {}", len(5), len(0));
    assert_eq!(std::fs::read_to_string(dir.path().join("router_log.jsonl")).unwrap().lines().count(), 6);
    // trainer.max_checkpoints_to_keep = 2 (the default): step 2's went once step 6's was complete.
    for step in [4, 6] {
        assert!(dir.path().join(format!("checkpoints/step_{step:06}/host.json")).is_file());
    }
    let names: Vec<String> = std::fs::read_dir(dir.path().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(dir.path().join("config.toml").is_file());
    // samples.jsonl: trainer.samples_per_step = 4 responses a step, spread over the batch.
    let samples = std::fs::read_to_string(dir.path().join("samples.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = samples.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 6 * 4);
    for key in ["question", "reference", "target_lang", "detected_lang", "reward", "gate", "response"] {
        assert!(rows[0].get(key).is_some(), "samples.jsonl rows have `{key}`: {}", rows[0]);
    }
    assert_eq!(rows.last().unwrap()["step"], 6);
}

#[test]
fn resumed_run_reproduces_the_uninterrupted_metrics() {
    let whole = tempfile::tempdir().unwrap();
    Trainer::new(resolved(6, 2), components(), whole.path()).unwrap().run(|_, _| {}).unwrap();

    // Same config, stopped after step 5 (its last checkpoint is step 4), then resumed.
    let parts = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(resolved(6, 2), components(), parts.path()).unwrap();
    let mut seen = 0;
    let err = first.run(|_, _| seen += 1);
    assert!(err.is_ok());
    // Simulate a crash after step 5: drop step 6's checkpoint and metrics past step 5.
    std::fs::remove_dir_all(parts.path().join("checkpoints/step_000006")).unwrap();
    let text = std::fs::read_to_string(parts.path().join("metrics.jsonl")).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("\"step\":6")).collect();
    std::fs::write(parts.path().join("metrics.jsonl"), kept.join("\n") + "\n").unwrap();

    let mut resumed = Trainer::new(resolved(6, 2), components(), parts.path()).unwrap();
    assert_eq!(resumed.resume().unwrap(), Some(4));
    resumed.run(|_, _| {}).unwrap();
    assert_eq!(run_metrics(parts.path()), run_metrics(whole.path()));
    assert_eq!(
        std::fs::read_to_string(parts.path().join("router_log.jsonl")).unwrap(),
        std::fs::read_to_string(whole.path().join("router_log.jsonl")).unwrap()
    );
}

#[test]
fn resume_under_another_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Trainer::new(resolved(2, 2), components(), dir.path()).unwrap().run(|_, _| {}).unwrap();
    let mut other = Trainer::new(resolved(4, 2), components(), dir.path()).unwrap();
    let err = other.resume().unwrap_err();
    assert!(err.to_string().contains("different configuration"), "{err}");
}

#[test]
fn val_before_train_validates_the_untrained_policy_as_step_0_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = resolved(2, 1);
    cfg.raw.trainer.val_before_train = true;
    Trainer::new(cfg.clone(), components(), dir.path()).unwrap().run(|_, _| {}).unwrap();
    let m = run_metrics(dir.path());
    assert_eq!((m[0]["phase"].as_str(), m[0]["step"].as_u64()), (Some("val"), Some(0)), "{}", m[0]);
    assert_eq!(m.iter().filter(|v| v["phase"] == "val" && v["step"] == 0).count(), 1);
    // A resumed run has trained already: no second step-0 validation.
    let mut t = Trainer::new(cfg, components(), dir.path()).unwrap();
    assert_eq!(t.resume().unwrap(), Some(2));
    t.run(|_, _| {}).unwrap();
    let m = run_metrics(dir.path());
    assert_eq!(m.iter().filter(|v| v["phase"] == "val" && v["step"] == 0).count(), 1);
}

#[test]
fn trl_rows_without_a_language_train_with_languages_from_the_language_id() {
    let dir = tempfile::tempdir().unwrap();
    // Four TRL-style rows: a text prompt and a solution, no language, no topic; the toy language
    // ID reads the `lang=xx` marker in each question.
    let rows: String = ["de", "fr", "zh", "es"]
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{{\"prompt\": \"question {i} lang={l}\", \"solution\": \"answer {i}\", \"id\": {i}}}\n"))
        .collect();
    let data = dir.path().join("trl.jsonl");
    std::fs::write(&data, rows).unwrap();
    let mut cfg = resolved(2, 0);
    cfg.raw.data.train_files = vec![data];
    cfg.raw.data.val_files = vec![];
    cfg.raw.data.train_batch_size = 8;
    let run = dir.path().join("run");
    Trainer::new(cfg, components(), &run).unwrap().run(|_, _| {}).unwrap();
    let samples: Vec<serde_json::Value> = std::fs::read_to_string(run.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(samples.len(), 8);
    for s in &samples {
        let q = s["question"].as_str().unwrap();
        assert!(q.starts_with("question "), "{s}");
        assert!(s["reference"].as_str().unwrap().starts_with("answer "), "{s}");
        // Each question's language is the one the language ID found in it.
        assert_eq!(s["question_lang"].as_str().unwrap(), &q[q.len() - 2..], "{s}");
    }
}
