//! The evaluation items: the host's own data reader (LRPO parquet, verl parquet, JSON rows) with
//! its column map, plus `--question-col`-style flags for benchmark files whose columns have
//! other names (CARE (Pro) has `en_question`/`en_answer` beside `question`/`answer`), handed to
//! the reader as `ReadOptions::columns`; its errors then name the file's columns, and here the
//! flag that chose them too.

use super::prompt::hash;
use crate::data::{read_questions_with, Question, ReadOptions};
use lrpo_core::{Error, Lang, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Column flags (`None`: the reader's own choice).
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub question: Option<String>,
    pub answer: Option<String>,
    pub language: Option<String>,
    pub topic: Option<String>,
    pub region: Option<String>,
}

/// One question to answer and judge.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Stable across reruns: a hash of question, gold answer and language (plus `#k` for the
    /// k-th repeat of an identical row).
    pub key: String,
    /// `file, line N` / `file, row N`.
    pub row: String,
    pub question: String,
    pub gold: String,
    /// The question's language; `None` until the language ID has placed it (files without a
    /// language column).
    pub language: Option<Lang>,
    pub topic: Option<String>,
    pub region: Option<String>,
}

/// English names beyond the 15 LRPO languages that benchmark files use (CARE (Pro) has Hindi).
const MORE_LANGUAGES: [(&str, &str); 26] = [
    ("hindi", "hi"),
    ("bengali", "bn"),
    ("urdu", "ur"),
    ("tamil", "ta"),
    ("telugu", "te"),
    ("marathi", "mr"),
    ("thai", "th"),
    ("turkish", "tr"),
    ("persian", "fa"),
    ("farsi", "fa"),
    ("hebrew", "he"),
    ("greek", "el"),
    ("czech", "cs"),
    ("swedish", "sv"),
    ("danish", "da"),
    ("finnish", "fi"),
    ("norwegian", "no"),
    ("hungarian", "hu"),
    ("romanian", "ro"),
    ("ukrainian", "uk"),
    ("swahili", "sw"),
    ("malay", "ms"),
    ("tagalog", "tl"),
    ("filipino", "tl"),
    ("catalan", "ca"),
    ("cantonese", "yue"),
];

/// A language code or English name: the LRPO table, the names above, or any 2-3 letter code
/// (what language ID models emit). `None` for anything else.
pub fn parse_language(text: &str) -> Option<Lang> {
    let t = text.trim();
    if let Some(l) = Lang::from_name_or_code(t) {
        return Some(l);
    }
    if let Some((_, code)) = MORE_LANGUAGES.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)) {
        return Some(Lang::new(code));
    }
    let code = t.to_ascii_lowercase();
    (2..=3)
        .contains(&code.len())
        .then_some(())
        .filter(|()| code.bytes().all(|b| b.is_ascii_lowercase()))
        .map(|()| Lang::new(code))
}

/// How the judge is told the expected language: `Chinese (zh)`.
pub fn language_label(lang: &Lang) -> String {
    let name = lang.name().or_else(|| MORE_LANGUAGES.iter().find(|(_, c)| *c == lang.as_str()).map(|(n, _)| *n));
    match name {
        Some(n) => {
            let mut chars = n.chars();
            let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
            format!("{first}{} ({lang})", chars.as_str())
        }
        None => format!("the language with code `{lang}`"),
    }
}

/// The reader's column name for each renaming flag.
fn renames(columns: &Columns) -> Vec<(&'static str, String, &'static str)> {
    [
        ("question", &columns.question, "--question-col"),
        ("answer", &columns.answer, "--answer-col"),
        ("language", &columns.language, "--language-col"),
        ("ability", &columns.topic, "--topic-col"),
    ]
    .into_iter()
    .filter_map(|(canon, user, flag)| user.as_ref().filter(|u| u.as_str() != canon).map(|u| (canon, u.clone(), flag)))
    .collect()
}

/// Errors about a renamed column, told with the flag that named it.
fn with_flags(e: Error, renames: &[(&'static str, String, &'static str)]) -> Error {
    let fix = |mut s: String| {
        for (_, user, flag) in renames {
            s = s.replace(&format!("`{user}`"), &format!("`{user}` ({flag})"));
        }
        s
    };
    match e {
        Error::Input { location, message } => Error::Input { location: fix(location), message: fix(message) },
        other => other,
    }
}

