//! The judge: an OpenAI-compatible `/v1/chat/completions` client and the strict reading of its
//! reply as one of four labels.
//!
//! Each item is one request at temperature 0. A refused or cut connection, a timeout, a 429, a
//! 5xx and a reply that is not exactly one label are retried with backoff (the model may say
//! something else the next time; a server may recover); any other 4xx is final at once. What
//! still fails is a judge failure: counted and shown on its own, never read as INCORRECT.

use lrpo_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Largest reply body read; a one-letter grade is tiny, an error page may not be.
const BODY_LIMIT: u64 = 4 * 1024 * 1024;

/// The judge's grade (LRPO spec §7): A, B, C, D in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Label {
    Correct,
    CorrectButWrongLanguage,
    Incorrect,
    NotAttempted,
}

impl Label {
    pub const ALL: [Label; 4] = [Label::Correct, Label::CorrectButWrongLanguage, Label::Incorrect, Label::NotAttempted];

    pub fn letter(self) -> char {
        match self {
            Label::Correct => 'A',
            Label::CorrectButWrongLanguage => 'B',
            Label::Incorrect => 'C',
            Label::NotAttempted => 'D',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Label::Correct => "CORRECT",
            Label::CorrectButWrongLanguage => "CORRECT_BUT_WRONG_LANGUAGE",
            Label::Incorrect => "INCORRECT",
            Label::NotAttempted => "NOT_ATTEMPTED",
        }
    }

    fn from_letter(c: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| c.len() == 1 && c.eq_ignore_ascii_case(&l.letter().to_string()))
    }

    fn from_name(s: &str) -> Option<Label> {
        let s = s.trim().replace([' ', '-'], "_");
        Label::ALL.into_iter().find(|l| s.eq_ignore_ascii_case(l.name()))
    }
}

/// Reads a judge reply as one label, or `None`. Accepted, after trimming whitespace, a
/// reasoning model's leading `<think>...</think>`, markdown emphasis, quotes, brackets and one
/// final period: a letter (`B`), a label name (`INCORRECT`), or a letter with its own name
/// (`C: INCORRECT`, `C) INCORRECT`, `C. INCORRECT`, `C - INCORRECT`). Anything else, including
/// a letter with another label's name or a sentence around the grade, is unparseable: guessing
/// would bias the score.
pub fn parse_label(reply: &str) -> Option<Label> {
    let mut text = reply.trim();
    if let Some(rest) = text.strip_prefix("<think>") {
        text = rest.split_once("</think>")?.1.trim();
    }
    let strip = |t: &str| -> String {
        let t = t.trim().trim_matches(|c: char| matches!(c, '*' | '`' | '"' | '\'' | '_') || c.is_whitespace());
        let t = t.strip_suffix('.').unwrap_or(t).trim();
        let t = if t.starts_with(['(', '[']) && t.ends_with([')', ']']) { &t[1..t.len() - 1] } else { t };
        t.trim().to_string()
    };
    let text = strip(text);
    if let Some(label) = Label::from_letter(&text).or_else(|| Label::from_name(&text)) {
        return Some(label);
    }
    // A letter followed by its label's name.
    let (letter, rest) = text.split_at(text.char_indices().nth(1).map_or(text.len(), |(i, _)| i));
    let letter = Label::from_letter(letter)?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix([':', ')', '.', '-', '=']).unwrap_or(rest);
    let named = Label::from_name(&strip(rest))?;
    (named == letter).then_some(letter)
}

/// How the judge is reached. Its `Debug` leaves the API key out.
#[derive(Clone)]
pub struct JudgeSettings {
    /// The base URL, without `/v1` (see [`normalise_url`]).
    pub base: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub max_tokens: u32,
}

impl std::fmt::Debug for JudgeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeSettings")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

/// The outcome of judging one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `None`: a judge failure (see `error`).
    pub label: Option<Label>,
    /// The judge's last reply text (empty when none came back).
    pub reply: String,
    pub attempts: u32,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

enum Failure {
    Transient(String),
    Final(String),
}

/// `http://host:8000`, `http://host:8000/`, `.../v1` and `.../v1/chat/completions` all name one
/// endpoint; returns the base without `/v1`. Only http and https.
pub fn normalise_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => {}
        _ => {
            return Err(Error::config(
                "--judge-url",
                format!("`{url}` is not an http(s) URL, e.g. http://127.0.0.1:8000 or https://api.openai.com/v1"),
            ))
        }
    }
    let url = url.strip_suffix("/chat/completions").unwrap_or(url);
    Ok(url.strip_suffix("/v1").unwrap_or(url).to_string())
}

pub struct Judge {
    settings: JudgeSettings,
    agent: ureq::Agent,
}

