//! Streaming reader for training data: the verl/LRPO parquet layout (spec §1.3), stock verl
//! parquet, and JSON rows as TRL datasets are written ([`ColumnMap`] says which column feeds
//! which field).
//!
//! Parquet is decoded one record batch at a time, so a large file is never held whole in
//! memory. The schema is checked up front; problems in a row come back as that row's error, so
//! `data check` can list them all while training stops at the first.

use super::columns::{integer_at, Text};
use super::mapping::{AnswerFrom, ColumnMap, LanguageFrom, QuestionFrom, ReadOptions, TopicFrom};
use super::question::{fixed_language, language_code, Question, RowOrigin};
use super::rename::Renaming;
use arrow::array::{Array, ArrayRef, AsArray, ListArray, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Schema};
use lrpo_core::{Error, Lang, Result};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows decoded per record batch.
const BATCH_ROWS: usize = 1024;

/// Name under which rows without any language are counted.
pub(crate) const MISSING_LANGUAGE: &str = "<missing>";

/// The questions of one data file.
#[derive(Debug, Clone)]
pub struct QuestionSet {
    pub path: PathBuf,
    pub questions: Vec<Question>,
    /// Language names that are not LRPO language names or codes, with their row counts; those
    /// rows were read as English.
    pub unknown_languages: BTreeMap<String, usize>,
    /// How the file's columns became questions.
    pub mapping: ColumnMap,
}

/// Reads every question of `path` with the default [`ReadOptions`].
pub fn read_questions(path: &Path) -> Result<QuestionSet> {
    read_questions_with(path, &ReadOptions::default())
}

/// Reads every question of `path` (parquet, JSON lines or a JSON array), stopping at the first
/// bad row. Unknown language names are read as `en` and reported with a warning per name.
pub fn read_questions_with(path: &Path, options: &ReadOptions) -> Result<QuestionSet> {
    let mut reader = QuestionReader::open_with(path, options)?;
    let mut questions = Vec::with_capacity(reader.total_rows());
    for question in &mut reader {
        questions.push(question?);
    }
    for (name, count) in &reader.unknown_languages {
        tracing::warn!(
            file = %path.display(),
            "language `{name}` is not an LRPO language: {count} row(s) read as English (en)"
        );
    }
    Ok(QuestionSet {
        path: path.to_path_buf(),
        questions,
        unknown_languages: reader.unknown_languages,
        mapping: reader.mapping,
    })
}

enum Batches {
    Parquet(ParquetRecordBatchReader),
    /// JSON rows are read whole (they are small enough to be written by hand or by TRL).
    Json(std::vec::IntoIter<RecordBatch>),
}

impl Iterator for Batches {
    type Item = std::result::Result<RecordBatch, arrow::error::ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Batches::Parquet(r) => r.next(),
            Batches::Json(r) => r.next().map(Ok),
        }
    }
}

/// Iterates over the questions of a data file. Each item is one row: an `Error::Input` item is
/// a bad row and the next call goes on with the following row; any other error ends it.
pub struct QuestionReader {
    path: PathBuf,
    /// JSON rows are counted as lines (from 1), parquet rows from 0, as each format's tools do.
    json: bool,
    mapping: ColumnMap,
    batches: Batches,
    batch: Option<DecodedBatch>,
    next_in_batch: usize,
    next_row: usize,
    total_rows: usize,
    finished: bool,
    unknown_languages: BTreeMap<String, usize>,
    /// The file's columns under the reader's names, when the options rename some.
    renaming: Option<Renaming>,
    /// Reader's name -> the file's, for errors.
    renamed: BTreeMap<String, String>,
}

enum QuestionColumn {
    Text(Text),
    Messages(ListArray),
}

/// The columns of one record batch, downcast once.
struct DecodedBatch {
    question: QuestionColumn,
    answer: Text,
    ability: Option<Text>,
    extra_info: Option<StructArray>,
    language: Option<Text>,
    region: Option<Text>,
    index: Option<ArrayRef>,
    /// Each row's pass-through columns as one JSON object.
    extras: Vec<String>,
    len: usize,
}

fn is_json(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "json" | "ndjson"))
}

