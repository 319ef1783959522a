//! The parquet reader against files pyarrow writes in the reference layout (spec §1.3).

mod data_support;

use data_support::write_reference_parquet;
use lrpo_core::{Error, Lang};
use lrpo_host::data::{check, read_questions, QuestionReader};
use serde_json::{json, Value};
use std::path::Path;

fn rows() -> Value {
    json!([
        {"query": "  What is the capital of France?  ", "chosen": "Paris.", "topic": "General Knowledge",
         "language": "english", "region": null},
        {"query": "中国的首都是哪里？", "chosen": "北京。", "topic": "Regional Knowledge", "language": "Chinese",
         "region": "China", "index": 7},
        {"query": "Translate 'cat' into Japanese.", "chosen": "猫", "topic": "Translation", "language": "japanese",
         "region": ""},
        {"query": "Wie viel ist 2+2?", "chosen": "4", "topic": "Reasoning / Logic", "language": "GERMAN",
         "region": null, "split": "test"},
    ])
}

fn write(dir: &Path, name: &str, mut spec: Value) -> std::path::PathBuf {
    let path = dir.join(name);
    spec["path"] = json!(path.to_str().unwrap());
    if spec.get("rows").is_none() {
        spec["rows"] = rows();
    }
    write_reference_parquet(&spec);
    path
}

fn input_error(result: Result<impl std::fmt::Debug, Error>) -> (String, String) {
    match result {
        Err(Error::Input { location, message }) => (location, message),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn pyarrow_reference_layout_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ref.parquet", json!({}));
    let set = read_questions(&path).unwrap();
    assert!(set.unknown_languages.is_empty());
    let q = &set.questions;
    assert_eq!(q.len(), 4);
    // The text is taken as stored; the prompt builder trims it (spec §3.8).
    assert_eq!(q[0].question, "  What is the capital of France?  ");
    assert_eq!(q[0].answer, "Paris.");
    assert_eq!(q[0].topic, "General Knowledge");
    assert_eq!((q[0].index, q[0].region.as_deref()), (0, None));
    assert_eq!(q[0].orig_lang, Lang::new("en"));
    assert_eq!(q[1].orig_lang, Lang::new("zh"));
    assert_eq!(q[1].language_name, "Chinese");
    assert_eq!((q[1].index, q[1].region.as_deref()), (7, Some("China")));
    assert_eq!(q[1].fixed_lang, None);
    // "Translation" pins the language; an empty region is no region.
    assert_eq!(q[2].fixed_lang, Some(Lang::new("ja")));
    assert_eq!(q[2].lang(), &Lang::new("ja"));
    assert_eq!(q[2].region, None);
    assert_eq!(q[3].orig_lang, Lang::new("de"));
    let ctx = q[1].route_context(42);
    assert_eq!((ctx.group_id, ctx.topic.as_str(), ctx.region.as_deref()), (42, "Regional Knowledge", Some("China")));
}

#[test]
fn large_strings_and_many_row_groups_stream() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Value> = (0..2500)
        .map(|i| {
            let language = ["english", "french", "korean"][i % 3];
            json!({"query": format!("question {i}"), "chosen": format!("answer {i}"),
                   "topic": "General Knowledge", "language": language})
        })
        .collect();
    let path = write(dir.path(), "big.parquet", json!({"rows": rows, "row_group_size": 300, "large_strings": true}));
    let reader = QuestionReader::open(&path).unwrap();
    assert_eq!(reader.total_rows(), 2500);
    let questions: Vec<_> = reader.map(|q| q.unwrap()).collect();
    assert_eq!(questions.len(), 2500);
    for (i, q) in questions.iter().enumerate() {
        assert_eq!(q.question, format!("question {i}"));
        assert_eq!(q.index, i as u64);
    }
    assert_eq!(questions[2].orig_lang, Lang::new("ko"));
}

#[test]
fn unknown_language_is_counted_and_read_as_english() {
    let dir = tempfile::tempdir().unwrap();
    let rows = json!([
        {"query": "q1", "chosen": "a1", "topic": "General Knowledge", "language": "klingon"},
        {"query": "q2", "chosen": "a2", "topic": "General Knowledge", "language": "klingon"},
        {"query": "q3", "chosen": "a3", "topic": "General Knowledge", "language": "thai"},
        {"query": "q4", "chosen": "a4", "topic": "General Knowledge", "language": "french"},
    ]);
    let path = write(dir.path(), "unknown.parquet", json!({"rows": rows}));
    let set = read_questions(&path).unwrap();
    assert_eq!(set.unknown_languages.get("klingon"), Some(&2));
    assert_eq!(set.unknown_languages.get("thai"), Some(&1));
    assert_eq!(set.questions[0].orig_lang, Lang::new("en"));
    assert_eq!(set.questions[3].orig_lang, Lang::new("fr"));
    let report = check(&path).unwrap();
    assert!(report.problems.iter().any(|p| p.contains("`klingon`") && p.contains("2 row(s)")), "{report}");
}

