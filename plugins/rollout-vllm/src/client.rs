//! JSON over HTTP to the server, with bounded retries.
//!
//! A refused or reset connection, a timeout and a 5xx are retried with exponential backoff, at
//! most `max_retries` times and never past the call's deadline (`timeout_s` from its start), so
//! a dead server ends a run within `timeout_s`. Anything else (4xx, a 200 that is not JSON) is
//! final at once. Every error names the method, the URL and what the server said.

use std::time::{Duration, Instant};

use lrpo_core::{Error, Result};
use serde_json::Value;

use crate::server::Liveness;

/// Largest response body read (a big group with log-probs is a few MB).
const BODY_LIMIT: u64 = 512 * 1024 * 1024;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// Sent as `Authorization: Bearer`; never printed (Debug shows it redacted).
    api_key: Option<Secret>,
    timeout: Duration,
    max_retries: u32,
    /// Set in `launch` mode: a call to a server that has exited fails at once.
    liveness: Option<Liveness>,
}

#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why one attempt failed.
enum Failure {
    /// Worth another attempt.
    Transient(String),
    Final(String),
}

impl Client {
    pub fn new(
        base: &str,
        api_key: Option<String>,
        timeout: Duration,
        max_retries: u32,
        liveness: Option<Liveness>,
    ) -> Client {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections_per_host(64);
        // A proxy from the environment is for the outside world, never for a local server.
        if is_loopback(base) {
            config = config.proxy(None);
        }
        let agent = ureq::Agent::new_with_config(config.build());
        Client { base: base.to_string(), agent, api_key: api_key.map(Secret), timeout, max_retries, liveness }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }

