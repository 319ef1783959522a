//! Per-language-pair similarity statistics (spec §9): the reference CSV format
//! `lang_a,lang_b,count,mean,std`, read and written, keyed by unordered pairs of codes.
//!
//! The reference keyed its table by names and looked responses up by code (spec §4.7.1); here
//! every language is a [`Lang`] code on both sides, whatever the file spells.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use lrpo_core::{Error, Lang, Result};

/// Statistics of one unordered language pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairStat {
    /// Number of samples behind the statistic; drives the shrinkage α = n / (n + K).
    pub count: u64,
    /// Mean cosine of the pair.
    pub mean: f64,
    /// Standard deviation of those cosines (kept for the file; the reward does not use it).
    pub std: f64,
}

/// A pair table with its reference mean μ_ref.
#[derive(Debug, Clone, PartialEq)]
pub struct PairStats {
    /// Rows in file order (keys sorted within each pair).
    rows: Vec<((Lang, Lang), PairStat)>,
    index: HashMap<(Lang, Lang), usize>,
    mu_ref: f64,
}

/// The key of an unordered pair: the two codes in sorted order.
pub fn pair_key(a: &Lang, b: &Lang) -> (Lang, Lang) {
    if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

/// A language as the CSV may spell it: an LRPO English name (any case) or a code. Codes outside
/// the LRPO table are accepted when they look like one (`th`, `yue`, `pt-br`), because a
/// calibration can cover any language the LanguageId model emits.
pub fn parse_language(text: &str) -> Option<Lang> {
    if let Some(lang) = Lang::from_name_or_code(text) {
        return Some(lang);
    }
    let code = text.trim();
    let mut parts = code.split(['-', '_']);
    let primary = parts.next().unwrap_or("");
    let primary_ok = (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    (primary_ok && rest_ok).then(|| Lang::new(code))
}

/// How a language is written back: the capitalised English name for LRPO languages (as the
/// reference file does), the code otherwise.
pub fn display_name(lang: &Lang) -> String {
    match lang.name() {
        Some(name) => {
            let mut chars = name.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
        None => lang.to_string(),
    }
}

const COLUMNS: [&str; 5] = ["lang_a", "lang_b", "count", "mean", "std"];

impl PairStats {
    /// Builds a table from rows; μ_ref is their count-weighted mean (0 when no row has a count).
    pub fn from_rows(rows: Vec<((Lang, Lang), PairStat)>) -> Result<Self> {
        let mut index = HashMap::new();
        let mut sorted = Vec::with_capacity(rows.len());
        for (i, ((a, b), stat)) in rows.into_iter().enumerate() {
            let key = pair_key(&a, &b);
            if index.insert(key.clone(), i).is_some() {
                return Err(Error::input("pair statistics", format!("pair {}-{} appears twice", key.0, key.1)));
            }
            sorted.push((key, stat));
        }
        let (weighted, total) =
            sorted.iter().fold((0.0f64, 0u64), |(w, n), (_, s)| (w + s.count as f64 * s.mean, n + s.count));
        let mu_ref = if total == 0 { 0.0 } else { weighted / total as f64 };
        Ok(PairStats { rows: sorted, index, mu_ref })
    }

    /// Reads a CSV file in the reference format.
    pub fn from_csv_path(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
        Self::from_csv_reader(file, &path.display().to_string())
    }

    /// Reads the reference format from any reader; `source` names it in errors. Header names
    /// are matched case-insensitively in any order; CRLF and LF both work.
    pub fn from_csv_reader(reader: impl Read, source: &str) -> Result<Self> {
        let mut csv =
            csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(reader);
        let header = csv.headers().map_err(|e| Error::input(format!("{source} line 1"), e.to_string()))?.clone();
        let mut at = [0usize; 5];
        for (slot, want) in at.iter_mut().zip(COLUMNS) {
            *slot = header.iter().position(|h| h.eq_ignore_ascii_case(want)).ok_or_else(|| {
                Error::input(
                    format!("{source} line 1"),
                    format!("missing column `{want}` (expected {})", COLUMNS.join(",")),
                )
            })?;
        }
        let mut rows = Vec::new();
        let mut seen: HashMap<(Lang, Lang), u64> = HashMap::new();
        for record in csv.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(String::new(), |p| format!(" line {}", p.line()));
                Error::input(format!("{source}{line}"), e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let location = |column: &str| format!("{source} line {line}, column `{column}`");
            if record.iter().all(str::is_empty) {
                continue;
            }
            if record.len() != header.len() {
                return Err(Error::input(
                    format!("{source} line {line}"),
                    format!("{} fields, the header has {}", record.len(), header.len()),
                ));
            }
            let field = |i: usize| record.get(at[i]).unwrap_or("");
            let lang = |i: usize| {
                parse_language(field(i)).ok_or_else(|| {
                    Error::input(
                        location(COLUMNS[i]),
                        format!("`{}` is neither an LRPO language name nor a language code", field(i)),
                    )
                })
            };
            let (a, b) = (lang(0)?, lang(1)?);
            let count: u64 = field(2).parse().map_err(|_| {
                Error::input(location("count"), format!("`{}` is not a non-negative integer", field(2)))
            })?;
            let number = |i: usize| -> Result<f64> {
                match field(i).parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(Error::input(location(COLUMNS[i]), format!("`{}` is not a finite number", field(i)))),
                }
            };
            let mean = number(3)?;
            if !(-1.0..=1.0).contains(&mean) {
                return Err(Error::input(location("mean"), format!("{mean} is not a cosine in [-1, 1]")));
            }
            let std = number(4)?;
            if std < 0.0 {
                return Err(Error::input(location("std"), format!("{std} is negative")));
            }
            let key = pair_key(&a, &b);
            if let Some(first) = seen.insert(key.clone(), line) {
                return Err(Error::input(
                    format!("{source} line {line}"),
                    format!("pair {}-{} already given on line {first}", key.0, key.1),
                ));
            }
            rows.push((key, PairStat { count, mean, std }));
        }
        if rows.is_empty() {
            return Err(Error::input(source.to_string(), "no data rows"));
        }
        Self::from_rows(rows)
    }

    /// μ_ref: the count-weighted mean of the rows' means (rows added by imputation excluded).
    pub fn mu_ref(&self) -> f64 {
        self.mu_ref
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The statistic of the unordered pair {a, b}.
    pub fn get(&self, a: &Lang, b: &Lang) -> Option<&PairStat> {
        self.index.get(&pair_key(a, b)).map(|&i| &self.rows[i].1)
    }

    /// Rows in order, each key sorted.
    pub fn rows(&self) -> impl Iterator<Item = (&(Lang, Lang), &PairStat)> {
        self.rows.iter().map(|(k, s)| (k, s))
    }

    /// Fills every missing same-language pair of a language the table covers with the mean of
    /// the diagonal rows present (spec §4.7.3: English–English, ≈ 0.9903 with the shipped file).
    /// μ_ref is left as the file gave it. Returns the languages imputed; none when the table
    /// has no diagonal row to learn from.
    pub fn impute_same_language(&mut self) -> Vec<Lang> {
        let diagonal: Vec<PairStat> = self.rows.iter().filter(|((a, b), _)| a == b).map(|(_, s)| *s).collect();
        if diagonal.is_empty() {
            return Vec::new();
        }
        let n = diagonal.len() as f64;
        let mean = diagonal.iter().map(|s| s.mean).sum::<f64>() / n;
        let std = diagonal.iter().map(|s| s.std).sum::<f64>() / n;
        let count = (diagonal.iter().map(|s| s.count as f64).sum::<f64>() / n).round() as u64;
        let mut langs: Vec<Lang> = self.rows.iter().flat_map(|((a, b), _)| [a.clone(), b.clone()]).collect();
        langs.sort();
        langs.dedup();
        let mut imputed = Vec::new();
        for lang in langs {
            let key = (lang.clone(), lang.clone());
            if !self.index.contains_key(&key) {
                self.index.insert(key.clone(), self.rows.len());
                self.rows.push((key, PairStat { count, mean, std }));
                imputed.push(lang);
            }
        }
        imputed
    }

    /// Writes the reference format: capitalised names where known, `lang_a ≤ lang_b` as
    /// written, rows sorted by those names.
    pub fn write_csv(&self, out: impl Write) -> Result<()> {
        let mut rows: Vec<(String, String, &PairStat)> = self
            .rows
            .iter()
            .map(|((a, b), s)| {
                let (x, y) = (display_name(a), display_name(b));
                if x <= y {
                    (x, y, s)
                } else {
                    (y, x, s)
                }
            })
            .collect();
        rows.sort_by(|p, q| (&p.0, &p.1).cmp(&(&q.0, &q.1)));
        let mut csv = csv::Writer::from_writer(out);
        let fail = |e: csv::Error| Error::runtime(format!("writing pair statistics: {e}"));
        csv.write_record(COLUMNS).map_err(fail)?;
        for (a, b, s) in rows {
            csv.write_record([a, b, s.count.to_string(), s.mean.to_string(), s.std.to_string()]).map_err(fail)?;
        }
        csv.flush().map_err(|e| Error::runtime(format!("writing pair statistics: {e}")))
    }

    /// Writes the CSV to `path`.
    pub fn write_csv_path(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
        self.write_csv(std::io::BufWriter::new(file)).map_err(|e| match e {
            Error::Runtime(m) => Error::io(path.display(), m),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<PairStats> {
        PairStats::from_csv_reader(text.as_bytes(), "stats.csv")
    }

    #[test]
    fn names_codes_crlf_and_order() {
        let t = read("lang_a,lang_b,count,mean,std\r\nChinese,English,30,0.9,0.01\r\nzh,zh,10,1.0,0\r\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(&"en".into(), &"zh".into()).unwrap().mean, 0.9);
        assert_eq!(t.get(&"zh".into(), &"en".into()).unwrap().count, 30);
        assert!((t.mu_ref() - (30.0 * 0.9 + 10.0) / 40.0).abs() < 1e-15);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let head = "lang_a,lang_b,count,mean,std\n";
        let cases = [
            ("Arabic,Klingon,30,0.9,0.1\n", "line 2, column `lang_b`"),
            ("Arabic,Dutch,x,0.9,0.1\n", "line 2, column `count`"),
            ("Arabic,Dutch,30,NaN,0.1\n", "line 2, column `mean`"),
            ("Arabic,Dutch,30,1.5,0.1\n", "line 2, column `mean`"),
            ("Arabic,Dutch,30,0.9,-1\n", "line 2, column `std`"),
            ("Arabic,Dutch,30,0.9\n", "line 2"),
            ("Arabic,Dutch,30,0.9,0.1\nDutch,Arabic,30,0.9,0.1\n", "line 3"),
        ];
        for (body, want) in cases {
            let err = read(&format!("{head}{body}")).unwrap_err().to_string();
            assert!(err.contains("stats.csv") && err.contains(want), "{body:?}: {err}");
        }
        let err = read("a,b,count,mean,std\nArabic,Dutch,30,0.9,0.1\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("lang_a"), "{err}");
        assert!(read(head).unwrap_err().to_string().contains("no data rows"));
    }

    #[test]
    fn round_trip_through_the_writer() {
        let t = read("lang_a,lang_b,count,mean,std\nth,English,3,0.8,0.05\nGerman,English,4,0.91,0.02\n").unwrap();
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "lang_a,lang_b,count,mean,std\nEnglish,German,4,0.91,0.02\nEnglish,th,3,0.8,0.05\n");
        let back = read(&text).unwrap();
        assert_eq!(back.get(&"th".into(), &"en".into()), t.get(&"en".into(), &"th".into()));
        assert_eq!(back.mu_ref(), t.mu_ref());
    }

    #[test]
    fn imputation_needs_diagonal_rows() {
        let mut none = read("lang_a,lang_b,count,mean,std\nGerman,English,4,0.91,0.02\n").unwrap();
        assert!(none.impute_same_language().is_empty());
        let mut t = read("lang_a,lang_b,count,mean,std\nGerman,German,4,0.98,0.02\nFrench,French,2,0.96,0.04\nGerman,English,4,0.91,0.02\n").unwrap();
        let mu = t.mu_ref();
        let mut imputed = t.impute_same_language();
        imputed.sort();
        assert_eq!(imputed, vec![Lang::new("en")]);
        let en = t.get(&"en".into(), &"en".into()).unwrap();
        assert!((en.mean - 0.97).abs() < 1e-12 && en.count == 3);
        assert_eq!(t.mu_ref(), mu);
    }
}
