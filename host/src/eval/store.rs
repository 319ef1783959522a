//! `eval.jsonl`: every answer and every judgement of an evaluation, appended one JSON line at a
//! time and flushed per line, so an interrupted evaluation loses at most the line being
//! written. A rerun reads it back and keeps, per (model, item), the newest answer made with the
//! same generation settings and the newest judgement made from the same judge prompt (hash) by
//! the same judge model; only what is missing is generated or judged again.

use super::judge::Label;
use lrpo_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE: &str = "eval.jsonl";

/// One generated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerRecord {
    /// Which model answered (see `command::ModelSpec::id`).
    pub model: String,
    /// The item's key (content hash; see `items`).
    pub item: String,
    /// Where the item is in the data file.
    pub row: String,
    /// The question's language and the language the answer was asked for.
    pub language: String,
    pub answer_lang: String,
    pub question: String,
    pub gold: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Hash of what decides the answer besides the model: engine, prompt, sampling, length.
    pub generation: String,
    pub response: String,
    /// `stop` or `length`.
    pub finish: String,
    /// The run's language ID on the response.
    pub detected: Option<String>,
    pub detected_prob: f64,
}

/// One judgement (a label, or a judge failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgementRecord {
    pub model: String,
    pub item: String,
    pub judge_model: String,
    /// Hash of the exact prompt the judge got (template filled with this item and response).
    pub prompt_hash: String,
    /// `None`: a judge failure.
    pub label: Option<Label>,
    /// The judge's raw reply (the last one, for a failure).
    pub judge_reply: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The response judged, so that each line stands alone.
    pub response: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    Answer(AnswerRecord),
    Judgement(JudgementRecord),
}

/// What an earlier evaluation left, by (model, item).
#[derive(Debug, Default)]
pub struct Stored {
    answers: HashMap<(String, String), AnswerRecord>,
    judgements: HashMap<(String, String), Vec<JudgementRecord>>,
    pub lines: usize,
}

impl Stored {
    /// Reads `dir/eval.jsonl` (nothing when it does not exist). A torn last line (a kill while
    /// it was written) is skipped with a warning; a bad line elsewhere is an error naming it.
    pub fn read(dir: &Path) -> Result<Stored> {
        let path = dir.join(FILE);
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Stored::default()) };
        let mut stored = Stored::default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(line) {
                Ok(record) => stored.add(record),
                Err(e) if i + 1 == lines.len() && !text.ends_with('\n') => {
                    tracing::warn!("{}, line {}: an unfinished line is ignored ({e})", path.display(), i + 1);
                }
                Err(e) => {
                    return Err(Error::input(
                        format!("{}, line {}", path.display(), i + 1),
                        format!("not an eval record: {e}"),
                    ))
                }
            }
        }
        Ok(stored)
    }

    fn add(&mut self, record: Record) {
        self.lines += 1;
        match record {
            Record::Answer(a) => self.insert_answer(a),
            Record::Judgement(j) => self.insert_judgement(j),
        }
    }

    /// Keeps an answer just written (it replaces an older one of the same model and item).
    pub fn insert_answer(&mut self, a: AnswerRecord) {
        self.answers.insert((a.model.clone(), a.item.clone()), a);
    }

    /// Keeps a judgement just written (newest last).
    pub fn insert_judgement(&mut self, j: JudgementRecord) {
        self.judgements.entry((j.model.clone(), j.item.clone())).or_default().push(j);
    }

    /// The stored answer of `item` by `model`, if it was made with `generation`.
    pub fn answer(&self, model: &str, item: &str, generation: &str) -> Option<&AnswerRecord> {
        self.answers.get(&(model.to_string(), item.to_string())).filter(|a| a.generation == generation)
    }

    /// The newest judgement of `item` by `model` from this prompt and judge model.
    pub fn judgement(&self, model: &str, item: &str, prompt_hash: &str, judge_model: &str) -> Option<&JudgementRecord> {
        self.judgements
            .get(&(model.to_string(), item.to_string()))?
            .iter()
            .rev()
            .find(|j| j.prompt_hash == prompt_hash && j.judge_model == judge_model)
    }
}

/// Appends records to `eval.jsonl`, one flushed line each.
pub struct Writer {
    path: PathBuf,
    file: std::fs::File,
}

impl Writer {
    pub fn open(dir: &Path) -> Result<Writer> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join(FILE);
        // A line torn by an earlier kill is cut off, so the file is whole lines again and the
        // next record starts a line of its own.
        if let Ok(text) = std::fs::read(&path) {
            if !text.is_empty() && text.last() != Some(&b'\n') {
                let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let file =
                    std::fs::OpenOptions::new().write(true).open(&path).map_err(|e| Error::io(path.display(), e))?;
                file.set_len(keep as u64).map_err(|e| Error::io(path.display(), e))?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(path.display(), e))?;
        Ok(Writer { path, file })
    }

    pub fn write(&mut self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_string(record).map_err(|e| Error::runtime(e.to_string()))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(self.path.display(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judgement(item: &str, hash: &str, label: Option<Label>) -> Record {
        Record::Judgement(JudgementRecord {
            model: "m".into(),
            item: item.into(),
            judge_model: "j".into(),
            prompt_hash: hash.into(),
            label,
            judge_reply: "A".into(),
            attempts: 1,
            error: None,
            response: "r".into(),
        })
    }

    #[test]
    fn records_round_trip_and_the_newest_matching_judgement_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path()).unwrap();
        w.write(&judgement("i1", "h1", Some(Label::Incorrect))).unwrap();
        w.write(&judgement("i1", "h1", Some(Label::Correct))).unwrap();
        w.write(&judgement("i1", "h2", None)).unwrap();
        drop(w);
        let s = Stored::read(dir.path()).unwrap();
        assert_eq!(s.lines, 3);
        assert_eq!(s.judgement("m", "i1", "h1", "j").unwrap().label, Some(Label::Correct));
        assert_eq!(s.judgement("m", "i1", "h2", "j").unwrap().label, None);
        assert!(s.judgement("m", "i1", "h1", "other judge").is_none());
        assert!(s.judgement("m", "i2", "h1", "j").is_none());
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.contains("\"kind\":\"judgement\"") && text.contains("\"label\":\"CORRECT\""), "{text}");
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_cut_before_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path()).unwrap();
        w.write(&judgement("i1", "h1", Some(Label::Correct))).unwrap();
        drop(w);
        let path = dir.path().join(FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"kind\":\"judgement\",\"mod");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(Stored::read(dir.path()).unwrap().lines, 1);
        let mut w = Writer::open(dir.path()).unwrap();
        w.write(&judgement("i2", "h1", Some(Label::Correct))).unwrap();
        drop(w);
        let s = Stored::read(dir.path()).unwrap();
        assert_eq!(s.lines, 2);
        assert!(s.judgement("m", "i2", "h1", "j").is_some());
        // A bad line that is not the last one is an error naming it, never skipped silently.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.insert_str(0, "not json\n");
        std::fs::write(&path, &text).unwrap();
        let err = Stored::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
