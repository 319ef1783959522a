//! `data prepare` and `data check` on the bundled dataset, on XQuAD, and on bad input.

mod data_support;

use data_support::{mini_dataset, run_python};
use lrpo_core::{Error, Lang};
use lrpo_host::data::{check, prepare, read_questions, read_records, Record};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn input_error<T: std::fmt::Debug>(result: Result<T, Error>) -> (String, String) {
    match result {
        Err(Error::Input { location, message }) => (location, message),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn bundled_dataset_prepares_stratified_and_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let records = read_records(&mini_dataset()).unwrap();
    let summary = prepare(&mini_dataset(), dir.path(), 42).unwrap();
    assert_eq!(summary.train_rows() + summary.test_rows(), records.len());
    assert_eq!(summary.test_rows(), (records.len() as f64 * 0.1).ceil() as usize);
    assert!(summary.unknown_languages.is_empty());
    // Each language keeps its share of the test split, within one row.
    for (name, (train, test)) in &summary.per_language {
        let share = (*train + *test) as f64 * 0.1;
        assert!((*test as f64 - share).abs() <= 1.0, "{name}: {test} test rows for a share of {share}");
    }
    let text = summary.to_string();
    assert!(text.contains("train.parquet") && text.contains("japanese"), "{text}");

    let train = read_questions(&summary.train_path).unwrap();
    let test = read_questions(&summary.test_path).unwrap();
    assert_eq!(train.questions.len(), summary.train_rows());
    let indices: Vec<u64> = test.questions.iter().map(|q| q.index).collect();
    assert_eq!(indices, (0..test.questions.len() as u64).collect::<Vec<_>>());
    // Every record lands in exactly one split, unchanged.
    let mut seen: Vec<(String, String, String)> = train
        .questions
        .iter()
        .chain(&test.questions)
        .map(|q| (q.question.clone(), q.answer.clone(), q.language_name.clone()))
        .collect();
    let mut expected: Vec<(String, String, String)> =
        records.iter().map(|r| (r.query.clone(), r.chosen.clone(), r.language.clone())).collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);

    let report = check(&summary.train_path).unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.languages.len() >= 8, "{report}");
    assert_eq!(report.topics.len(), 5, "{report}");
    assert!(report.regions.contains_key("China"), "{report}");
    let shown = report.to_string();
    assert!(shown.contains("problems:  none") && shown.contains("question:  min"), "{shown}");
}

#[test]
fn same_seed_same_split_other_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let questions = |sub: &str, seed: u64| {
        let summary = prepare(&mini_dataset(), &dir.path().join(sub), seed).unwrap();
        read_questions(&summary.test_path).unwrap().questions
    };
    assert_eq!(questions("a", 42), questions("b", 42));
    assert_ne!(questions("a", 42), questions("c", 7));
}

/// pyarrow reads what `prepare` writes, in the reference column layout.
#[test]
fn prepared_files_have_the_reference_layout_for_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let summary = prepare(&mini_dataset(), dir.path(), 42).unwrap();
    let script = r#"
import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.stdin.read().strip())
print(json.dumps({"schema": {f.name: str(f.type) for f in t.schema}, "rows": t.slice(0, 3).to_pylist()}))
"#;
    let out: Value =
        serde_json::from_str(&run_python(&["pyarrow"], script, summary.test_path.to_str().unwrap())).unwrap();
    let schema = out["schema"].as_object().unwrap();
    let columns: Vec<&str> = schema.keys().map(String::as_str).collect();
    let expected = [
        "query",
        "chosen",
        "language",
        "region",
        "language_str",
        "data_source",
        "prompt",
        "ability",
        "reward_model",
        "question",
        "answer",
        "extra_info",
    ];
    assert_eq!(columns.iter().copied().collect::<BTreeSet<_>>(), expected.iter().copied().collect());
    assert_eq!(schema["prompt"], "list<element: struct<content: string, role: string>>");
    assert_eq!(schema["reward_model"], "struct<ground_truth: string>");
    assert_eq!(
        schema["extra_info"],
        "struct<split: string, index: int64, question: string, language: string, topic: string, region: string>"
    );
    assert_eq!(schema["language"], "int64");
    for (i, row) in out["rows"].as_array().unwrap().iter().enumerate() {
        assert_eq!(row["data_source"], "lrpo");
        assert_eq!(row["prompt"], json!([{"content": row["query"], "role": "user"}]));
        assert_eq!(row["question"], row["query"]);
        assert_eq!(row["answer"], row["chosen"]);
        assert_eq!(row["reward_model"]["ground_truth"], row["chosen"]);
        assert_eq!(row["ability"], row["extra_info"]["topic"]);
        assert_eq!(row["extra_info"]["split"], "test");
        assert_eq!(row["extra_info"]["index"], i);
        assert_eq!(row["extra_info"]["language"], row["language_str"]);
        assert_eq!(row["extra_info"]["region"], row["region"]);
        // The class label indexes the sorted set of language names.
        let lang = row["language_str"].as_str().unwrap();
        assert!(Lang::from_name(lang).is_some(), "{lang}");
    }
}

