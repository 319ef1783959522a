//! Where each field of a question comes from in one file, decided once from its schema, so the
//! LRPO layout, stock verl parquet (gsm8k-style: `prompt` messages, `reward_model.ground_truth`,
//! `data_source`, `extra_info`) and TRL-style JSON rows (`prompt` as text or messages plus
//! columns) all read through one path. `data check` prints the mapping it used.

use super::columns::is_text;
use arrow::datatypes::{DataType, Schema};
use lrpo_core::{Error, Lang, Result};
use std::collections::BTreeMap;
use std::fmt;

/// What the reader falls back to when a file lacks a column (`data.default_language`,
/// `data.default_topic`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// The language of rows whose file has no language; `None`: detect it with the run's
    /// LanguageId component before training.
    pub default_language: Option<Lang>,
    /// The router topic of rows whose file has no `ability`.
    pub default_topic: String,
    /// Columns the file names otherwise: the reader's name (`question`, `answer`, `language`,
    /// `ability`) -> the file's (`query`). A column the file has under the reader's name is then
    /// not read.
    pub columns: BTreeMap<String, String>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { default_language: None, default_topic: "General Knowledge".into(), columns: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QuestionFrom {
    /// A string column (`question`).
    Column(&'static str),
    /// The content of the last `user` message of `prompt` (verl, TRL conversational).
    LastUserMessage,
    /// `prompt` as plain text (TRL standard).
    PromptText,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnswerFrom {
    Column(&'static str),
    /// `reward_model.ground_truth` (verl).
    GroundTruth,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LanguageFrom {
    /// `extra_info.language` (the LRPO layout).
    ExtraInfo,
    /// A top-level string `language` column.
    Column,
    Default(Lang),
    /// Detected from the question by the LanguageId component.
    Detect,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TopicFrom {
    Ability,
    Default(String),
}

/// The mapping of one file's columns to a question.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMap {
    pub(crate) question: QuestionFrom,
    pub(crate) answer: AnswerFrom,
    pub(crate) language: LanguageFrom,
    pub(crate) topic: TopicFrom,
    /// Whether `extra_info` is a struct (region and index come from it).
    pub(crate) extra_info: bool,
    /// Top-level columns passed to the reward as the row's extra fields.
    pub(crate) extras: Vec<String>,
    /// `ReadOptions::columns`, to name the file's own columns when shown.
    pub(crate) renamed: BTreeMap<String, String>,
}

impl fmt::Display for ColumnMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |c: &str| self.renamed.get(c).cloned().unwrap_or_else(|| c.to_string());
        let question = match &self.question {
            QuestionFrom::Column(c) => format!("`{}`", name(c)),
            QuestionFrom::LastUserMessage => "the last user message of `prompt`".into(),
            QuestionFrom::PromptText => "`prompt` (text)".into(),
        };
        let answer = match &self.answer {
            AnswerFrom::Column(c) => format!("`{}`", name(c)),
            AnswerFrom::GroundTruth => "`reward_model.ground_truth`".into(),
        };
        let language = match &self.language {
            LanguageFrom::ExtraInfo => "`extra_info.language`".into(),
            LanguageFrom::Column => format!("`{}`", name("language")),
            LanguageFrom::Default(l) => format!("data.default_language ({l})"),
            LanguageFrom::Detect => "detected from the question by the run's language ID".into(),
        };
        let topic = match &self.topic {
            TopicFrom::Ability => format!("`{}`", name("ability")),
            TopicFrom::Default(t) => format!("data.default_topic ({t})"),
        };
        let extras = if self.extras.is_empty() { "none".into() } else { self.extras.join(", ") };
        write!(
            f,
            "question from {question}; answer from {answer}; language from {language}; topic from {topic}; \
             passed to the reward: {extras}"
        )
    }
}

/// `prompt` as verl writes it: a list of `{role, content}` structs.
fn is_messages(ty: &DataType) -> bool {
    match ty {
        DataType::List(item) | DataType::LargeList(item) => match item.data_type() {
            DataType::Struct(fields) => {
                ["role", "content"].iter().all(|n| fields.iter().any(|f| f.name() == n && is_text(f.data_type(), true)))
            }
            _ => false,
        },
        _ => false,
    }
}

impl ColumnMap {
    /// Decides the mapping from `schema`; `location` names the file in errors. A column that is
    /// present must have the right type even when another would do.
    pub fn from_schema(location: &str, schema: &Schema, options: &ReadOptions) -> Result<ColumnMap> {
        let at = |column: &str| format!("{location}, column `{}`", super::rename::shown(options, column));
        let field = |name: &str| schema.field_with_name(name).ok().map(|f| f.data_type());
        let wrong = |name: &str, expected: &str, found: &DataType| {
            Error::input(at(name), format!("has type {found}, expected {expected}"))
        };
        let text_column = |name: &str| -> Result<bool> {
            match field(name) {
                Some(ty) if is_text(ty, false) => Ok(true),
                Some(ty) => Err(wrong(name, "string", ty)),
                None => Ok(false),
            }
        };

        let question =
            if text_column("question")? {
                QuestionFrom::Column("question")
            } else {
                match field("prompt") {
                    Some(ty) if is_messages(ty) => QuestionFrom::LastUserMessage,
                    Some(ty) if is_text(ty, false) => QuestionFrom::PromptText,
                    Some(ty) => return Err(wrong("prompt", "string or list of struct {role, content}", ty)),
                    None => return Err(Error::input(
                        at("question"),
                        "missing, and no `prompt` (text or chat messages) to take the question from (see docs/data.md)",
                    )),
                }
            };
        if let Some(ty) = field("prompt").filter(|ty| !is_messages(ty) && !is_text(ty, false)) {
            return Err(wrong("prompt", "string or list of struct {role, content}", ty));
        }
        let ground_truth = match field("reward_model") {
            Some(DataType::Struct(fields)) => match fields.iter().find(|f| f.name() == "ground_truth") {
                Some(f) if is_text(f.data_type(), true) => true,
                Some(f) => return Err(wrong("reward_model.ground_truth", "string", f.data_type())),
                None => false,
            },
            Some(ty) => return Err(wrong("reward_model", "struct with a string ground_truth", ty)),
            None => false,
        };
        let answer = if text_column("answer")? {
            AnswerFrom::Column("answer")
        } else if ground_truth {
            AnswerFrom::GroundTruth
        } else if text_column("ground_truth")? {
            AnswerFrom::Column("ground_truth")
        } else if text_column("solution")? {
            AnswerFrom::Column("solution")
        } else {
            return Err(Error::input(
                at("answer"),
                "missing, and no `reward_model.ground_truth`, `ground_truth` or `solution` to take the reference from (see docs/data.md)",
            ));
        };

        let extra_info = match field("extra_info") {
            Some(DataType::Struct(children)) => {
                let child = |name: &str| children.iter().find(|f| f.name() == name).map(|f| f.data_type());
                for name in ["language", "region", "split", "topic", "question"] {
                    if let Some(ty) = child(name).filter(|ty| !is_text(ty, true)) {
                        return Err(wrong(&format!("extra_info.{name}"), "string", ty));
                    }
                }
                if let Some(ty) = child("index").filter(|ty| !super::columns::is_integer(ty)) {
                    return Err(wrong("extra_info.index", "integer", ty));
                }
                Some(child("language").is_some())
            }
            Some(ty) => return Err(wrong("extra_info", "struct", ty)),
            None => None,
        };
        let language = if extra_info == Some(true) {
            LanguageFrom::ExtraInfo
        } else if field("language").is_some_and(|ty| is_text(ty, false)) {
            LanguageFrom::Column
        } else {
            match &options.default_language {
                Some(lang) => LanguageFrom::Default(lang.clone()),
                None => LanguageFrom::Detect,
            }
        };
        let topic = if text_column("ability")? {
            TopicFrom::Ability
        } else {
            TopicFrom::Default(options.default_topic.clone())
        };

        let used: Vec<&str> = [
            match question {
                QuestionFrom::Column(c) => Some(c),
                _ => None,
            },
            match answer {
                AnswerFrom::Column(c) => Some(c),
                AnswerFrom::GroundTruth => None,
            },
            // The LRPO layout's `prompt` repeats its `question`; the question's text is sent anyway.
            Some("prompt"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let extras = schema.fields().iter().map(|f| f.name().clone()).filter(|n| !used.contains(&n.as_str())).collect();
        let renamed = options.columns.clone();
        Ok(ColumnMap { question, answer, language, topic, extra_info: extra_info.is_some(), extras, renamed })
    }

    /// Whether the rows' languages must be detected before training.
    pub fn detects_language(&self) -> bool {
        self.language == LanguageFrom::Detect
    }
}
