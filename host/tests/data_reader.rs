//! The parquet reader against files pyarrow writes in the reference layout (spec §1.3).

mod data_support;

use data_support::write_reference_parquet;
use lrpo_core::{Error, Lang};
use lrpo_host::data::{check, read_questions, read_questions_with, QuestionReader, ReadOptions};
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
fn missing_columns_fall_back_as_documented_and_are_named_when_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    // Without `question` the last user message of `prompt` is the question; without `answer`,
    // `reward_model.ground_truth` the reference; without `ability`, data.default_topic.
    let path = write(dir.path(), "verlish.parquet", json!({"drop": ["question", "answer", "ability"]}));
    let set = read_questions(&path).unwrap();
    assert_eq!(set.questions[1].question, "中国的首都是哪里？");
    assert_eq!(set.questions[1].answer, "北京。");
    assert_eq!(set.questions[1].topic, "General Knowledge");
    let map = set.mapping.to_string();
    assert!(map.contains("question from the last user message of `prompt`"), "{map}");
    assert!(map.contains("answer from `reward_model.ground_truth`"), "{map}");
    assert!(map.contains("topic from data.default_topic (General Knowledge)"), "{map}");
    for (drop, column, names) in [
        (json!(["question", "prompt"]), "question", "`prompt`"),
        (json!(["answer", "reward_model"]), "answer", "`reward_model.ground_truth`"),
    ] {
        let path = write(dir.path(), &format!("no-{column}.parquet"), json!({"drop": drop}));
        let (location, message) = input_error(read_questions(&path));
        assert!(location.contains(path.to_str().unwrap()), "{location}");
        assert!(location.ends_with(&format!("column `{column}`")), "{location}");
        assert!(message.starts_with("missing") && message.contains(names), "{message}");
        // data check cannot read such a file either.
        input_error(check(&path));
    }
    // No language anywhere (the top-level `language` here is an integer label): detected later.
    let path = write(dir.path(), "no-language.parquet", json!({"drop_extra": ["language"]}));
    let set = read_questions(&path).unwrap();
    assert!(set.questions.iter().all(|q| q.needs_language), "{:?}", set.questions[0]);
    assert!(set.mapping.to_string().contains("language from detected"), "{}", set.mapping);
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
        ("prompt", json!([1, 2, 3, 4]), "column `prompt`", "expected string or list of struct"),
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
    // A missing input file is the user's to fix (exit 2), not a failure while running.
    let (location, message) = input_error(read_questions(&missing));
    assert!(location.contains("nope.parquet") && message.starts_with("cannot open"), "{location}: {message}");
    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"this is not parquet at all").unwrap();
    let (location, message) = input_error(read_questions(&garbage));
    assert!(location.contains("garbage.parquet"), "{location}");
    assert!(message.contains("not a readable parquet file"), "{message}");
}

/// A stock verl parquet as verl's gsm8k preprocessing writes it (no LRPO columns).
const GSM8K_VERL: &str = r##"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
out = sys.stdin.read().strip()
rows = [
    ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?", "72"),
    ("Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?", "10"),
]
msg = pa.struct([("role", pa.string()), ("content", pa.string())])
table = pa.table({
    "data_source": ["openai/gsm8k"] * 2,
    "prompt": pa.array([[{"role": "user", "content": q + " Let's think step by step and output the final answer after '####'."}] for q, _ in rows], pa.list_(msg)),
    "ability": ["math"] * 2,
    "reward_model": pa.array([{"style": "rule", "ground_truth": a} for _, a in rows]),
    "extra_info": pa.array([{"split": "train", "index": i, "answer": "...#### " + a, "question": q} for i, (q, a) in enumerate(rows)]),
})
pq.write_table(table, out)
"##;

#[test]
fn stock_verl_gsm8k_parquet_reads_with_a_default_language() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gsm8k.parquet");
    data_support::run_python(&["pyarrow"], GSM8K_VERL, path.to_str().unwrap());
    let options = lrpo_host::data::ReadOptions { default_language: Some(Lang::new("en")), ..Default::default() };
    let set = lrpo_host::data::read_questions_with(&path, &options).unwrap();
    let q = &set.questions[1];
    assert!(q.question.starts_with("Weng earns $12") && q.question.ends_with("after '####'."), "{}", q.question);
    assert_eq!((q.answer.as_str(), q.topic.as_str(), q.orig_lang.as_str(), q.index), ("10", "math", "en", 1));
    assert!(!q.needs_language);
    // Everything else reaches the reward: data_source, reward_model.style, extra_info.
    let extra: Value = serde_json::from_str(&q.extra).unwrap();
    assert_eq!(extra["data_source"], "openai/gsm8k");
    assert_eq!(extra["reward_model"]["style"], "rule");
    assert_eq!(extra["extra_info"]["answer"], "...#### 10");
    let map = set.mapping.to_string();
    assert!(map.contains("language from data.default_language (en)"), "{map}");
    // Without a default the language is left to the run's language ID.
    let set = read_questions(&path).unwrap();
    assert!(set.questions.iter().all(|q| q.needs_language));
}

