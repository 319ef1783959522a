//! Streaming reader for the verl/LRPO parquet layout (spec §1.3).
//!
//! Only the columns the host needs are decoded, one record batch at a time, so a large file is
//! never held whole in memory. The schema is checked up front; problems in a row come back as
//! that row's error, so `data check` can list them all while training stops at the first.

use super::columns::{integer_at, is_integer, is_text, Text};
use super::question::{fixed_language, language_code, Question};
use arrow::array::{Array, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Schema};
use lrpo_core::{Error, Lang, Result};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows decoded per record batch.
const BATCH_ROWS: usize = 1024;

/// Top-level columns the reader decodes, in projection order.
const READ_COLUMNS: [&str; 4] = ["question", "answer", "ability", "extra_info"];

/// Name under which rows without any language are counted.
pub(crate) const MISSING_LANGUAGE: &str = "<missing>";

/// The questions of one parquet file.
#[derive(Debug, Clone)]
pub struct QuestionSet {
    pub path: PathBuf,
    pub questions: Vec<Question>,
    /// `extra_info.language` values that are not LRPO language names or codes, with their row
    /// counts; those rows were read as English.
    pub unknown_languages: BTreeMap<String, usize>,
}

/// Reads every question of `path`, stopping at the first bad row. Unknown language names are
/// read as `en` and reported with a warning per name and count.
pub fn read_questions(path: &Path) -> Result<QuestionSet> {
    let mut reader = QuestionReader::open(path)?;
    let mut questions = Vec::with_capacity(reader.total_rows());
    for question in &mut reader {
        questions.push(question?);
    }
    for (name, count) in &reader.unknown_languages {
        tracing::warn!(
            file = %path.display(),
            "extra_info.language `{name}` is not an LRPO language: {count} row(s) read as English (en)"
        );
    }
    Ok(QuestionSet { path: path.to_path_buf(), questions, unknown_languages: reader.unknown_languages })
}

/// Iterates over the questions of a parquet file. Each item is one row: an `Error::Input` item
/// is a bad row and the next call goes on with the following row; any other error ends it.
pub struct QuestionReader {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    batch: Option<DecodedBatch>,
    next_in_batch: usize,
    next_row: usize,
    total_rows: usize,
    finished: bool,
    unknown_languages: BTreeMap<String, usize>,
}

/// The columns of one record batch, downcast once.
struct DecodedBatch {
    question: Text,
    answer: Text,
    ability: Text,
    extra_info: StructArray,
    language: Text,
    region: Option<Text>,
    index: Option<arrow::array::ArrayRef>,
    len: usize,
}