/// JSON lines, or one JSON array of objects, as Arrow batches with an inferred schema.
fn json_batches(path: &Path) -> Result<(Arc<Schema>, Vec<RecordBatch>, usize)> {
    let location = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(&location, format!("cannot read: {e}")))?;
    let rows: Vec<serde_json::Value> = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text).map_err(|e| Error::input(&location, format!("not a JSON array: {e}")))?
    } else {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let value = serde_json::from_str(line)
                .map_err(|e| Error::input(format!("{location}, line {}", i + 1), format!("not JSON: {e}")))?;
            rows.push(value);
        }
        rows
    };
    if rows.is_empty() {
        // Without rows there is no layout to map, and "column missing" would mislead.
        return Err(Error::input(&location, "holds no rows (the file is empty)"));
    }
    if let Some(i) = rows.iter().position(|r| !r.is_object()) {
        return Err(Error::input(format!("{location}, row {}", i + 1), "is not a JSON object"));
    }
    let schema = arrow::json::reader::infer_json_schema_from_iterator(rows.iter().map(Ok))
        .map_err(|e| Error::input(&location, format!("rows do not share one layout: {e}")))?;
    let schema = Arc::new(schema);
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build_decoder()
        .map_err(|e| Error::input(&location, e.to_string()))?;
    let mut batches = Vec::new();
    for chunk in rows.chunks(BATCH_ROWS) {
        decoder.serialize(chunk).map_err(|e| Error::input(&location, format!("cannot read the rows: {e}")))?;
        if let Some(batch) = decoder.flush().map_err(|e| Error::input(&location, e.to_string()))? {
            batches.push(batch);
        }
    }
    Ok((schema, batches, rows.len()))
}

/// Each row of `batch` as a JSON object (nulls left out).
fn rows_as_json(batch: &RecordBatch) -> Result<Vec<String>> {
    if batch.num_columns() == 0 {
        return Ok(vec!["{}".to_string(); batch.num_rows()]);
    }
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(batch).map_err(|e| Error::runtime(format!("extra columns to JSON: {e}")))?;
    writer.finish().map_err(|e| Error::runtime(e.to_string()))?;
    let text = String::from_utf8(writer.into_inner()).map_err(|e| Error::runtime(e.to_string()))?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.resize(batch.num_rows(), "{}".to_string());
    Ok(lines)
}

impl QuestionReader {
    /// Opens `path` with the default [`ReadOptions`].
    pub fn open(path: &Path) -> Result<QuestionReader> {
        QuestionReader::open_with(path, &ReadOptions::default())
    }