impl Judge {
    pub fn new(settings: JudgeSettings) -> Judge {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections_per_host(64);
        let host = settings.base.split_once("://").map_or(settings.base.as_str(), |(_, h)| h);
        // A proxy from the environment is for the outside world, never for a judge on this host.
        if ["127.", "localhost", "[::1]"].iter().any(|p| host.starts_with(p)) {
            config = config.proxy(None);
        }
        Judge { agent: ureq::Agent::new_with_config(config.build()), settings }
    }

    pub fn settings(&self) -> &JudgeSettings {
        &self.settings
    }

    fn auth(&self) -> Option<String> {
        self.settings.api_key.as_ref().map(|k| format!("Bearer {k}"))
    }

    /// Checks before anything is generated that the endpoint answers and serves the model, so
    /// a typo in the URL or the model name is exit 2 in seconds. An endpoint without
    /// `/v1/models` (some proxies) is let through with a warning.
    pub fn check(&self) -> Result<()> {
        let url = format!("{}/v1/models", self.settings.base);
        let mut req = self.agent.get(&url).config().timeout_global(Some(self.settings.timeout)).build();
        if let Some(a) = self.auth() {
            req = req.header("Authorization", &a);
        }
        let mut response = req.call().map_err(|e| {
            Error::config("--judge-url", format!("cannot reach the judge at {url}: {e} (is the server running?)"))
        })?;
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(BODY_LIMIT).read_to_string().unwrap_or_default();
        match status {
            200 => {}
            401 | 403 => {
                return Err(Error::config(
                    "--judge-api-key-env",
                    format!("the judge at {url} refused the request (status {status}): check the API key"),
                ))
            }
            _ => {
                tracing::warn!("judge: GET {url} gave status {status}; the model name is not checked");
                return Ok(());
            }
        }
        let listed: Option<Vec<String>> = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
            v.get("data")?.as_array().map(|a| a.iter().filter_map(|m| m["id"].as_str().map(String::from)).collect())
        });
        match listed {
            Some(ids) if !ids.contains(&self.settings.model) => Err(Error::config(
                "--judge-model",
                format!(
                    "the judge at {} does not serve `{}`; it serves: {}",
                    self.settings.base,
                    self.settings.model,
                    ids.join(", ")
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Judges one prompt, with its retries.
    pub fn judge(&self, prompt: &str) -> Verdict {
        let body = json!({
            "model": self.settings.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "max_tokens": self.settings.max_tokens,
        });
        let mut backoff = FIRST_BACKOFF;
        let mut reply = String::new();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let why = match self.attempt(&body) {
                Ok(text) => match parse_label(&text) {
                    Some(label) => return Verdict { label: Some(label), reply: text, attempts, error: None },
                    None => {
                        reply = text;
                        Failure::Transient("the reply is not one label".to_string())
                    }
                },
                Err(f) => f,
            };
            match why {
                Failure::Final(why) => return Verdict { label: None, reply, attempts, error: Some(why) },
                Failure::Transient(why) if attempts > self.settings.retries => {
                    return Verdict {
                        label: None,
                        reply,
                        attempts,
                        error: Some(format!("{why} (after {attempts} attempts)")),
                    }
                }
                Failure::Transient(why) => {
                    tracing::debug!("judge: {why}; retrying in {:.1} s", backoff.as_secs_f64());
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn attempt(&self, body: &Value) -> std::result::Result<String, Failure> {
        let url = format!("{}/v1/chat/completions", self.settings.base);
        let started = Instant::now();
        let mut req = self.agent.post(&url).config().timeout_global(Some(self.settings.timeout)).build();
        if let Some(a) = self.auth() {
            req = req.header("Authorization", &a);
        }
        let mut response = req.send_json(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => {
                Failure::Transient(format!("no answer within {:.1} s", started.elapsed().as_secs_f64()))
            }
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::HostNotFound => Failure::Transient(format!("POST {url}: {e}")),
            other => Failure::Final(format!("POST {url}: {other}")),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| Failure::Transient(format!("reading the judge's reply (status {status}): {e}")))?;
        let short: String = text.chars().take(300).collect();
        if status == 429 || status >= 500 {
            return Err(Failure::Transient(format!("status {status}: {short}")));
        }
        if status >= 400 {
            return Err(Failure::Final(format!("status {status}: {short}")));
        }
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| Failure::Transient(format!("a reply that is not JSON ({e}): {short}")))?;
        match value.pointer("/choices/0/message/content").and_then(Value::as_str) {
            Some(content) => Ok(content.to_string()),
            None => Err(Failure::Transient(format!("no choices[0].message.content in the reply: {short}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_testkit::judge::{JudgeServer, Reply};

    fn client(server: &JudgeServer, timeout_ms: u64, retries: u32) -> Judge {
        Judge::new(JudgeSettings {
            base: normalise_url(&server.url).unwrap(),
            model: "judge".into(),
            api_key: Some("sk-test".into()),
            timeout: Duration::from_millis(timeout_ms),
            retries,
            max_tokens: 8,
        })
    }

    #[test]
    fn garbage_a_500_and_a_late_reply_are_retried_until_a_label_comes() {
        let server = JudgeServer::start(&["judge"], |prompt, attempt| match (prompt, attempt) {
            ("garbage", 0) => Reply::Text("Well, I would say it is mostly right".into()),
            ("500", 0) => Reply::Status(500),
            ("late", 0) => Reply::Late(Duration::from_millis(900), "A".into()),
            ("notjson", 0) => Reply::NotJson,
            _ => Reply::Text("C".into()),
        });
        let judge = client(&server, 400, 2);
        for prompt in ["garbage", "500", "late", "notjson"] {
            let v = judge.judge(prompt);
            assert_eq!((v.label, v.attempts, v.reply.as_str()), (Some(Label::Incorrect), 2, "C"), "{prompt}: {v:?}");
        }
        let calls = server.calls();
        assert_eq!(calls.len(), 8);
        let body = &calls[0].body;
        assert_eq!((body["temperature"].as_f64(), body["max_tokens"].as_u64()), (Some(0.0), Some(8)));
        assert_eq!(calls[0].authorization.as_deref(), Some("Bearer sk-test"));
        assert!(!format!("{:?}", judge.settings()).contains("sk-test"));
    }

    #[test]
    fn what_stays_unparseable_is_a_failure_with_the_reply_and_a_4xx_is_not_retried() {
        let server = JudgeServer::start(&["judge"], |prompt, _| match prompt {
            "400" => Reply::Status(400),
            _ => Reply::Text("The answer is B.".into()),
        });
        let judge = client(&server, 2000, 2);
        let v = judge.judge("chatty");
        assert_eq!((v.label, v.attempts, v.reply.as_str()), (None, 3, "The answer is B."));
        assert!(v.error.unwrap().contains("not one label"));
        let v = judge.judge("400");
        assert_eq!((v.label, v.attempts), (None, 1));
        assert!(v.error.unwrap().contains("status 400"));
    }

    #[test]
    fn the_check_refuses_an_unserved_model_and_an_unreachable_url() {
        let server = JudgeServer::start(&["judge", "other"], |_, _| Reply::Text("A".into()));
        client(&server, 2000, 0).check().unwrap();
        let mut wrong = client(&server, 2000, 0);
        wrong.settings.model = "gpt-typo".into();
        let err = wrong.check().unwrap_err();
        assert!(
            err.is_usage() && err.to_string().contains("gpt-typo") && err.to_string().contains("judge, other"),
            "{err}"
        );
        let url = server.url.clone();
        drop(server);
        std::thread::sleep(Duration::from_millis(50));
        let gone = Judge::new(JudgeSettings {
            base: url,
            ..client(&JudgeServer::start(&[], |_, _| Reply::Status(500)), 500, 0).settings
        });
        let err = gone.check().unwrap_err();
        assert!(err.is_usage() && err.to_string().contains("cannot reach"), "{err}");
    }

    #[test]
    fn letters_names_and_agreeing_pairs_parse() {
        let cases = [
            ("A", Label::Correct),
            (" b\n", Label::CorrectButWrongLanguage),
            ("**C**", Label::Incorrect),
            ("D.", Label::NotAttempted),
            ("(A)", Label::Correct),
            ("INCORRECT", Label::Incorrect),
            ("correct but wrong language", Label::CorrectButWrongLanguage),
            ("`NOT_ATTEMPTED`", Label::NotAttempted),
            ("B: CORRECT_BUT_WRONG_LANGUAGE", Label::CorrectButWrongLanguage),
            ("C) INCORRECT", Label::Incorrect),
            ("A - CORRECT", Label::Correct),
            ("<think>it says Paris</think>\nA", Label::Correct),
        ];
        for (text, want) in cases {
            assert_eq!(parse_label(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn anything_else_is_unparseable() {
        for text in [
            "",
            "E",
            "The answer is A",
            "A or B",
            "AB",
            "A: INCORRECT",
            "CORRECT.\nBecause the capital is Paris.",
            "<think>unfinished",
            "I cannot grade this.",
            "Correctly answered",
        ] {
            assert_eq!(parse_label(text), None, "{text:?}");
        }
    }

    #[test]
    fn urls_name_one_endpoint() {
        for url in ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/chat/completions"] {
            assert_eq!(normalise_url(url).unwrap(), "http://h:8000", "{url}");
        }
        assert_eq!(normalise_url("https://api.example.com/v1").unwrap(), "https://api.example.com");
        for bad in ["h:8000", "ftp://h", "http://", ""] {
            let err = normalise_url(bad).unwrap_err();
            assert!(err.is_usage() && err.to_string().contains("--judge-url"), "{bad}: {err}");
        }
    }
}