impl QuestionReader {
    /// Opens `path` and checks its schema: `question`, `answer`, `ability` strings and an
    /// `extra_info` struct with a string `language` are required; `extra_info.{region, index,
    /// split, topic, question}`, `prompt` and `reward_model` are checked when present; any other
    /// column is passed over.
    pub fn open(path: &Path) -> Result<QuestionReader> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| Error::input(path.display().to_string(), format!("not a readable parquet file: {e}")))?;
        check_schema(path, builder.schema())?;
        let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let roots: Vec<usize> = READ_COLUMNS.iter().filter_map(|name| builder.schema().index_of(name).ok()).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let batches = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| Error::input(path.display().to_string(), format!("cannot read parquet: {e}")))?;
        Ok(QuestionReader {
            path: path.to_path_buf(),
            batches,
            batch: None,
            next_in_batch: 0,
            next_row: 0,
            total_rows,
            finished: false,
            unknown_languages: BTreeMap::new(),
        })
    }

    /// Row count from the file footer.
    pub fn total_rows(&self) -> usize {
        self.total_rows
    }

    /// Unknown `extra_info.language` values seen so far, with row counts.
    pub fn unknown_languages(&self) -> &BTreeMap<String, usize> {
        &self.unknown_languages
    }

    fn at(&self, column: &str, row: usize) -> String {
        format!("{}, column `{column}`, row {row}", self.path.display())
    }

    fn decode(&self, batch: RecordBatch) -> Result<DecodedBatch> {
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| {
                Error::input(format!("{}, column `{name}`", self.path.display()), "missing in a row group")
            })
        };
        let text = |name: &str, array: &arrow::array::ArrayRef| {
            Text::new(array).ok_or_else(|| {
                Error::input(format!("{}, column `{name}`", self.path.display()), "changed type between row groups")
            })
        };
        let extra_info =
            column("extra_info")?.as_any().downcast_ref::<StructArray>().cloned().ok_or_else(|| {
                Error::input(format!("{}, column `extra_info`", self.path.display()), "is not a struct")
            })?;
        let child = |name: &str| extra_info.column_by_name(name).cloned();
        let language = child("language").ok_or_else(|| {
            Error::input(format!("{}, column `extra_info.language`", self.path.display()), "missing in a row group")
        })?;
        Ok(DecodedBatch {
            question: text("question", &column("question")?)?,
            answer: text("answer", &column("answer")?)?,
            ability: text("ability", &column("ability")?)?,
            language: text("extra_info.language", &language)?,
            region: child("region").map(|r| text("extra_info.region", &r)).transpose()?,
            index: child("index"),
            len: batch.num_rows(),
            extra_info,
        })
    }

    fn question_at(&mut self, i: usize, row: usize) -> Result<Question> {
        let batch = self.batch.as_ref().expect("a decoded batch");
        let non_empty = |text: &Text, column: &str| match text.get(i) {
            Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
            Some(_) => Err(Error::input(self.at(column, row), "is empty")),
            None => Err(Error::input(self.at(column, row), "is null")),
        };
        let question = non_empty(&batch.question, "question")?;
        let answer = non_empty(&batch.answer, "answer")?;
        let topic = non_empty(&batch.ability, "ability")?;
        let info_present = batch.extra_info.is_valid(i);
        let language_name = info_present.then(|| batch.language.get(i)).flatten().map(str::to_string);
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
        let orig_lang = match language_name.as_deref().and_then(language_code) {
            Some(lang) => lang,
            None => {
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
            orig_lang,
            fixed_lang,
            language_name: language_name.unwrap_or_default(),
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

fn check_schema(path: &Path, schema: &Schema) -> Result<()> {
    let at = |column: &str| format!("{}, column `{column}`", path.display());
    let field = |name: &str| schema.field_with_name(name).ok().map(|f| f.data_type());
    let missing = |name: &str| {
        Error::input(
            at(name),
            "missing: the verl/LRPO layout needs question, answer, ability and extra_info.language (see docs/data.md)",
        )
    };
    let wrong = |name: &str, expected: &str, found: &DataType| {
        Error::input(at(name), format!("has type {found}, expected {expected}"))
    };
    for name in ["question", "answer", "ability"] {
        let ty = field(name).ok_or_else(|| missing(name))?;
        if !is_text(ty, false) {
            return Err(wrong(name, "string", ty));
        }
    }
    let info = field("extra_info").ok_or_else(|| missing("extra_info"))?;
    let DataType::Struct(children) = info else {
        return Err(wrong("extra_info", "struct", info));
    };
    let child = |name: &str| children.iter().find(|f| f.name() == name).map(|f| f.data_type());
    let language = child("language").ok_or_else(|| missing("extra_info.language"))?;
    if !is_text(language, true) {
        return Err(wrong("extra_info.language", "string", language));
    }
    for name in ["region", "split", "topic", "question"] {
        if let Some(ty) = child(name).filter(|ty| !is_text(ty, true)) {
            return Err(wrong(&format!("extra_info.{name}"), "string", ty));
        }
    }
    if let Some(ty) = child("index").filter(|ty| !is_integer(ty)) {
        return Err(wrong("extra_info.index", "integer", ty));
    }
    if let Some(ty) = field("prompt") {
        let messages_ok = match ty {
            DataType::List(item) | DataType::LargeList(item) => match item.data_type() {
                DataType::Struct(fields) => ["role", "content"]
                    .iter()
                    .all(|n| fields.iter().any(|f| f.name() == n && is_text(f.data_type(), true))),
                _ => false,
            },
            _ => false,
        };
        if !messages_ok {
            return Err(wrong("prompt", "list of struct {role: string, content: string}", ty));
        }
    }
    if let Some(ty) = field("reward_model") {
        let ok = matches!(ty, DataType::Struct(fields)
            if fields.iter().any(|f| f.name() == "ground_truth" && is_text(f.data_type(), true)));
        if !ok {
            return Err(wrong("reward_model", "struct with a string ground_truth", ty));
        }
    }
    Ok(())
}