    /// Opens `path` and decides from its schema where each field comes from ([`ColumnMap`]):
    /// a parquet file (the LRPO layout or stock verl), or JSON lines / a JSON array (`.jsonl`,
    /// `.json`) with the same column names, as TRL datasets are written.
    pub fn open_with(path: &Path, options: &ReadOptions) -> Result<QuestionReader> {
        let location = path.display().to_string();
        let map = |schema: &Schema| -> Result<(ColumnMap, Option<Renaming>)> {
            let renaming = Renaming::new(&location, schema, options)?;
            let seen = renaming.as_ref().map_or(schema, Renaming::schema);
            Ok((ColumnMap::from_schema(&location, seen, options)?, renaming))
        };
        let ((mapping, renaming), batches, total_rows) = if is_json(path) {
            let (schema, batches, rows) = json_batches(path)?;
            (map(&schema)?, Batches::Json(batches.into_iter()), rows)
        } else {
            let file = std::fs::File::open(path).map_err(|e| Error::input(&location, format!("cannot open: {e}")))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| Error::input(&location, format!("not a readable parquet file: {e}")))?;
            let mapping = map(builder.schema())?;
            let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
            let batches = builder
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| Error::input(&location, format!("cannot read parquet: {e}")))?;
            (mapping, Batches::Parquet(batches), total_rows)
        };
        Ok(QuestionReader {
            path: path.to_path_buf(),
            json: is_json(path),
            mapping,
            batches,
            batch: None,
            next_in_batch: 0,
            next_row: 0,
            total_rows,
            finished: false,
            unknown_languages: BTreeMap::new(),
            renaming,
            renamed: options.columns.clone(),
        })
    }

    /// Row count (from the parquet footer, or the JSON rows).
    pub fn total_rows(&self) -> usize {
        self.total_rows
    }

    /// How the file's columns become questions.
    pub fn mapping(&self) -> &ColumnMap {
        &self.mapping
    }

    /// Unknown language values seen so far, with row counts.
    pub fn unknown_languages(&self) -> &BTreeMap<String, usize> {
        &self.unknown_languages
    }

    fn origin(&self, row: usize) -> String {
        if self.json {
            format!("{}, line {}", self.path.display(), row + 1)
        } else {
            format!("{}, row {row}", self.path.display())
        }
    }

    fn at(&self, column: &str, row: usize) -> String {
        let column = self.renamed.get(column).map_or(column, String::as_str);
        if self.json {
            format!("{}, line {}, field `{column}`", self.path.display(), row + 1)
        } else {
            format!("{}, column `{column}`, row {row}", self.path.display())
        }
    }

    fn decode(&self, batch: RecordBatch) -> Result<DecodedBatch> {
        let batch = match &self.renaming {
            Some(r) => r.apply(&batch).map_err(|e| Error::input(self.path.display().to_string(), e.to_string()))?,
            None => batch,
        };
        let location = |name: &str| {
            format!("{}, column `{}`", self.path.display(), self.renamed.get(name).map_or(name, String::as_str))
        };
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| Error::input(location(name), "missing in a row group"))
        };
        let text = |name: &str, array: &ArrayRef| {
            Text::new(array).ok_or_else(|| Error::input(location(name), "changed type between row groups"))
        };
        let m = &self.mapping;
        let extra_info = if m.extra_info {
            Some(
                column("extra_info")?
                    .as_any()
                    .downcast_ref::<StructArray>()
                    .cloned()
                    .ok_or_else(|| Error::input(location("extra_info"), "is not a struct"))?,
            )
        } else {
            None
        };
        let child = |name: &str| extra_info.as_ref().and_then(|e| e.column_by_name(name).cloned());
        let question = match &m.question {
            QuestionFrom::Column(name) => QuestionColumn::Text(text(name, &column(name)?)?),
            QuestionFrom::PromptText => QuestionColumn::Text(text("prompt", &column("prompt")?)?),
            QuestionFrom::LastUserMessage => {
                let prompt = column("prompt")?;
                let list = match prompt.data_type() {
                    DataType::List(_) => prompt.as_list::<i32>().clone(),
                    _ => arrow::compute::cast(
                        &prompt,
                        &DataType::List(Arc::new(arrow::datatypes::Field::new(
                            "item",
                            prompt.as_list::<i64>().value_type(),
                            true,
                        ))),
                    )
                    .map_err(|e| Error::input(location("prompt"), e.to_string()))?
                    .as_list::<i32>()
                    .clone(),
                };
                QuestionColumn::Messages(list)
            }
        };
        let answer = match &m.answer {
            AnswerFrom::Column(name) => text(name, &column(name)?)?,
            AnswerFrom::GroundTruth => {
                let rm = column("reward_model")?;
                let rm = rm
                    .as_any()
                    .downcast_ref::<StructArray>()
                    .ok_or_else(|| Error::input(location("reward_model"), "is not a struct"))?;
                let gt = rm
                    .column_by_name("ground_truth")
                    .ok_or_else(|| Error::input(location("reward_model.ground_truth"), "missing in a row group"))?;
                text("reward_model.ground_truth", gt)?
            }
        };
        let language = match &m.language {
            LanguageFrom::ExtraInfo => Some(text(
                "extra_info.language",
                &child("language")
                    .ok_or_else(|| Error::input(location("extra_info.language"), "missing in a row group"))?,
            )?),
            LanguageFrom::Column => Some(text("language", &column("language")?)?),
            LanguageFrom::Default(_) | LanguageFrom::Detect => None,
        };
        let ability = match &m.topic {
            TopicFrom::Ability => Some(text("ability", &column("ability")?)?),
            TopicFrom::Default(_) => None,
        };
        let extras_batch = batch
            .project(&m.extras.iter().filter_map(|n| batch.schema().index_of(n).ok()).collect::<Vec<_>>())
            .map_err(|e| Error::runtime(format!("extra columns: {e}")))?;
        Ok(DecodedBatch {
            question,
            answer,
            ability,
            language,
            region: child("region").map(|r| text("extra_info.region", &r)).transpose()?,
            index: child("index"),
            extras: rows_as_json(&extras_batch)?,
            len: batch.num_rows(),
            extra_info,
        })
    }

    /// The last `user` message's content of row `i`'s chat messages.
    fn last_user_message(list: &ListArray, i: usize) -> Option<String> {
        if list.is_null(i) {
            return None;
        }
        let messages = list.value(i);
        let messages = messages.as_any().downcast_ref::<StructArray>()?;
        let roles = Text::new(messages.column_by_name("role")?)?;
        let contents = Text::new(messages.column_by_name("content")?)?;
        (0..messages.len())
            .rev()
            .find(|&k| roles.get(k) == Some("user"))
            .and_then(|k| contents.get(k))
            .map(str::to_string)
    }

    fn question_at(&mut self, i: usize, row: usize) -> Result<Question> {
        let batch = self.batch.as_ref().expect("a decoded batch");
        let non_empty = |value: Option<String>, column: &str| match value {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(Error::input(self.at(column, row), "is empty")),
            None => Err(Error::input(self.at(column, row), "is null")),
        };
        let question = match &batch.question {
            QuestionColumn::Text(t) => {
                let name = match self.mapping.question {
                    QuestionFrom::Column(c) => c,
                    _ => "prompt",
                };
                non_empty(t.get(i).map(str::to_string), name)?
            }
            QuestionColumn::Messages(list) => match Self::last_user_message(list, i) {
                Some(q) => non_empty(Some(q), "prompt")?,
                None => return Err(Error::input(self.at("prompt", row), "has no user message")),
            },
        };
        let answer_column = match self.mapping.answer {
            AnswerFrom::Column(c) => c,
            AnswerFrom::GroundTruth => "reward_model.ground_truth",
        };
        let answer = non_empty(batch.answer.get(i).map(str::to_string), answer_column)?;
        let topic = match (&batch.ability, &self.mapping.topic) {
            (Some(a), _) => non_empty(a.get(i).map(str::to_string), "ability")?,
            (None, TopicFrom::Default(t)) => t.clone(),
            (None, TopicFrom::Ability) => unreachable!("decoded with the mapping"),
        };
        let info_present = batch.extra_info.as_ref().is_some_and(|e| e.is_valid(i));
        let language_name = match (&batch.language, &self.mapping.language) {
            (Some(l), LanguageFrom::ExtraInfo) => info_present.then(|| l.get(i)).flatten().map(str::to_string),
            (Some(l), _) => l.get(i).map(str::to_string),
            (None, _) => None,
        };
        let region = batch
            .region
            .as_ref()
            .filter(|_| info_present)
            .and_then(|r| r.get(i))
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let index = match batch.index.as_ref().filter(|_| info_present) {
            Some(index) => match integer_at(index, i) {
                Some(v) if v < 0 => {
                    return Err(Error::input(self.at("extra_info.index", row), format!("is negative ({v})")))
                }
                Some(v) => v as u64,
                None => row as u64,
            },
            None => row as u64,
        };
        let mut needs_language = false;
        let orig_lang = match (&self.mapping.language, language_name.as_deref().and_then(language_code)) {
            (LanguageFrom::Default(lang), _) => lang.clone(),
            (LanguageFrom::Detect, _) => {
                needs_language = true;
                Lang::new("en")
            }
            (_, Some(lang)) => lang,
            (_, None) => {
                let key = language_name.clone().unwrap_or_else(|| MISSING_LANGUAGE.to_string());
                *self.unknown_languages.entry(key).or_default() += 1;
                Lang::new("en")
            }
        };
        let fixed_lang = fixed_language(&topic, &orig_lang);
        Ok(Question {
            index,
            question,
            answer,
            topic,
            region,
            language_name: language_name.unwrap_or_else(|| orig_lang.to_string()),
            orig_lang,
            fixed_lang,
            needs_language,
            extra: batch.extras[i].clone(),
            origin: RowOrigin(Some(self.origin(row).into())),
        })
    }
}

impl Iterator for QuestionReader {
    type Item = Result<Question>;

    fn next(&mut self) -> Option<Result<Question>> {
        if self.finished {
            return None;
        }
        while !matches!(&self.batch, Some(b) if self.next_in_batch < b.len) {
            match self.batches.next() {
                None => {
                    self.finished = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.finished = true;
                    let at = format!("{}, near row {}", self.path.display(), self.next_row);
                    return Some(Err(Error::io(at, format!("cannot decode parquet data: {e}"))));
                }
                Some(Ok(batch)) => match self.decode(batch) {
                    Ok(decoded) => {
                        self.batch = Some(decoded);
                        self.next_in_batch = 0;
                    }
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                },
            }
        }
        let (i, row) = (self.next_in_batch, self.next_row);
        self.next_in_batch += 1;
        self.next_row += 1;
        Some(self.question_at(i, row))
    }
}
