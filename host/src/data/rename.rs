//! Columns a file names otherwise (`ReadOptions::columns`: CARE's `query` as the question, say):
//! the file's schema and every record batch are seen with those columns under the reader's
//! names, so the column map and the decoder need not know; errors show the file's own names.

use super::mapping::ReadOptions;
use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use lrpo_core::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The reader's names a file may rename, with the config key that does so.
pub const RENAMABLE: [(&str, &str); 4] =
    [("question", "question"), ("answer", "answer"), ("language", "language"), ("ability", "topic")];

/// A view of a file's columns under the reader's names.
pub(crate) struct Renaming {
    schema: SchemaRef,
    /// The file's column index behind each column of `schema`.
    indices: Vec<usize>,
}

impl Renaming {
    /// `None` when `options` renames nothing. A renamed column must exist; the file's own
    /// column of the reader's name, if it has one, is left out of the view (it is not read).
    pub fn new(location: &str, schema: &Schema, options: &ReadOptions) -> Result<Option<Renaming>> {
        if options.columns.is_empty() {
            return Ok(None);
        }
        let theirs: BTreeMap<&str, &str> =
            options.columns.iter().map(|(ours, t)| (t.as_str(), ours.as_str())).collect();
        for (ours, file_name) in &options.columns {
            if schema.field_with_name(file_name).is_err() {
                let key = RENAMABLE.iter().find(|(r, _)| r == ours).map_or(ours.as_str(), |(_, k)| k);
                return Err(Error::input(
                    format!("{location}, column `{file_name}`"),
                    format!("missing (named as the {key} column); the file has: {}", names(schema)),
                ));
            }
        }
        let mut fields = Vec::new();
        let mut indices = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            let name = match theirs.get(f.name().as_str()) {
                Some(ours) => ours.to_string(),
                // Displaced by a renamed column.
                None if options.columns.contains_key(f.name()) => continue,
                None => f.name().clone(),
            };
            fields.push(Arc::new(Field::new(name, f.data_type().clone(), f.is_nullable())));
            indices.push(i);
        }
        Ok(Some(Renaming { schema: Arc::new(Schema::new(fields)), indices }))
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// `batch` (in the file's layout) under the reader's names.
    pub fn apply(&self, batch: &RecordBatch) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
        let columns = self.indices.iter().map(|&i| batch.column(i).clone()).collect();
        RecordBatch::try_new(self.schema.clone(), columns)
    }
}

fn names(schema: &Schema) -> String {
    schema.fields().iter().map(|f| format!("`{}`", f.name())).collect::<Vec<_>>().join(", ")
}

/// The name a column has in the user's file: the renamed one, else its own.
pub(crate) fn shown<'a>(options: &'a ReadOptions, column: &'a str) -> &'a str {
    options.columns.get(column).map_or(column, String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::DataType;

    #[test]
    fn renamed_columns_take_the_readers_names_and_displace_its_own() {
        let text = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
        let schema = Schema::new(vec![
            Field::new("query", DataType::Utf8, true),
            Field::new("question", DataType::Utf8, true),
            Field::new("gold", DataType::Utf8, true),
        ]);
        let batch =
            RecordBatch::try_new(Arc::new(schema.clone()), vec![text(&["q"]), text(&["old"]), text(&["a"])]).unwrap();
        let mut options = ReadOptions::default();
        options.columns.insert("question".into(), "query".into());
        options.columns.insert("answer".into(), "gold".into());
        let r = Renaming::new("f.jsonl", &schema, &options).unwrap().unwrap();
        let names: Vec<&str> = r.schema().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["question", "answer"]);
        let seen = r.apply(&batch).unwrap();
        assert_eq!(
            seen.column_by_name("question").unwrap().as_any().downcast_ref::<StringArray>().unwrap().value(0),
            "q"
        );
        assert_eq!(shown(&options, "question"), "query");
        assert_eq!(shown(&options, "region"), "region");

        options.columns.insert("language".into(), "lang".into());
        let err = Renaming::new("f.jsonl", &schema, &options).err().unwrap().to_string();
        assert!(err.contains("f.jsonl, column `lang`: missing (named as the language column)"), "{err}");
        assert!(Renaming::new("f", &schema, &ReadOptions::default()).unwrap().is_none());
    }
}
