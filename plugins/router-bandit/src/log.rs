//! The router's JSONL log line (spec §3.10).

use crate::values::{effective, softmax, sum_logits, ValueTable};
use indexmap::IndexMap;
use lrpo_core::Lang;
use serde::Serialize;

/// Prefix of the extra keys showing the composed regional distribution actually sampled from
/// (`"topic+region:Regional Knowledge|China"`). The reference logs only single vectors.
pub const COMPOSED_PREFIX: &str = "topic+region:";

#[derive(Serialize)]
struct LogLine<'a> {
    step: u64,
    probs: IndexMap<String, Distributions<'a>>,
}

#[derive(Serialize)]
struct Distributions<'a> {
    softmax: IndexMap<&'a str, f64>,
    effective: IndexMap<&'a str, f64>,
}

/// What the log line is computed from.
pub struct LogInput<'a> {
    pub step: u64,
    pub languages: &'a [Lang],
    pub q_topic: &'a ValueTable,
    pub q_region: &'a ValueTable,
    pub regional_topic: &'a str,
    pub temperature: f64,
    pub epsilon: f64,
    pub max_keys: usize,
}

impl LogInput<'_> {
    fn distributions(&self, logits: &[f64]) -> Distributions<'_> {
        let p = softmax(logits, self.temperature);
        let e = effective(&p, self.epsilon);
        let codes = self.languages.iter().map(Lang::as_str);
        Distributions {
            softmax: codes.clone().zip(p).collect(),
            effective: codes.zip(e).collect(),
        }
    }

    /// One JSON object: `topic:` keys, then `region:` keys (each capped at `max_keys`, insertion
    /// order), then one composed key per logged region.
    pub fn line(&self) -> String {
        let len = self.languages.len();
        let mut probs = IndexMap::new();
        for (name, q) in self.q_topic.iter().take(self.max_keys) {
            probs.insert(
                format!("topic:{name}"),
                self.distributions(&sum_logits(len, [q])),
            );
        }
        let regions: Vec<(&str, &[f32])> = self.q_region.iter().take(self.max_keys).collect();
        for (name, q) in &regions {
            probs.insert(
                format!("region:{name}"),
                self.distributions(&sum_logits(len, [*q])),
            );
        }
        // Read without creating the key: logging must not change the state.
        let zeros = vec![0.0f32; len];
        let topic = self.q_topic.get(self.regional_topic).unwrap_or(&zeros);
        for (name, q) in &regions {
            let key = format!("{COMPOSED_PREFIX}{}|{name}", self.regional_topic);
            probs.insert(key, self.distributions(&sum_logits(len, [topic, *q])));
        }
        let line = serde_json::to_string(&LogLine {
            step: self.step,
            probs,
        })
        .expect("strings and finite floats always serialise");
        ascii_escape(&line)
    }
}

/// Escapes non-ASCII characters as `\uXXXX` (surrogate pairs above U+FFFF), matching Python's
/// `json.dumps` default. Safe on a whole JSON text: non-ASCII can only occur inside strings.
pub fn ascii_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for ch in json.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_escape_matches_python() {
        assert_eq!(
            ascii_escape(r#"{"k":"Côte 😀"}"#),
            r#"{"k":"C\u00f4te \ud83d\ude00"}"#
        );
        let back: serde_json::Value =
            serde_json::from_str(&ascii_escape(r#"{"k":"Côte 😀"}"#)).unwrap();
        assert_eq!(back["k"], "Côte 😀");
    }

    #[test]
    fn keys_keep_insertion_order_and_respect_the_cap() {
        let langs = [Lang::new("en"), Lang::new("zh")];
        let mut q_topic = ValueTable::new();
        q_topic.insert("Zeta", vec![0.0, 0.0]);
        q_topic.insert("Alpha", vec![0.0, 0.0]);
        q_topic.insert("Regional Knowledge", vec![1.0, 0.0]);
        let mut q_region = ValueTable::new();
        q_region.insert("China", vec![0.0, 1.0]);
        let input = LogInput {
            step: 3,
            languages: &langs,
            q_topic: &q_topic,
            q_region: &q_region,
            regional_topic: "Regional Knowledge",
            temperature: 1.0,
            epsilon: 0.0,
            max_keys: 2,
        };
        let line = input.line();
        let zeta = line.find("topic:Zeta").unwrap();
        assert!(zeta < line.find("topic:Alpha").unwrap());
        assert!(
            !line.contains("topic:Regional Knowledge\""),
            "cap of 2 topic keys: {line}"
        );
        assert!(
            line.contains(
                "\"topic+region:Regional Knowledge|China\":{\"softmax\":{\"en\":0.5,\"zh\":0.5}"
            ),
            "{line}"
        );
        assert!(line.starts_with("{\"step\":3,\"probs\":{"));
    }
}
