//! `data prepare`: JSON records -> `train.parquet` / `test.parquet` in the reference layout.

use super::layout::{write_split, PreparedRow};
use super::question::language_code;
use super::records::read_records;
use super::split::stratified_split;
use lrpo_core::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Share of each language that goes to `test.parquet` (spec §1.2).
pub const TEST_FRACTION: f64 = 0.1;

/// What `prepare` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareSummary {
    pub input: PathBuf,
    pub train_path: PathBuf,
    pub test_path: PathBuf,
    pub seed: u64,
    /// Language name -> (train rows, test rows).
    pub per_language: BTreeMap<String, (usize, usize)>,
    /// Language names that are not LRPO languages, with record counts; a reader takes them as `en`.
    pub unknown_languages: BTreeMap<String, usize>,
}

impl PrepareSummary {
    pub fn train_rows(&self) -> usize {
        self.per_language.values().map(|c| c.0).sum()
    }
    pub fn test_rows(&self) -> usize {
        self.per_language.values().map(|c| c.1).sum()
    }
}

impl fmt::Display for PrepareSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} records -> {} train rows ({}), {} test rows ({}); stratified by language, seed {}",
            self.input.display(),
            self.train_rows() + self.test_rows(),
            self.train_rows(),
            self.train_path.display(),
            self.test_rows(),
            self.test_path.display(),
            self.seed
        )?;
        writeln!(f, "  {:<12} {:>6} {:>6}", "language", "train", "test")?;
        for (name, (train, test)) in &self.per_language {
            writeln!(f, "  {name:<12} {train:>6} {test:>6}")?;
        }
        for (name, count) in &self.unknown_languages {
            writeln!(
                f,
                "  warning: language `{name}` ({count} records) is not an LRPO language; it will be read as en"
            )?;
        }
        Ok(())
    }
}

/// Reads `input` (`.jsonl`: one record per line; otherwise a JSON array of records with fields
/// `query chosen topic language region`), splits it 90/10 stratified by language with `seed`
/// (the reference uses 42), and writes `out_dir/train.parquet` and `out_dir/test.parquet` in
/// the verl/LRPO layout (docs/data.md). Language names are lower-cased; names outside the 15
/// LRPO languages are kept but reported.
pub fn prepare(input: &Path, out_dir: &Path, seed: u64) -> Result<PrepareSummary> {
    let records = read_records(input)?;
    if records.is_empty() {
        return Err(Error::input(input.display().to_string(), "has no records"));
    }
    let names: BTreeSet<&str> = records.iter().map(|r| r.language.as_str()).collect();
    let label_of: BTreeMap<&str, i64> = names.iter().enumerate().map(|(i, n)| (*n, i as i64)).collect();
    let mut unknown_languages = BTreeMap::new();
    for record in &records {
        if language_code(&record.language).is_none() {
            *unknown_languages.entry(record.language.clone()).or_insert(0) += 1;
        }
    }
    for (name, count) in &unknown_languages {
        tracing::warn!(file = %input.display(), "language `{name}` ({count} records) is not an LRPO language");
    }

    let labels: Vec<&str> = records.iter().map(|r| r.language.as_str()).collect();
    let (train, test) = stratified_split(&labels, TEST_FRACTION, seed);
    let rows = |indices: &[usize]| -> Vec<PreparedRow<'_>> {
        indices
            .iter()
            .map(|&i| PreparedRow { record: &records[i], language_label: label_of[records[i].language.as_str()] })
            .collect()
    };
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir.display(), e))?;
    let train_path = out_dir.join("train.parquet");
    let test_path = out_dir.join("test.parquet");
    write_split(&train_path, "train", &rows(&train))?;
    write_split(&test_path, "test", &rows(&test))?;

    let mut per_language: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for &i in &train {
        per_language.entry(records[i].language.clone()).or_default().0 += 1;
    }
    for &i in &test {
        per_language.entry(records[i].language.clone()).or_default().1 += 1;
    }
    Ok(PrepareSummary { input: input.to_path_buf(), train_path, test_path, seed, per_language, unknown_languages })
}
