//! Parallel corpora for calibration: texts with the same meaning, in several languages and
//! possibly several phrasings per language, tied by an id.
//!
//! Two formats:
//! - JSONL (`*.jsonl`), one object per line with `id`, `language` (name or code), a text field
//!   (default `chosen`) and optionally `phrasing` (an integer from 1, default 1), like the
//!   bundled `examples/data/parallel.jsonl` (phrasing 1) and `examples/data/paraphrases.jsonl`
//!   (phrasing 2 of the same ids: a second wording in the same language, which is what gives
//!   same-language pairs of different texts);
//! - SQuAD JSON (`*.json`), one file per language such as XQuAD's `xquad.de.json`: the
//!   language is the last dot-separated part of the file stem, the id is the question id and
//!   the text its `question` (or, with field `context`, each paragraph keyed by position).
//!
//! A directory stands for all such files in it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lrpo_core::{Error, Lang, Result};
use serde_json::Value;

use crate::pair_stats::parse_language;

/// One text of a parallel corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelText {
    pub id: String,
    pub lang: Lang,
    /// Which wording of the meaning `id` in `lang` this is (1, 2, ...).
    pub phrasing: u32,
    pub text: String,
}

/// Texts of one or more files, each (id, language, phrasing) at most once, and no two
/// phrasings of an id in one language with the same text.
#[derive(Debug, Clone, Default)]
pub struct ParallelCorpus {
    pub texts: Vec<ParallelText>,
}

impl ParallelCorpus {
    /// Loads files or directories. `field` picks the text (JSONL: any string field, default
    /// `chosen`; SQuAD: `question` (default) or `context`).
    pub fn load(paths: &[PathBuf], field: Option<&str>) -> Result<Self> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| Error::io(path.display(), e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("json" | "jsonl")))
                    .collect();
                if found.is_empty() {
                    return Err(Error::input(
                        path.display().to_string(),
                        "no *.json or *.jsonl file in this directory",
                    ));
                }
                found.sort();
                files.extend(found);
            } else {
                files.push(path.clone());
            }
        }
        let mut corpus = ParallelCorpus::default();
        let mut seen: HashMap<(String, Lang, u32), String> = HashMap::new();
        let mut texts: HashMap<(String, Lang, String), String> = HashMap::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| Error::io(file.display(), e))?;
            let items = match file.extension().and_then(|e| e.to_str()) {
                Some("jsonl") => read_jsonl(&file, &text, field.unwrap_or("chosen"))?,
                Some("json") => read_squad(&file, &text, field.unwrap_or("question"))?,
                _ => {
                    return Err(Error::input(
                        file.display().to_string(),
                        "expected a .jsonl or a SQuAD-style .json file",
                    ))
                }
            };
            for (location, item) in items {
                let key = (item.id.clone(), item.lang.clone(), item.phrasing);
                if let Some(first) = seen.insert(key, location.clone()) {
                    return Err(Error::input(
                        location,
                        format!(
                            "id `{}` in language {} (phrasing {}) already given at {first}",
                            item.id, item.lang, item.phrasing
                        ),
                    ));
                }
                // Two phrasings with one text would be a same-language pair of cosine 1.
                let key = (item.id.clone(), item.lang.clone(), item.text.trim().to_string());
                if let Some(first) = texts.insert(key, location.clone()) {
                    return Err(Error::input(
                        location,
                        format!(
                            "the same text as {first} (id `{}`, language {}): phrasings must differ",
                            item.id, item.lang
                        ),
                    ));
                }
                corpus.texts.push(item);
            }
        }
        if corpus.texts.is_empty() {
            return Err(Error::input(
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                "no texts",
            ));
        }
        Ok(corpus)
    }

    /// Keeps only the first `n` ids (in order of first appearance).
    pub fn limit_ids(&mut self, n: usize) {
        let mut order: HashMap<String, usize> = HashMap::new();
        for t in &self.texts {
            let next = order.len();
            order.entry(t.id.clone()).or_insert(next);
        }
        self.texts.retain(|t| order[&t.id] < n);
    }

    /// The texts whose id satisfies `keep` (a split into calibration and held-out items).
    pub fn filter_ids(&self, keep: impl Fn(&str) -> bool) -> ParallelCorpus {
        ParallelCorpus { texts: self.texts.iter().filter(|t| keep(&t.id)).cloned().collect() }
    }

    /// The languages present, sorted.
    pub fn languages(&self) -> Vec<Lang> {
        let mut langs: Vec<Lang> = self.texts.iter().map(|t| t.lang.clone()).collect();
        langs.sort();
        langs.dedup();
        langs
    }
}

fn language(location: &str, value: &str) -> Result<Lang> {
    parse_language(value).ok_or_else(|| {
        Error::input(location.to_string(), format!("`{value}` is neither an LRPO language name nor a language code"))
    })
}

fn read_jsonl(file: &Path, text: &str, field: &str) -> Result<Vec<(String, ParallelText)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{} line {}", file.display(), i + 1);
        let value: Value = serde_json::from_str(line).map_err(|e| Error::input(location.clone(), e.to_string()))?;
        let phrasing = match value.get("phrasing") {
            None => 1,
            Some(v) => v.as_u64().filter(|&p| p >= 1 && p <= u64::from(u32::MAX)).ok_or_else(|| {
                Error::input(format!("{location}, field `phrasing`"), format!("{v} is not an integer from 1"))
            })? as u32,
        };
        let get = |name: &str| -> Result<String> {
            match value.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) if name == "id" => Ok(n.to_string()),
                Some(_) => Err(Error::input(format!("{location}, field `{name}`"), "not a string")),
                None => Err(Error::input(format!("{location}, field `{name}`"), "missing")),
            }
        };
        let lang = language(&format!("{location}, field `language`"), &get("language")?)?;
        out.push((location.clone(), ParallelText { id: get("id")?, lang, phrasing, text: get(field)? }));
    }
    Ok(out)
}

