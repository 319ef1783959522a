//! Helpers shared by the data and prompt tests: paths and the project venv's Python.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn mini_dataset() -> PathBuf {
    lrpo_testkit::repo_root().join("examples/data/lrpo-mini.jsonl")
}

/// The venv's Python, checked to import `modules`; panics naming scripts/setup.sh otherwise.
pub fn python(modules: &[&str]) -> PathBuf {
    let python = lrpo_testkit::python();
    let probe = format!("import {}", modules.join(", "));
    let status = Command::new(&python).args(["-c", &probe]).status().expect("python runs");
    assert!(
        status.success(),
        "the venv cannot `{probe}`: run scripts/setup.sh (it installs scripts/requirements/data.txt)"
    );
    python
}

/// Runs `script` with the venv's Python, `stdin` on its standard input; returns stdout.
pub fn run_python(modules: &[&str], script: &str, stdin: &str) -> String {
    let python = python(modules);
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("python finishes");
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Writes a parquet file in the reference layout with pyarrow. `spec` is JSON:
/// `{"path": .., "rows": [{query, chosen, topic, language, region, split?, index?}], "row_group_size": n,
///   "drop": [top-level columns], "drop_extra": [extra_info fields], "replace": {"column": [values]},
///   "large_strings": bool}`.
pub fn write_reference_parquet(spec: &serde_json::Value) {
    run_python(&["pyarrow"], WRITE_REFERENCE, &spec.to_string());
}

const WRITE_REFERENCE: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
spec = json.load(sys.stdin)
rows = spec["rows"]
names = sorted({r["language"] for r in rows})
label = {n: i for i, n in enumerate(names)}
s = pa.large_string() if spec.get("large_strings") else pa.string()
msg = pa.struct([("role", s), ("content", s)])
extra_fields = [("split", s), ("index", pa.int64()), ("question", s), ("language", s), ("topic", s), ("region", s)]
extra_fields = [f for f in extra_fields if f[0] not in spec.get("drop_extra", [])]
cols = {
    "query": pa.array([r["query"] for r in rows], s),
    "chosen": pa.array([r["chosen"] for r in rows], s),
    "language": pa.array([label[r["language"]] for r in rows], pa.int64()),
    "region": pa.array([r.get("region") for r in rows], s),
    "language_str": pa.array([r["language"] for r in rows], s),
    "data_source": pa.array(["lrpo"] * len(rows), s),
    "prompt": pa.array([[{"role": "user", "content": r["query"]}] for r in rows], pa.list_(msg)),
    "ability": pa.array([r["topic"] for r in rows], s),
    "reward_model": pa.array([{"ground_truth": r["chosen"]} for r in rows], pa.struct([("ground_truth", s)])),
    "question": pa.array([r["query"] for r in rows], s),
    "answer": pa.array([r["chosen"] for r in rows], s),
    "extra_info": pa.array(
        [{"split": r.get("split", "train"), "index": r.get("index", i), "question": r["query"],
          "language": r["language"], "topic": r["topic"], "region": r.get("region")} for i, r in enumerate(rows)],
        pa.struct(extra_fields)),
}
for name, values in spec.get("replace", {}).items():
    cols[name] = pa.array(values)
for name in spec.get("drop", []):
    cols.pop(name)
table = pa.table(cols)
pq.write_table(table, spec["path"], row_group_size=spec.get("row_group_size", 1024))
"#;