/// XQuAD: 7 fully parallel languages, 1,190 questions each, so every language gets exactly 119 test rows.
#[test]
fn xquad_prepares_into_exact_strata() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for (code, name) in [
        ("ar", "arabic"),
        ("de", "german"),
        ("en", "english"),
        ("es", "spanish"),
        ("ru", "russian"),
        ("vi", "vietnamese"),
        ("zh", "chinese"),
    ] {
        let path = lrpo_testkit::shared_data().join(format!("xquad/xquad.{code}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let squad: Value = serde_json::from_str(&text).unwrap();
        for article in squad["data"].as_array().unwrap() {
            for paragraph in article["paragraphs"].as_array().unwrap() {
                for qa in paragraph["qas"].as_array().unwrap() {
                    records.push(json!({"query": qa["question"], "chosen": qa["answers"][0]["text"],
                                        "topic": "General Knowledge", "language": name, "region": null}));
                }
            }
        }
    }
    assert_eq!(records.len(), 7 * 1190);
    let input = dir.path().join("xquad.json");
    std::fs::write(&input, serde_json::to_string(&records).unwrap()).unwrap();
    let summary = prepare(&input, &dir.path().join("out"), 42).unwrap();
    let per_language: BTreeMap<&str, (usize, usize)> =
        summary.per_language.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(per_language.len(), 7);
    assert!(per_language.values().all(|&counts| counts == (1071, 119)), "{summary}");

    // More rows than one row group: the reader streams across groups.
    let report = check(&summary.train_path).unwrap();
    assert_eq!(report.rows, 7 * 1071);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.languages.get("zh"), Some(&1071));
    assert!(report.question_chars.max > report.question_chars.median, "{report}");
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bad_input_records_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"query": "q", "chosen": "a", "topic": "General Knowledge", "language": "English", "region": null}"#;
    let cases = [
        (format!("{good}\n\n{{\"query\": \"q\"}}\n"), "line 3", "missing field `chosen`"),
        (format!("{good}\nnot json\n"), "line 2", "not JSON"),
        (format!("{good}\n[1, 2]\n"), "line 2", "expected a JSON object"),
        (format!("{}\n", good.replace("\"q\"", "\"  \"")), "line 1, field `query`", "is empty"),
        (format!("{}\n", good.replace("\"a\"", "3")), "line 1", "invalid type"),
    ];
    for (i, (text, at, expected)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.jsonl"), text);
        let (location, message) = input_error(prepare(&path, &dir.path().join("out"), 42));
        assert!(location.contains(&format!("bad{i}.jsonl")) && location.ends_with(at), "{location}");
        assert!(message.contains(expected), "{message}");
    }
    let array = write(dir.path(), "array.json", &format!("[{good}, {{\"query\": 1}}]"));
    let (location, _) = input_error(prepare(&array, &dir.path().join("out"), 42));
    assert!(location.ends_with("array.json: record 1"), "{location}");
    let object = write(dir.path(), "object.json", good);
    let (_, message) = input_error(prepare(&object, &dir.path().join("out"), 42));
    assert!(message.contains("expected a JSON array"), "{message}");
    let empty = write(dir.path(), "empty.jsonl", "\n");
    let (_, message) = input_error(prepare(&empty, &dir.path().join("out"), 42));
    assert_eq!(message, "has no records");
    // A missing input is the user's to fix (exit 2), so an input error, not an I/O failure.
    assert!(matches!(prepare(&dir.path().join("missing.jsonl"), dir.path(), 42), Err(Error::Input { .. })));
    assert!(!dir.path().join("out/train.parquet").exists(), "nothing is written for bad input");
}

#[test]
fn language_names_are_lower_cased_and_unknown_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..20 {
        let language = if i % 4 == 0 { "Klingon" } else { "FRENCH" };
        lines.push(
            json!({"query": format!("q{i}"), "chosen": "a", "topic": "Chat / Conversational",
                          "language": language, "region": "  "})
            .to_string(),
        );
    }
    let input = write(dir.path(), "mixed.jsonl", &lines.join("\n"));
    let records: Vec<Record> = read_records(&input).unwrap();
    assert!(records.iter().all(|r| r.language == "french" || r.language == "klingon"));
    assert!(records.iter().all(|r| r.region.is_none()));
    let summary = prepare(&input, &dir.path().join("out"), 42).unwrap();
    assert_eq!(summary.unknown_languages.get("klingon"), Some(&5));
    assert!(summary.to_string().contains("`klingon` (5 records)"), "{summary}");
    let report = check(&summary.train_path).unwrap();
    assert!(report.problems.iter().any(|p| p.contains("klingon")), "{report}");
}