#[test]
fn trl_style_json_rows_read_as_text_or_messages() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("trl.jsonl");
    std::fs::write(
        &jsonl,
        concat!(
            r#"{"prompt": "Wie heißt die Hauptstadt von Frankreich?", "solution": "Paris", "language": "de", "source": "x"}"#,
            "\n\n",
            r#"{"prompt": "¿Cuánto es 2+2?", "solution": "4", "language": "Spanish", "source": "y"}"#,
            "\n"
        ),
    )
    .unwrap();
    let set = read_questions(&jsonl).unwrap();
    assert_eq!(set.questions.len(), 2);
    assert_eq!(set.questions[0].question, "Wie heißt die Hauptstadt von Frankreich?");
    assert_eq!((set.questions[1].answer.as_str(), set.questions[1].orig_lang.as_str()), ("4", "es"));
    assert_eq!(serde_json::from_str::<Value>(&set.questions[1].extra).unwrap()["source"], "y");
    assert!(set
        .mapping
        .to_string()
        .contains("question from `prompt` (text); answer from `solution`; language from `language`"));

    let json = dir.path().join("chat.json");
    let rows = json!([
        {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Japan?"}],
         "ground_truth": "Tokyo", "ability": "General Knowledge"},
        {"prompt": [{"role": "assistant", "content": "Hi"}], "ground_truth": "x", "ability": "General Knowledge"},
    ]);
    std::fs::write(&json, rows.to_string()).unwrap();
    let mut reader = QuestionReader::open(&json).unwrap();
    assert_eq!(reader.next().unwrap().unwrap().question, "Capital of Japan?");
    let (location, message) = input_error(reader.next().unwrap());
    assert!(location.ends_with("chat.json, line 2, field `prompt`"), "{location}");
    assert_eq!(message, "has no user message");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt\": \"a\", \"solution\": \"b\"}\n{not json\n").unwrap();
    let (location, message) = input_error(read_questions(&bad));
    assert!(location.ends_with("bad.jsonl, line 2"), "{location}");
    assert!(message.starts_with("not JSON"), "{message}");
}

#[test]
fn columns_named_otherwise_are_read_under_their_own_names_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ReadOptions::default();
    options.columns.insert("question".into(), "query".into());
    options.columns.insert("answer".into(), "gold".into());
    // JSON lines with CARE-like names, beside a `question` column that is then not read.
    let path = dir.path().join("care.jsonl");
    std::fs::write(
        &path,
        "{\"query\": \"Wer?\", \"gold\": \"Goethe\", \"question\": \"ignored\", \"language\": \"de\"}\n\
         {\"query\": \"Wo?\", \"gold\": \" \", \"question\": \"ignored\", \"language\": \"de\"}\n",
    )
    .unwrap();
    let mut reader = QuestionReader::open_with(&path, &options).unwrap();
    let first = reader.next().unwrap().unwrap();
    assert_eq!((first.question.as_str(), first.answer.as_str()), ("Wer?", "Goethe"));
    assert!(reader.mapping().to_string().contains("question from `query`; answer from `gold`"), "{}", reader.mapping());
    // A bad row names the file's column, not the reader's.
    let (location, message) = input_error(reader.next().unwrap());
    assert!(location.ends_with("care.jsonl, line 2, field `gold`"), "{location}");
    assert_eq!(message, "is empty");
    // Parquet the same way: the reference layout with `question` read from `query`.
    let path = write(dir.path(), "ref.parquet", json!({}));
    let mut options = ReadOptions::default();
    options.columns.insert("question".into(), "query".into());
    let set = read_questions_with(&path, &options).unwrap();
    assert_eq!(set.questions.len(), 4);
    assert_eq!(set.questions[1].question, "中国的首都是哪里？");
    // A renamed column the file lacks is named with what the file has.
    options.columns.insert("answer".into(), "gold".into());
    let (location, message) = input_error(read_questions_with(&path, &options));
    assert!(location.ends_with("ref.parquet, column `gold`"), "{location}");
    assert!(message.starts_with("missing (named as the answer column); the file has: `query`"), "{message}");
}