fn extra_text(extra: &Value, key: &str) -> Option<String> {
    extra.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Reads the items of `path`. Every bad row is an input error naming the file, the row and the
/// column.
pub fn read_items(path: &Path, columns: &Columns, options: &ReadOptions) -> Result<Vec<Item>> {
    if !path.is_file() {
        return Err(Error::input(path.display().to_string(), "no such file (--data)"));
    }
    let renames = renames(columns);
    let mut options = options.clone();
    options.columns.extend(renames.iter().map(|(canon, user, _)| (canon.to_string(), user.clone())));
    let questions = read_questions_with(path, &options).map_err(|e| with_flags(e, &renames))?.questions;
    let mut seen: HashMap<String, usize> = HashMap::new();
    questions
        .into_iter()
        .map(|q| {
            let row = q.origin();
            item(q, row, columns, &mut seen)
        })
        .collect()
}

fn item(q: Question, row: String, columns: &Columns, seen: &mut HashMap<String, usize>) -> Result<Item> {
    let extra: Value = serde_json::from_str(&q.extra).unwrap_or(Value::Null);
    let language = if q.needs_language {
        None
    } else {
        let column = columns.language.as_deref().unwrap_or("language");
        Some(parse_language(&q.language_name).ok_or_else(|| {
            Error::input(
                format!("{row}, column `{column}`"),
                format!(
                    "`{}` is not a language code or a language name lrpo knows (use a code such as `hi`)",
                    q.language_name
                ),
            )
        })?)
    };
    // The reader takes the topic from `ability` only; JSON rows often call it `topic`.
    let topic = match &columns.topic {
        Some(_) => Some(q.topic.clone()),
        None if extra.get("ability").is_none() && extra_text(&extra, "topic").is_some() => extra_text(&extra, "topic"),
        None => Some(q.topic.clone()),
    };
    let region = match &columns.region {
        Some(col) => extra_text(&extra, col).or_else(|| q.region.clone()),
        None => q.region.clone().or_else(|| extra_text(&extra, "region")),
    };
    let base = hash(&format!("{}\0{}\0{}", q.question, q.answer, language.as_ref().map_or("", Lang::as_str)));
    let count = seen.entry(base.clone()).or_default();
    *count += 1;
    let key = if *count == 1 { base } else { format!("{base}#{count}") };
    Ok(Item { key, row, question: q.question, gold: q.answer, language, topic, region })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_codes_or_names() {
        assert_eq!(parse_language("Chinese"), Some(Lang::new("zh")));
        assert_eq!(parse_language("hindi"), Some(Lang::new("hi")));
        assert_eq!(parse_language("es"), Some(Lang::new("es")));
        assert_eq!(parse_language("th"), Some(Lang::new("th")));
        assert_eq!(parse_language("Klingonese"), None);
        assert_eq!(parse_language("e5"), None);
        assert_eq!(language_label(&Lang::new("zh")), "Chinese (zh)");
        assert_eq!(language_label(&Lang::new("hi")), "Hindi (hi)");
        assert_eq!(language_label(&Lang::new("xx")), "the language with code `xx`");
    }

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn care_style_rows_map_through_the_column_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "care.jsonl",
            "{\"question\":\"问?\",\"answer\":\"答\",\"en_question\":\"Q?\",\"en_answer\":\"A\",\"language\":\"Chinese\",\"region\":\"China\"}\n\
             {\"question\":\"प्र?\",\"answer\":\"उ\",\"en_question\":\"Q2?\",\"en_answer\":\"A2\",\"language\":\"Hindi\",\"region\":\"India\"}\n",
        );
        let plain = read_items(&file, &Columns::default(), &ReadOptions::default()).unwrap();
        assert_eq!(plain[0].question, "问?");
        assert_eq!(plain[1].language, Some(Lang::new("hi")));
        assert_eq!(plain[1].region.as_deref(), Some("India"));
        let cols =
            Columns { question: Some("en_question".into()), answer: Some("en_answer".into()), ..Columns::default() };
        let english = read_items(&file, &cols, &ReadOptions::default()).unwrap();
        assert_eq!((english[0].question.as_str(), english[0].gold.as_str()), ("Q?", "A"));
        // Rows keep the numbers the user's file gives them.
        assert_eq!(english[1].row, plain[1].row);
        assert!(english[1].row.ends_with("care.jsonl, line 2"), "{}", english[1].row);
        assert_ne!(plain[0].key, english[0].key);
    }

    #[test]
    fn bad_rows_name_the_users_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "bad.jsonl",
            "{\"q\":\"Q?\",\"answer\":\"A\",\"language\":\"de\"}\n{\"q\":\"\",\"answer\":\"A\",\"language\":\"de\"}\n",
        );
        let cols = Columns { question: Some("q".into()), ..Columns::default() };
        let err = read_items(&file, &cols, &ReadOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(err.is_usage());
        assert!(text.contains("bad.jsonl, line 2") && text.contains("`q` (--question-col)"), "{text}");

        let cols = Columns { question: Some("query".into()), ..Columns::default() };
        let err = read_items(&file, &cols, &ReadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("bad.jsonl, column `query` (--question-col): missing"), "{err}");

        let file = write(dir.path(), "lang.jsonl", "{\"question\":\"Q?\",\"answer\":\"A\",\"language\":\"elvish\"}\n");
        let err = read_items(&file, &Columns::default(), &ReadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("lang.jsonl, line 1, column `language`") && err.contains("elvish"), "{err}");
    }

    #[test]
    fn repeated_rows_get_their_own_keys() {
        let dir = tempfile::tempdir().unwrap();
        let row = "{\"question\":\"Q?\",\"answer\":\"A\",\"language\":\"de\"}\n";
        let file = write(dir.path(), "dup.jsonl", &row.repeat(2));
        let items = read_items(&file, &Columns::default(), &ReadOptions::default()).unwrap();
        assert_eq!(items[1].key, format!("{}#2", items[0].key));
    }
}
