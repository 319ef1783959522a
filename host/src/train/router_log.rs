//! The router log (`router_log.jsonl`, spec §3.10) and the console's router line, both from the
//! typed [`RouterReport`] every router returns, so they work for any router.
//!
//! A line is `{"step":N,"probs":{KEY:{EXTRA:{LANG:P,..},..,"effective":{LANG:P,..}},..},EXTRA:X,..}`:
//! the reference's `step` and `probs.KEY.effective` (and, for the bandit, `softmax`), keys in
//! the router's order, non-ASCII escaped as Python's `json.dumps` does.

use lrpo_core::{ContextReport, Lang, RouterReport};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// One log line for `report` after training step `step`.
pub fn log_line(step: u64, report: &RouterReport) -> String {
    let line = serde_json::to_string(&Line { step, report }).expect("strings and numbers always serialise");
    ascii_escape(&line)
}

/// Reads a log line back (keys and languages come back sorted, not in the router's order);
/// `None` for a line that is not a router log line.
pub fn parse_line(line: &str) -> Option<(u64, RouterReport)> {
    from_json(&serde_json::from_str(line).ok()?)
}

/// [`parse_line`] of a line already parsed as JSON.
pub fn from_json(v: &Value) -> Option<(u64, RouterReport)> {
    let step = v.get("step")?.as_u64()?;
    let mut languages: Vec<Lang> = Vec::new();
    let probs = v.get("probs")?.as_object()?;
    for dist in probs.values() {
        for lang in dist.get("effective").and_then(Value::as_object).into_iter().flat_map(|e| e.keys()) {
            let lang = Lang::new(lang);
            if !languages.contains(&lang) {
                languages.push(lang);
            }
        }
    }
    languages.sort();
    let vector = |m: &serde_json::Map<String, Value>| -> Vec<f64> {
        languages.iter().map(|l| m.get(l.as_str()).and_then(Value::as_f64).unwrap_or(0.0)).collect()
    };
    let mut contexts = Vec::new();
    for (key, dist) in probs {
        let Some(effective) = dist.get("effective").and_then(Value::as_object) else { continue };
        let extras = dist
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| *name != "effective")
            .filter_map(|(name, m)| Some((name.clone(), vector(m.as_object()?))))
            .collect();
        contexts.push(ContextReport { key: key.clone(), probs: vector(effective), extras });
    }
    let extras = v
        .as_object()?
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "step" | "probs"))
        .filter_map(|(name, x)| Some((name.clone(), x.as_f64()?)))
        .collect();
    Some((step, RouterReport { languages, contexts, extras }))
}

/// The console's router part: the five most likely languages averaged over the contexts,
/// e.g. `en 0.142 fr 0.091 de 0.088`; `None` for a report without contexts.
pub fn console_line(report: &RouterReport) -> Option<String> {
    let top = report.top_languages(5);
    (!top.is_empty()).then(|| top.iter().map(|(l, p)| format!("{l} {p:.3}")).collect::<Vec<_>>().join(" "))
}

struct Line<'a> {
    step: u64,
    report: &'a RouterReport,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("step", &self.step)?;
        map.serialize_entry("probs", &Contexts(self.report))?;
        for (name, x) in &self.report.extras {
            map.serialize_entry(name, x)?;
        }
        map.end()
    }
}

struct Contexts<'a>(&'a RouterReport);

impl Serialize for Contexts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.contexts.len()))?;
        for c in &self.0.contexts {
            map.serialize_entry(&c.key, &Context { languages: &self.0.languages, context: c })?;
        }
        map.end()
    }
}

struct Context<'a> {
    languages: &'a [Lang],
    context: &'a ContextReport,
}

impl Serialize for Context<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        // The router's own vectors first: the reference writes `softmax` before `effective`.
        for (name, v) in &self.context.extras {
            map.serialize_entry(name, &ByLanguage(self.languages, v))?;
        }
        map.serialize_entry("effective", &ByLanguage(self.languages, &self.context.probs))?;
        map.end()
    }
}

struct ByLanguage<'a>(&'a [Lang], &'a [f64]);

impl Serialize for ByLanguage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (lang, p) in self.0.iter().zip(self.1) {
            map.serialize_entry(lang.as_str(), p)?;
        }
        map.end()
    }
}

/// Escapes non-ASCII characters as `\uXXXX` (surrogate pairs above U+FFFF), matching Python's
/// `json.dumps` default. Safe on a whole JSON text: non-ASCII can only occur inside strings.
fn ascii_escape(json: &str) -> String {
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

    fn report() -> RouterReport {
        RouterReport {
            languages: vec![Lang::new("en"), Lang::new("fr")],
            contexts: vec![
                ContextReport {
                    key: "topic:a".into(),
                    probs: vec![0.6, 0.4],
                    extras: vec![("softmax".into(), vec![0.9, 0.1])],
                },
                ContextReport { key: "region:Côte d'Ivoire".into(), probs: vec![0.2, 0.8], extras: vec![] },
            ],
            extras: vec![("temperature".into(), 0.5)],
        }
    }

    #[test]
    fn a_line_has_the_reference_fields_in_order_and_is_ascii() {
        let line = log_line(3, &report());
        assert_eq!(
            line,
            r#"{"step":3,"probs":{"topic:a":{"softmax":{"en":0.9,"fr":0.1},"effective":{"en":0.6,"fr":0.4}},"region:C\u00f4te d'Ivoire":{"effective":{"en":0.2,"fr":0.8}}},"temperature":0.5}"#
        );
    }

    #[test]
    fn a_line_reads_back_as_the_report() {
        let (step, back) = parse_line(&log_line(3, &report())).unwrap();
        assert_eq!(step, 3);
        assert_eq!(back.languages, report().languages);
        assert_eq!(back.extras, report().extras);
        // Keys come back sorted.
        let a = back.contexts.iter().find(|c| c.key == "topic:a").unwrap();
        assert_eq!(a, &report().contexts[0]);
        assert!(back.contexts.iter().any(|c| c.key == "region:Côte d'Ivoire" && c.probs == vec![0.2, 0.8]));
        assert_eq!(parse_line("not json"), None);
        assert_eq!(parse_line(r#"{"probs":{}}"#), None);
    }

    #[test]
    fn the_console_line_averages_over_contexts() {
        assert_eq!(console_line(&report()).as_deref(), Some("fr 0.600 en 0.400"));
        assert_eq!(console_line(&RouterReport::default()), None);
    }
}
