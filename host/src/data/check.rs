//! `data check`: what a parquet file holds and what is wrong with it, without training on it.

use super::layout::{KNOWN_REGIONS, LRPO_TOPICS, REGIONAL_TOPIC, TRANSLATION_ABILITY};
use super::reader::QuestionReader;
use lrpo_core::{Error, Result};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where rows whose language `train` detects are counted.
const DETECTED: &str = "(detected at train time by the language ID)";

/// Row problems listed one by one; beyond this only their number is kept.
const LISTED_ROW_PROBLEMS: usize = 20;

/// Length distribution of a text column, in characters (Unicode scalar values).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LengthStats {
    pub min: usize,
    pub median: usize,
    pub mean: f64,
    pub max: usize,
}

impl LengthStats {
    fn of(mut lengths: Vec<usize>) -> LengthStats {
        if lengths.is_empty() {
            return LengthStats::default();
        }
        lengths.sort_unstable();
        let n = lengths.len();
        LengthStats {
            min: lengths[0],
            median: lengths[n / 2],
            mean: lengths.iter().sum::<usize>() as f64 / n as f64,
            max: lengths[n - 1],
        }
    }
}

impl fmt::Display for LengthStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "min {} / median {} / mean {:.1} / max {} chars", self.min, self.median, self.mean, self.max)
    }
}

/// The contents of one parquet file and its problems.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckReport {
    pub path: PathBuf,
    /// Which column feeds which field ([`super::ColumnMap`]).
    pub mapping: String,
    /// Rows in the file, good or bad.
    pub rows: usize,
    /// Rows read without error.
    pub good_rows: usize,
    /// Language code -> rows (unknown names counted under `en`, as training reads them).
    pub languages: BTreeMap<String, usize>,
    pub topics: BTreeMap<String, usize>,
    /// Region -> rows; rows without one are not counted.
    pub regions: BTreeMap<String, usize>,
    pub question_chars: LengthStats,
    pub answer_chars: LengthStats,
    /// One line per problem kind (with counts) and per listed bad row.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

fn counts(map: &BTreeMap<String, usize>) -> String {
    let mut items: Vec<_> = map.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    items.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} rows ({} readable)", self.path.display(), self.rows, self.good_rows)?;
        writeln!(f, "  mapping:   {}", self.mapping)?;
        writeln!(f, "  languages: {}", counts(&self.languages))?;
        writeln!(f, "  topics:    {}", counts(&self.topics))?;
        let regions = if self.regions.is_empty() { "(none)".to_string() } else { counts(&self.regions) };
        writeln!(f, "  regions:   {regions}")?;
        writeln!(f, "  question:  {}", self.question_chars)?;
        writeln!(f, "  answer:    {}", self.answer_chars)?;
        if self.problems.is_empty() {
            writeln!(f, "  problems:  none")
        } else {
            writeln!(f, "  problems ({}):", self.problems.len())?;
            self.problems.iter().try_for_each(|p| writeln!(f, "    - {p}"))
        }
    }
}

/// Reads `file` whole and reports rows, languages, topics, regions, length statistics and the
/// problems found: bad rows (empty or null question/answer/ability), unknown language names,
/// topics and regions without router priors, regional rows without a region, duplicate
/// `extra_info.index` values. A file that cannot be read as the layout at all (missing column,
/// wrong type, not parquet) is an error instead.
pub fn check(file: &Path) -> Result<CheckReport> {
    check_with(file, &super::ReadOptions::default())
}

/// [`check`] with the run's fallbacks for missing columns (`data.default_language`,
/// `data.default_topic`), so it reads the file exactly as `train` would.
pub fn check_with(file: &Path, options: &super::ReadOptions) -> Result<CheckReport> {
    let mut reader = QuestionReader::open_with(file, options)?;
    let mut report =
        CheckReport { path: file.to_path_buf(), mapping: reader.mapping().to_string(), ..CheckReport::default() };
    let (mut question_chars, mut answer_chars) = (Vec::new(), Vec::new());
    let mut row_problems = Vec::new();
    let mut bad_rows = 0usize;
    let mut seen_index = HashSet::new();
    let mut duplicate_index = 0usize;
    let mut regional_without_region = 0usize;
    for item in &mut reader {
        report.rows += 1;
        let question = match item {
            Ok(q) => q,
            Err(Error::Input { location, message }) => {
                bad_rows += 1;
                if row_problems.len() < LISTED_ROW_PROBLEMS {
                    row_problems.push(format!("{location}: {message}"));
                }
                continue;
            }
            Err(other) => return Err(other),
        };
        report.good_rows += 1;
        let lang = if question.needs_language { DETECTED.to_string() } else { question.orig_lang.to_string() };
        *report.languages.entry(lang).or_default() += 1;
        *report.topics.entry(question.topic.clone()).or_default() += 1;
        if let Some(region) = &question.region {
            *report.regions.entry(region.clone()).or_default() += 1;
        } else if question.topic == REGIONAL_TOPIC {
            regional_without_region += 1;
        }
        if !seen_index.insert(question.index) {
            duplicate_index += 1;
        }
        question_chars.push(question.question.chars().count());
        answer_chars.push(question.answer.chars().count());
    }
    report.question_chars = LengthStats::of(question_chars);
    report.answer_chars = LengthStats::of(answer_chars);

    let problems = &mut report.problems;
    if bad_rows > 0 {
        problems.push(format!("{bad_rows} bad row(s); training stops at the first"));
        problems.extend(row_problems);
        if bad_rows > LISTED_ROW_PROBLEMS {
            problems.push(format!("... and {} more bad row(s)", bad_rows - LISTED_ROW_PROBLEMS));
        }
    }
    for (name, n) in reader.unknown_languages() {
        problems.push(format!("extra_info.language `{name}` is not an LRPO language: {n} row(s) read as en"));
    }
    for (topic, n) in &report.topics {
        if !LRPO_TOPICS.contains(&topic.as_str()) && topic != TRANSLATION_ABILITY {
            problems.push(format!("topic (ability) `{topic}` has no router prior: {n} row(s)"));
        }
    }
    for (region, n) in &report.regions {
        if !KNOWN_REGIONS.contains(&region.as_str()) {
            problems.push(format!("region `{region}` has no router prior: {n} row(s)"));
        }
    }
    if regional_without_region > 0 {
        problems.push(format!("{regional_without_region} `{REGIONAL_TOPIC}` row(s) have no extra_info.region"));
    }
    if duplicate_index > 0 {
        problems.push(format!("{duplicate_index} row(s) repeat an extra_info.index already seen"));
    }
    Ok(report)
}