#[test]
fn missing_columns_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for column in ["question", "answer", "ability", "extra_info"] {
        let path = write(dir.path(), &format!("no-{column}.parquet"), json!({"drop": [column]}));
        let (location, message) = input_error(read_questions(&path));
        assert!(location.contains(path.to_str().unwrap()), "{location}");
        assert!(location.contains(&format!("column `{column}`")), "{location}");
        assert!(message.starts_with("missing"), "{message}");
        // data check cannot read such a file either.
        input_error(check(&path));
    }
    let path = write(dir.path(), "no-language.parquet", json!({"drop_extra": ["language"]}));
    let (location, _) = input_error(read_questions(&path));
    assert!(location.ends_with("column `extra_info.language`"), "{location}");
}

#[test]
fn pass_through_columns_and_optional_fields_may_be_absent() {
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({"drop": ["query", "chosen", "language", "region", "language_str", "data_source", "prompt",
                               "reward_model"],
                      "drop_extra": ["index", "region", "split", "topic", "question"]});
    let path = write(dir.path(), "lean.parquet", spec);
    let set = read_questions(&path).unwrap();
    assert_eq!(set.questions.len(), 4);
    assert_eq!(set.questions[1].index, 1);
    assert_eq!(set.questions[1].region, None);
}

#[test]
fn wrong_types_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("question", json!([1, 2, 3, 4]), "column `question`", "expected string"),
        ("answer", json!([1.5, 2.5, 3.5, 4.5]), "column `answer`", "expected string"),
        ("extra_info", json!(["a", "b", "c", "d"]), "column `extra_info`", "expected struct"),
        ("prompt", json!(["a", "b", "c", "d"]), "column `prompt`", "expected list of struct"),
        ("reward_model", json!([1, 2, 3, 4]), "column `reward_model`", "ground_truth"),
        (
            "extra_info",
            json!([{"language": 1}, {"language": 2}, {"language": 3}, {"language": 4}]),
            "column `extra_info.language`",
            "expected string",
        ),
        (
            "extra_info",
            json!([{"language": "en", "index": "x"}, {"language": "en", "index": "y"},
                   {"language": "en", "index": "z"}, {"language": "en", "index": "w"}]),
            "column `extra_info.index`",
            "expected integer",
        ),
    ];
    for (i, (column, values, at, expected)) in cases.into_iter().enumerate() {
        let path = write(dir.path(), &format!("type{i}.parquet"), json!({"replace": {column: values}}));
        let (location, message) = input_error(read_questions(&path));
        assert!(location.ends_with(at), "{location}");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn empty_or_null_fields_name_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("question", json!(["ok", "ok", "   ", "ok"]), "column `question`, row 2", "is empty"),
        ("answer", json!(["ok", "", "ok", "ok"]), "column `answer`, row 1", "is empty"),
        ("answer", json!(["ok", "ok", "ok", null]), "column `answer`, row 3", "is null"),
        ("ability", json!([null, "x", "x", "x"]), "column `ability`, row 0", "is null"),
    ];
    for (i, (column, values, at, expected)) in cases.into_iter().enumerate() {
        let path = write(dir.path(), &format!("empty{i}.parquet"), json!({"replace": {column: values}}));
        let (location, message) = input_error(read_questions(&path));
        assert!(location.contains(path.to_str().unwrap()) && location.ends_with(at), "{location}");
        assert_eq!(message, expected);
        // data check lists the bad row and counts the rest.
        let report = check(&path).unwrap();
        assert_eq!((report.rows, report.good_rows), (4, 3));
        assert!(report.problems.iter().any(|p| p.contains(at)), "{report}");
    }
}

#[test]
fn unreadable_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.parquet");
    match read_questions(&missing) {
        Err(Error::Io { path, .. }) => assert!(path.contains("nope.parquet")),
        other => panic!("expected an io error, got {other:?}"),
    }
    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"this is not parquet at all").unwrap();
    let (location, message) = input_error(read_questions(&garbage));
    assert!(location.contains("garbage.parquet"), "{location}");
    assert!(message.contains("not a readable parquet file"), "{message}");
}
