//! The verl/LRPO parquet layout (spec §1.3) and its known value sets (§1.4), plus the writer
//! that `data prepare` uses.

use super::records::Record;
use arrow::array::{ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema};
use lrpo_core::{Error, Result};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// The five topics the router has priors for, in the spec's order.
pub use lrpo_core::LRPO_TOPICS;

/// The ability whose rollouts keep the question's own language (spec §3.7).
pub const TRANSLATION_ABILITY: &str = "Translation";

/// The topic whose rows carry a meaningful region.
pub const REGIONAL_TOPIC: &str = "Regional Knowledge";

/// The 24 regions with router priors, in the reference's insertion order.
pub use lrpo_core::LRPO_REGIONS as KNOWN_REGIONS;

/// `data_source` of every row `data prepare` writes.
pub const DATA_SOURCE: &str = "lrpo";

/// Rows per parquet row group in prepared files: small enough that readers stream.
const ROW_GROUP_ROWS: usize = 4096;

/// One prepared row: the input record plus what the split decides.
pub(crate) struct PreparedRow<'a> {
    pub record: &'a Record,
    /// Index of the record's language in the sorted set of names (the HF class label).
    pub language_label: i64,
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn message_fields() -> Fields {
    Fields::from(vec![utf8("content"), utf8("role")])
}

fn extra_info_fields() -> Fields {
    Fields::from(vec![
        utf8("split"),
        Field::new("index", DataType::Int64, true),
        utf8("question"),
        utf8("language"),
        utf8("topic"),
        utf8("region"),
    ])
}

/// The schema `data prepare` writes: the pass-through columns the reference's `datasets.map`
/// keeps (`query chosen language region language_str`), then the columns the dataset reads.
pub(crate) fn prepared_schema() -> Schema {
    let message = Field::new("element", DataType::Struct(message_fields()), true);
    Schema::new(vec![
        utf8("query"),
        utf8("chosen"),
        Field::new("language", DataType::Int64, true),
        utf8("region"),
        utf8("language_str"),
        utf8("data_source"),
        Field::new("prompt", DataType::List(Arc::new(message)), true),
        utf8("ability"),
        Field::new("reward_model", DataType::Struct(Fields::from(vec![utf8("ground_truth")])), true),
        utf8("question"),
        utf8("answer"),
        Field::new("extra_info", DataType::Struct(extra_info_fields()), true),
    ])
}

fn strings<'a>(rows: &[PreparedRow<'a>], f: impl Fn(&PreparedRow<'a>) -> Option<&'a str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

fn batch_for(rows: &[PreparedRow<'_>], split: &str, first_index: i64) -> Result<RecordBatch> {
    let n = rows.len();
    let schema = Arc::new(prepared_schema());
    let query = strings(rows, |r| Some(r.record.query.as_str()));
    let chosen = strings(rows, |r| Some(r.record.chosen.as_str()));
    let region = strings(rows, |r| r.record.region.as_deref());
    let language_str = strings(rows, |r| Some(r.record.language.as_str()));
    let topic = strings(rows, |r| Some(r.record.topic.as_str()));

    let messages =
        StructArray::new(message_fields(), vec![query.clone(), Arc::new(StringArray::from(vec!["user"; n]))], None);
    let message_field = Arc::new(Field::new("element", DataType::Struct(message_fields()), true));
    let prompt = ListArray::new(message_field, OffsetBuffer::from_lengths(vec![1; n]), Arc::new(messages), None);
    let reward_model = StructArray::new(Fields::from(vec![utf8("ground_truth")]), vec![chosen.clone()], None);
    let extra_info = StructArray::new(
        extra_info_fields(),
        vec![
            Arc::new(StringArray::from(vec![split; n])),
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| first_index + i))),
            query.clone(),
            language_str.clone(),
            topic.clone(),
            region.clone(),
        ],
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        query.clone(),
        chosen.clone(),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.language_label))),
        region,
        language_str,
        Arc::new(StringArray::from(vec![DATA_SOURCE; n])),
        Arc::new(prompt),
        topic,
        Arc::new(reward_model),
        query,
        chosen,
        Arc::new(extra_info),
    ];
    RecordBatch::try_new(schema, columns).map_err(|e| Error::runtime(format!("building the {split} batch: {e}")))
}

/// Writes one split (`"train"` or `"test"`) in the reference layout; `extra_info.index` counts
/// rows within the split from 0.
pub(crate) fn write_split(path: &Path, split: &str, rows: &[PreparedRow<'_>]) -> Result<()> {
    let io = |e: &dyn std::fmt::Display| Error::io(path.display(), e);
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
    let props =
        WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_size(ROW_GROUP_ROWS).build();
    let mut writer = ArrowWriter::try_new(file, Arc::new(prepared_schema()), Some(props)).map_err(|e| io(&e))?;
    for (chunk_no, chunk) in rows.chunks(ROW_GROUP_ROWS).enumerate() {
        let batch = batch_for(chunk, split, (chunk_no * ROW_GROUP_ROWS) as i64)?;
        writer.write(&batch).map_err(|e| io(&e))?;
    }
    writer.close().map_err(|e| io(&e))?;
    // Write-then-rename, so an interrupted prepare never leaves a truncated parquet behind.
    std::fs::rename(&tmp, path).map_err(|e| io(&e))
}
