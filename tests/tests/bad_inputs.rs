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
    args: Vec<String>,
    exit: i32,
    message: String,
}

/// The rows of the markdown table: `| case | `args` | exit | message |`.
fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(repo().join("tests/bad-inputs/cases.md")).expect("cases.md");
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| case ") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 4, "a row has case, args, exit, message: {l}");
            Case {
                name: cells[0].to_string(),
                args: cells[1].trim_matches('`').split(' ').map(str::to_string).collect(),
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
    dir
}

#[test]
fn every_bad_input_in_the_table_is_refused_as_documented() {
    let cases = cases();
    assert!(cases.len() >= 50, "the table holds {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let dir = fixture();
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let out = run_host(&args, dir.path());
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