    /// One call with its retries. Errors are `Runtime`; start-up checks re-tag them.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = self.url(path);
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0u32;
        loop {
            if let Some(how) = self.liveness.as_ref().and_then(Liveness::exited) {
                return Err(Error::runtime(format!("vllm: {method} {url}: the managed vLLM server {how}")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let failure = match self.attempt(method, &url, body, left.max(Duration::from_millis(1))) {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            match failure {
                Failure::Final(why) => return Err(Error::runtime(format!("vllm: {method} {url}: {why}"))),
                Failure::Transient(why) if attempt > self.max_retries || left.is_zero() => {
                    return Err(Error::runtime(format!(
                        "vllm: {method} {url}: {why} (gave up after {attempt} attempt(s) in {:.1} s; \
                         timeout_s = {}, max_retries = {})",
                        started.elapsed().as_secs_f64(),
                        self.timeout.as_secs_f64(),
                        self.max_retries
                    )));
                }
                Failure::Transient(why) => {
                    tracing::warn!("vllm: {method} {url}: {why}; retrying in {:.2} s", backoff.as_secs_f64());
                    std::thread::sleep(backoff.min(left));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn attempt(&self, method: &str, url: &str, body: Option<&Value>, timeout: Duration) -> Result<Value, Failure> {
        let auth = self.api_key.as_ref().map(|k| format!("Bearer {}", k.0));
        let response = match (method, body) {
            ("GET", _) => {
                let mut req = self.agent.get(url).config().timeout_global(Some(timeout)).build();
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            (_, body) => {
                let mut req = self.agent.post(url).config().timeout_global(Some(timeout)).build();
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                match body {
                    Some(b) => req.send_json(b),
                    None => req.send_empty(),
                }
            }
        };
        let mut response = response.map_err(classify)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| Failure::Transient(format!("reading the response (status {status}): {e}")))?;
        if status >= 500 {
            return Err(Failure::Transient(format!("status {status}, the server said: {}", said(&text))));
        }
        if status >= 400 {
            return Err(Failure::Final(format!("status {status}, the server said: {}", said(&text))));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| Failure::Final(format!("status {status} with a body that is not JSON ({e}): {}", said(&text))))
    }
}

fn is_loopback(base: &str) -> bool {
    let host = base.split_once("://").map_or(base, |(_, rest)| rest);
    ["127.", "localhost", "[::1]"].iter().any(|p| host.starts_with(p))
}

fn classify(e: ureq::Error) -> Failure {
    use std::io::ErrorKind as K;
    match &e {
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::TimedOut
            | K::NotConnected
            | K::Interrupted => Failure::Transient(format!("{} ({e})", io_words(io.kind()))),
            _ => Failure::Final(e.to_string()),
        },
        ureq::Error::Timeout(_) => Failure::Transient(format!("no answer in time ({e})")),
        ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => Failure::Transient(e.to_string()),
        _ => Failure::Final(e.to_string()),
    }
}

fn io_words(kind: std::io::ErrorKind) -> &'static str {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => "connection refused (is the server running?)",
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => "the connection was cut",
        K::TimedOut => "timed out",
        _ => "connection failed",
    }
}

/// The server's error text: OpenAI-style `{"error": {"message"}}`, FastAPI's `{"detail"}`, or
/// the body itself, shortened.
pub fn said(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("detail"))
            .or_else(|| v.get("message"))
            .map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string()))
    });
    let text = message.unwrap_or_else(|| text.trim().to_string());
    const MAX: usize = 2000;
    if text.len() > MAX {
        let cut = (0..=MAX).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        format!("{}...", &text[..cut])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A one-thread HTTP server answering each connection with the next canned response.
    fn canned(responses: Vec<(u16, &'static str)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in responses {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body_in = vec![0u8; length];
                std::io::Read::read_exact(&mut reader, &mut body_in).unwrap();
                seen.push(head);
                let mut stream = stream;
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
            seen
        });
        (url, handle)
    }

    #[test]
    fn a_5xx_is_retried_then_the_answer_comes_through() {
        let (url, server) = canned(vec![(503, r#"{"error":{"message":"busy"}}"#), (200, r#"{"ok":true}"#)]);
        let client = Client::new(&url, Some("s3cret".into()), Duration::from_secs(10), 2, None);
        let v = client.post("/x", &serde_json::json!({})).unwrap();
        assert_eq!(v["ok"], true);
        let heads = server.join().unwrap();
        assert!(heads[1].to_ascii_lowercase().contains("authorization: bearer s3cret"), "{heads:?}");
        assert!(!format!("{client:?}").contains("s3cret"), "the key must not show in Debug output");
    }

    #[test]
    fn a_4xx_is_final_and_names_the_call_and_the_message() {
        let (url, _server) = canned(vec![(404, r#"{"error":{"message":"The model `nope` does not exist."}}"#)]);
        let client = Client::new(&url, None, Duration::from_secs(10), 3, None);
        let e = client.post("/v1/completions", &serde_json::json!({})).unwrap_err().to_string();
        assert!(e.contains(&format!("POST {url}/v1/completions: status 404")), "{e}");
        assert!(e.contains("the server said: The model `nope` does not exist."), "{e}");
    }

    #[test]
    fn refused_connections_give_up_after_the_retries() {
        let port = crate::server::free_port().unwrap();
        let client = Client::new(&format!("http://127.0.0.1:{port}"), None, Duration::from_secs(30), 2, None);
        let started = Instant::now();
        let e = client.get("/v1/models").unwrap_err().to_string();
        assert!(e.contains("connection refused") && e.contains("gave up after 3 attempt(s)"), "{e}");
        // 0.25 + 0.5 s of backoff.
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn the_deadline_bounds_a_call_that_never_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Accepts and never answers.
        let _keep = std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming() {
                held.push(s);
            }
        });
        let client = Client::new(&url, None, Duration::from_millis(700), 10, None);
        let started = Instant::now();
        let e = client.get("/health").unwrap_err().to_string();
        assert!(e.contains("gave up after"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[test]
    fn said_reads_the_usual_error_shapes() {
        assert_eq!(said(r#"{"error":{"message":"m"}}"#), "m");
        assert_eq!(said(r#"{"detail":"d"}"#), "d");
        assert_eq!(said(r#"{"error":"e"}"#), "e");
        assert_eq!(said("plain"), "plain");
    }
}
