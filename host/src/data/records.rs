//! The input records of `data prepare` (spec §1.1): a JSON array or JSON lines.

use lrpo_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::Path;

/// One input record. Unknown fields (an `id`, say) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The question.
    pub query: String,
    /// The reference answer, in the question's language.
    pub chosen: String,
    pub topic: String,
    /// English language name; `read_records` lower-cases it, as the reference's lookup needs.
    pub language: String,
    #[serde(default)]
    pub region: Option<String>,
}

impl Record {
    fn validate(mut self, location: &str) -> Result<Record> {
        for (field, value) in
            [("query", &self.query), ("chosen", &self.chosen), ("topic", &self.topic), ("language", &self.language)]
        {
            if value.trim().is_empty() {
                return Err(Error::input(format!("{location}, field `{field}`"), "is empty"));
            }
        }
        self.language = self.language.trim().to_lowercase();
        if self.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
            self.region = None;
        }
        Ok(self)
    }
}

fn parse_record(value: serde_json::Value, location: &str) -> Result<Record> {
    if !value.is_object() {
        return Err(Error::input(location, "expected a JSON object with query, chosen, topic, language, region"));
    }
    let record: Record = serde_json::from_value(value).map_err(|e| Error::input(location, e.to_string()))?;
    record.validate(location)
}

/// Reads records from `path`: a `.jsonl` file holds one object per line (blank lines skipped),
/// anything else is read as one JSON array. Errors name the file and the line or record.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::input(path.display().to_string(), format!("cannot open: {e}")))?;
    let name = path.display();
    let is_jsonl = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    if is_jsonl {
        let mut records = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| Error::io(&name, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let location = format!("{name}: line {}", i + 1);
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| Error::input(&location, format!("not JSON: {e}")))?;
            records.push(parse_record(value, &location)?);
        }
        return Ok(records);
    }
    let value: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| Error::input(name.to_string(), format!("not JSON: {e}")))?;
    let serde_json::Value::Array(items) = value else {
        return Err(Error::input(
            name.to_string(),
            "expected a JSON array of records (use the .jsonl extension for one record per line)",
        ));
    };
    items.into_iter().enumerate().map(|(i, item)| parse_record(item, &format!("{name}: record {i}"))).collect()
}
