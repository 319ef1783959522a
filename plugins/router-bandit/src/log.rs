//! What the bandit reports for the router log (spec §3.10): per key, the softmax and the
//! effective (ε-mixed) distribution. The host writes the line.

use crate::values::{effective, softmax, sum_logits, ValueTable};
use lrpo_core::{ContextReport, Lang, RouterReport};

/// Prefix of the extra keys showing the composed regional distribution actually sampled from
/// (`"topic+region:Regional Knowledge|China"`). The reference logs only single vectors.
pub const COMPOSED_PREFIX: &str = "topic+region:";

/// What the report is computed from.
pub struct LogInput<'a> {
    pub languages: &'a [Lang],
    pub q_topic: &'a ValueTable,
    pub q_region: &'a ValueTable,
    pub regional_topic: &'a str,
    pub temperature: f64,
    pub epsilon: f64,
    pub max_keys: usize,
}

impl LogInput<'_> {
    fn context(&self, key: String, logits: &[f64]) -> ContextReport {
        let p = softmax(logits, self.temperature);
        let e = effective(&p, self.epsilon);
        ContextReport { key, probs: e, extras: vec![("softmax".into(), p)] }
    }

    /// `topic:` keys, then `region:` keys (each capped at `max_keys`, insertion order), then
    /// one composed key per logged region; the current temperature and ε as extras.
    pub fn report(&self) -> RouterReport {
        let len = self.languages.len();
        let mut contexts = Vec::new();
        for (name, q) in self.q_topic.iter().take(self.max_keys) {
            contexts.push(self.context(format!("topic:{name}"), &sum_logits(len, [q])));
        }
        let regions: Vec<(&str, &[f32])> = self.q_region.iter().take(self.max_keys).collect();
        for (name, q) in &regions {
            contexts.push(self.context(format!("region:{name}"), &sum_logits(len, [*q])));
        }
        // Read without creating the key: logging must not change the state.
        let zeros = vec![0.0f32; len];
        let topic = self.q_topic.get(self.regional_topic).unwrap_or(&zeros);
        for (name, q) in &regions {
            let key = format!("{COMPOSED_PREFIX}{}|{name}", self.regional_topic);
            contexts.push(self.context(key, &sum_logits(len, [topic, *q])));
        }
        RouterReport {
            languages: self.languages.to_vec(),
            contexts,
            extras: vec![("temperature".into(), self.temperature), ("epsilon".into(), self.epsilon)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            languages: &langs,
            q_topic: &q_topic,
            q_region: &q_region,
            regional_topic: "Regional Knowledge",
            temperature: 1.0,
            epsilon: 0.0,
            max_keys: 2,
        };
        let report = input.report();
        let keys: Vec<&str> = report.contexts.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            ["topic:Zeta", "topic:Alpha", "region:China", "topic+region:Regional Knowledge|China"],
            "cap of 2 topic keys"
        );
        let composed = &report.contexts[3];
        assert_eq!(composed.extras, vec![("softmax".to_string(), vec![0.5, 0.5])]);
        assert_eq!(composed.probs, vec![0.5, 0.5]);
        assert_eq!(report.languages, langs);
    }
}
