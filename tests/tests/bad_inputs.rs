//! The bad-input table (`tests/bad-inputs/cases.md`), run through the real binary: each row's
//! command must exit with its status and print its message. The table is the spec a reviewer
//! reads; this file only runs it.

use lrpo_tests::*;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Case {
    name: String,
    /// `NAME=VALUE` words before the arguments, set in the command's environment (as a shell
    /// reads them).
    env: Vec<(String, String)>,
    args: Vec<String>,
    exit: i32,
    message: String,
}

/// `LRPO_TRAINER__TOTAL_STEPS=7`: an environment assignment, not an argument.
fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let is_name = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    is_name.then(|| (name.to_string(), value.to_string()))
}

/// The rows of the markdown table: `| case | `args` | exit | message |`.
fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(repo().join("tests/bad-inputs/cases.md")).expect("cases.md");
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| case ") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 4, "a row has case, args, exit, message: {l}");
            let words: Vec<&str> = cells[1].trim_matches('`').split(' ').collect();
            let env: Vec<(String, String)> = words.iter().map_while(|w| assignment(w)).collect();
            Case {
                name: cells[0].to_string(),
                args: words[env.len()..].iter().map(|w| w.to_string()).collect(),
                env,
                exit: cells[2].parse().unwrap_or_else(|_| panic!("exit of `{}`", cells[0])),
                message: cells[3].to_string(),
            }
        })
        .collect()
}

/// The case directory: plugins, a small run on the bundled data, and the bad files.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(&["lrpo_router_bandit", "lrpo_fixture_toy"]);
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    for e in std::fs::read_dir(plugins.path()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.path().join("plugins").join(e.file_name())).unwrap();
    }
    let data = repo().join("examples/data/prepared");
    let run = format!(
        "[run]\nname = \"bad\"\nout_dir = \"runs\"\nthreads = 1\n\n\
         [data]\ntrain_files = [\"{}\"]\nval_files = [\"{}\"]\ntrain_batch_size = 8\ngroup_size = 4\n\n\
         [trainer]\ntotal_steps = 2\nsave_freq = 0\ntest_freq = 0\nmax_new_tokens = 8\n\n\
         [components.router.lrpo]\nplugin = \"lrpo_router_bandit\"\nkind = \"lrpo-bandit\"\nconfig = {{ orig_lang_min = 1 }}\n\n\
         [components.language_id.marker]\nplugin = \"lrpo_fixture_toy\"\nkind = \"marker\"\n\n\
         [components.reward_model.length]\nplugin = \"lrpo_fixture_toy\"\nkind = \"length\"\n\n\
         [components.rollout_engine.seeded]\nplugin = \"lrpo_fixture_toy\"\nkind = \"seeded\"\n\n\
         [components.optimizer.scalar]\nplugin = \"lrpo_fixture_toy\"\nkind = \"scalar\"\n",
        data.join("train.parquet").display(),
        data.join("test.parquet").display()
    );
    let d = dir.path();
    write_file(d, "run.toml", &run);
    write_file(d, "notes.txt", "This is prose, [not TOML\n");
    write_file(d, "garbage.parquet", "PAR1 but not really parquet");
    write_file(d, "broken.jsonl", "{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \n");
    write_file(d, "noanswer.jsonl", "{\"prompt\": \"What is 2+2?\"}\n");
    write_file(d, "noquestion.jsonl", "{\"answer\": \"4\"}\n");
    write_file(
        d,
        "emptyanswer.jsonl",
        "{\"prompt\": \"What is 2+2?\", \"answer\": \"4\", \"language\": \"en\"}\n{\"prompt\": \"And 3+3?\", \"answer\": \"  \", \"language\": \"en\"}\n",
    );
    write_file(d, "array.json", "[{\"prompt\": \"a\", \"answer\": \"b\"}, 7]");
    let long = "why ".repeat(25_000);
    write_file(d, "long.jsonl", &format!("{{\"prompt\": \"{long}\", \"answer\": \"b\", \"language\": \"en\"}}\n"));
    write_file(d, "klingon.jsonl", "{\"prompt\": \"nuqneH\", \"answer\": \"nuqneH\", \"language\": \"klingon\"}\n");
    write_file(d, "empty.jsonl", "");
    write_file(d, "numberquestion.jsonl", "{\"question\": 7, \"answer\": \"b\", \"language\": \"en\"}\n");
    write_file(d, "dup.toml", "[trainer]\ntotal_steps = 2\ntotal_steps = 3\n");
    write_file(d, "typo.toml", "[trainr]\ntotal_steps = 2\n");
    write_file(d, "notes.so", "not a library\n");
    write_file(d, "scale.txt", "abc\n");
    std::fs::create_dir(d.join("scale-dir")).unwrap();
    // A copy of a plugin whose dynamic section is zeroed (the loader's pre-check must catch it).
    let mut bytes = std::fs::read(d.join("plugins/liblrpo_fixture_toy.so")).unwrap();
    let (offset, size) = lrpo_host::plugin::dynamic_section(&bytes).expect("a shared library has one");
    bytes[offset..offset + size].fill(0);
    std::fs::create_dir(d.join("plugins-zeroed")).unwrap();
    std::fs::write(d.join("plugins-zeroed/liblrpo_fixture_toy.so"), &bytes).unwrap();
    // Links to themselves: a library that cannot be looked at, and a plugin "directory" too.
    std::fs::create_dir(d.join("plugins-loop")).unwrap();
    std::os::unix::fs::symlink("liblrpo_fixture_toy.so", d.join("plugins-loop/liblrpo_fixture_toy.so")).unwrap();
    std::os::unix::fs::symlink("loop", d.join("loop")).unwrap();
    // A finished run, and a run whose only checkpoint is damaged.
    let record = "{\"step\": 1, \"phase\": \"train\"}\n";
    std::fs::create_dir_all(d.join("runs/old")).unwrap();
    write_file(&d.join("runs/old"), "metrics.jsonl", record);
    std::fs::create_dir_all(d.join("runs/damaged/checkpoints/step_000001")).unwrap();
    write_file(&d.join("runs/damaged"), "metrics.jsonl", record);
    write_file(&d.join("runs/damaged/checkpoints/step_000001"), "host.json", "{ not json");
    dir
}

/// Holds the run-directory lock of `runs/locked` as a running trainer would.
fn hold_lock(dir: &Path) -> std::fs::File {
    std::fs::create_dir_all(dir.join("runs/locked")).unwrap();
    let file = std::fs::File::create(dir.join("runs/locked/.lock")).unwrap();
    file.try_lock().expect("lock runs/locked");
    std::fs::write(dir.join("runs/locked/.lock"), "4242\n").unwrap();
    file
}

#[test]
fn every_bad_input_in_the_table_is_refused_as_documented() {
    let cases = cases();
    assert!(cases.len() >= 86, "the table holds {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let dir = fixture();
        let _lock = hold_lock(dir.path());
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let out = run_host_with_env(&args, dir.path(), &case.env);
        let text = format!("{}{}", stderr(&out), stdout(&out));
        let code = out.status.code().unwrap_or(-1);
        if code != case.exit || !text.contains(&case.message) {
            failures.push(format!(
                "`{}` ({}): exit {code} (want {}), output:\n{}\n(want it to contain: {})",
                case.name,
                case.args.join(" "),
                case.exit,
                text.trim_end(),
                case.message
            ));
        }
        // Nothing was trained or written into the run directory.
        assert!(!Path::new(&dir.path().join("runs/bad/metrics.jsonl")).exists(), "`{}` trained", case.name);
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
