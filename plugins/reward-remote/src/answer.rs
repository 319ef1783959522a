//! Reading a reward server's answer: `{"<score_key>": [r0, r1, ...]}`, one number per item, in
//! the order sent. `[[r0], [r1], ...]` (a reward head's `[n, 1]` output turned into lists) is
//! accepted as well; a longer inner list is an error, since it is not clear which number is the
//! reward. A bare list without the object is not accepted: OpenRLHF's client would refuse it too.
//!
//! Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity`, which are not JSON; they
//! are read here so that the error can name the item instead of failing on the whole body.

use std::borrow::Cow;

use lrpo_core::{Error, Result};
use serde_json::Value;

/// The rewards of one request for items `first..first + expected` of the call.
pub fn read_rewards(body: &str, score_key: &str, expected: usize, first: usize, url: &str) -> Result<Vec<f64>> {
    let fail = |why: String| Error::runtime(format!("reward server {url}: {why}"));
    let value: Value = serde_json::from_str(&quote_non_finite(body))
        .map_err(|e| fail(format!("the answer is not JSON ({e}): {}", excerpt(body))))?;
    let Some(object) = value.as_object() else {
        return Err(fail(format!("the answer is not a JSON object with `{score_key}`: {}", excerpt(body))));
    };
    let Some(list) = object.get(score_key) else {
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        return Err(fail(format!("the answer has no `{score_key}` (it has: {})", keys.join(", "))));
    };
    let Some(list) = list.as_array() else {
        return Err(fail(format!("`{score_key}` is not a list: {}", excerpt(&list.to_string()))));
    };
    if list.len() != expected {
        return Err(fail(format!(
            "`{score_key}` has {} entries for the {expected} items sent (items {first}..{})",
            list.len(),
            first + expected
        )));
    }
    list.iter()
        .enumerate()
        .map(|(k, v)| {
            let item = first + k;
            let number = match v {
                Value::Array(inner) if inner.len() == 1 => &inner[0],
                Value::Array(inner) => {
                    return Err(fail(format!(
                        "item {item}: a list of {} numbers; one reward per item is expected",
                        inner.len()
                    )))
                }
                other => other,
            };
            let r = match number {
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                Value::String(s) if s == "NaN" => f64::NAN,
                Value::String(s) if s == "Infinity" => f64::INFINITY,
                Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
                Value::Null => return Err(fail(format!("item {item}: the reward is null"))),
                other => return Err(fail(format!("item {item}: {} is not a number", excerpt(&other.to_string())))),
            };
            if r.is_nan() {
                Err(fail(format!("item {item}: the reward is NaN")))
            } else if r.is_infinite() {
                Err(fail(format!("item {item}: the reward is {r}")))
            } else {
                Ok(r)
            }
        })
        .collect()
}

/// Quotes the bare tokens `NaN`, `Infinity`, `-Infinity` outside strings.
fn quote_non_finite(body: &str) -> Cow<'_, str> {
    if !(body.contains("NaN") || body.contains("Infinity")) {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t)) {
            out.push('"');
            out.push_str(token);
            out.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The start of a text, for an error message.
pub fn excerpt(text: &str) -> String {
    let text = text.trim();
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:5000/get_reward";

    fn read(body: &str, n: usize) -> Result<Vec<f64>> {
        read_rewards(body, "rewards", n, 10, URL)
    }

    #[test]
    fn flat_and_single_element_lists() {
        assert_eq!(read(r#"{"rewards": [0.5, 1, -2e-1]}"#, 3).unwrap(), [0.5, 1.0, -0.2]);
        assert_eq!(read(r#"{"rewards": [[0.5], [0.25]], "extra_logs": {}}"#, 2).unwrap(), [0.5, 0.25]);
        assert!(read(r#"{"rewards": []}"#, 0).unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_item_and_the_url() {
        let cases = [
            (r#"{"rewards": [0.5, NaN]}"#, 2, "item 11: the reward is NaN"),
            (r#"{"rewards": [Infinity, 0]}"#, 2, "item 10: the reward is inf"),
            (r#"{"rewards": [0, -Infinity]}"#, 2, "item 11: the reward is -inf"),
            (r#"{"rewards": [0, null]}"#, 2, "item 11: the reward is null"),
            (r#"{"rewards": [0, "0.5"]}"#, 2, "item 11: \"0.5\" is not a number"),
            (r#"{"rewards": [[0.1, 0.2]]}"#, 1, "item 10: a list of 2 numbers"),
            (r#"{"rewards": [0.5]}"#, 2, "1 entries for the 2 items sent (items 10..12)"),
            (r#"{"scores": [0.5]}"#, 1, "no `rewards` (it has: scores)"),
            (r#"{"rewards": 0.5}"#, 1, "`rewards` is not a list"),
            (r#"[0.5]"#, 1, "not a JSON object"),
            ("<html>502 Bad Gateway</html>", 1, "not JSON"),
        ];
        for (body, n, want) in cases {
            let e = read(body, n).unwrap_err().to_string();
            assert!(e.starts_with(&format!("reward server {URL}: ")) && e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn non_finite_tokens_inside_strings_stay_text() {
        let body = r#"{"note": "NaN \"Infinity\" here", "rewards": [0.5]}"#;
        assert_eq!(quote_non_finite(body), body);
        assert_eq!(read(body, 1).unwrap(), [0.5]);
    }
}