fn read_squad(file: &Path, text: &str, field: &str) -> Result<Vec<(String, ParallelText)>> {
    let name = file.display().to_string();
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let code = stem.rsplit('.').next().unwrap_or(stem);
    let lang = language(&format!("{name} (language from the file name)"), code)?;
    let root: Value = serde_json::from_str(text).map_err(|e| Error::input(name.clone(), e.to_string()))?;
    let articles = root
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::input(format!("{name}, field `data`"), "missing or not a list"))?;
    let mut out = Vec::new();
    for (a, article) in articles.iter().enumerate() {
        let paragraphs = article
            .get("paragraphs")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::input(format!("{name}, data[{a}].paragraphs"), "missing or not a list"))?;
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let at = format!("{name}, data[{a}].paragraphs[{p}]");
            match field {
                "context" => {
                    let context = paragraph
                        .get("context")
                        .and_then(Value::as_str)
                        .ok_or_else(|| Error::input(format!("{at}.context"), "missing or not a string"))?;
                    out.push((
                        at.clone(),
                        ParallelText {
                            id: format!("{a}/{p}"),
                            lang: lang.clone(),
                            phrasing: 1,
                            text: context.to_string(),
                        },
                    ));
                }
                "question" => {
                    let qas = paragraph
                        .get("qas")
                        .and_then(Value::as_array)
                        .ok_or_else(|| Error::input(format!("{at}.qas"), "missing or not a list"))?;
                    for (q, qa) in qas.iter().enumerate() {
                        let here = format!("{at}.qas[{q}]");
                        let id = qa
                            .get("id")
                            .and_then(Value::as_str)
                            .ok_or_else(|| Error::input(format!("{here}.id"), "missing or not a string"))?;
                        let question = qa
                            .get("question")
                            .and_then(Value::as_str)
                            .ok_or_else(|| Error::input(format!("{here}.question"), "missing or not a string"))?;
                        out.push((
                            here,
                            ParallelText {
                                id: id.to_string(),
                                lang: lang.clone(),
                                phrasing: 1,
                                text: question.to_string(),
                            },
                        ));
                    }
                }
                other => {
                    return Err(Error::input(
                        name.clone(),
                        format!("field `{other}`: SQuAD files offer `question` or `context`"),
                    ))
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn bundled_parallel_subset_and_its_second_phrasings() {
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
        let corpus = ParallelCorpus::load(&[data.join("parallel.jsonl")], None).unwrap();
        let codes: Vec<String> = corpus.languages().iter().map(|l| l.to_string()).collect();
        assert_eq!(codes.join(" "), "de en es fr it ja ru zh");
        assert_eq!(corpus.texts.len(), 416);
        assert!(corpus.texts.iter().all(|t| t.phrasing == 1));
        let both = ParallelCorpus::load(&[data.join("parallel.jsonl"), data.join("paraphrases.jsonl")], None).unwrap();
        assert_eq!(both.languages(), corpus.languages());
        assert_eq!(both.texts.len(), 832, "every item has a second phrasing in all 8 languages");
        assert_eq!(both.texts.iter().filter(|t| t.phrasing == 2).count(), 416);
        let half = both.filter_ids(|id| id.ends_with(['1', '3', '5', '7', '9']));
        assert_eq!(half.texts.len(), 26 * 16);
    }

    #[test]
    fn xquad_languages_from_file_names() {
        let mut corpus = ParallelCorpus::load(&[crate::test_data::shared_data().join("xquad")], None).unwrap();
        assert_eq!(corpus.languages().len(), 7);
        assert_eq!(corpus.texts.len(), 7 * 1190);
        corpus.limit_ids(5);
        assert_eq!(corpus.texts.len(), 35);
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let ok = r#"{"id": "a", "language": "german", "chosen": "Hallo"}"#;
        let cases = [
            (
                format!("{ok}\n{{\"id\": \"b\", \"language\": \"klingon\", \"chosen\": \"x\"}}\n"),
                "line 2, field `language`",
            ),
            (format!("{ok}\n{{\"id\": \"b\", \"language\": \"de\"}}\n"), "line 2, field `chosen`"),
            (format!("{ok}\n{ok}\n"), "line 2"),
            // A second phrasing must be a different text.
            (
                format!("{ok}\n{{\"id\": \"a\", \"language\": \"de\", \"phrasing\": 2, \"chosen\": \" Hallo\"}}\n"),
                "line 2: the same text as",
            ),
            (
                format!("{ok}\n{{\"id\": \"a\", \"language\": \"de\", \"phrasing\": 0, \"chosen\": \"Tag\"}}\n"),
                "line 2, field `phrasing`",
            ),
            (format!("{ok}\nnot json\n"), "line 2"),
        ];
        for (i, (body, want)) in cases.iter().enumerate() {
            let path = write(dir.path(), &format!("c{i}.jsonl"), body);
            let err = ParallelCorpus::load(std::slice::from_ref(&path), None).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()) && err.contains(want), "{body:?}: {err}");
        }
        let bad_lang = write(dir.path(), "squad.xx1.json", r#"{"data": []}"#);
        assert!(ParallelCorpus::load(&[bad_lang], None).unwrap_err().to_string().contains("file name"));
    }
}
