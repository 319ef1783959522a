//! One JSON POST with bounded retries.
//!
//! Worth another attempt: a refused, reset or cut connection, a timeout, 429 and 5xx (a server
//! starting, overloaded or restarting). Final at once: any other status (a 4xx will not change
//! on retry). Each attempt has `timeout_s`; so a call takes at most
//! `(max_retries + 1) · timeout_s` plus the backoffs. Nothing here logs or returns the API key.

use std::time::Duration;

use lrpo_core::{Error, Result};

use crate::answer::excerpt;
use crate::config::{RemoteRewardConfig, Secret};

/// Largest answer read: rewards for a batch are a few KB; this only stops a runaway server.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

#[derive(Debug)]
pub struct Client {
    url: String,
    agent: ureq::Agent,
    key: Option<(String, Secret)>,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    max_backoff: Duration,
}

/// Why one attempt failed.
enum Failure {
    Retry(String),
    Final(String),
}

impl Client {
    pub fn new(config: &RemoteRewardConfig, key: Option<Secret>) -> Client {
        let mut agent = ureq::Agent::config_builder().http_status_as_error(false);
        // A proxy from the environment is for the outside world, never for a local server.
        if is_loopback(&config.url) {
            agent = agent.proxy(None);
        }
        let key = key.map(|k| {
            let header = config.api_key_header.clone();
            let value = if header.eq_ignore_ascii_case("authorization") { format!("Bearer {}", k.0) } else { k.0 };
            (header, Secret(value))
        });
        Client {
            url: config.url.clone(),
            agent: ureq::Agent::new_with_config(agent.build()),
            key,
            timeout: Duration::from_secs_f64(config.timeout_s),
            max_retries: config.max_retries,
            backoff: Duration::from_secs_f64(config.backoff_s),
            max_backoff: Duration::from_secs_f64(config.max_backoff_s),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `body` (JSON text) and returns the answer's body of a 2xx.
    pub fn post(&self, body: &str) -> Result<String> {
        let mut wait = self.backoff;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let why = match self.attempt(body) {
                Ok(text) => return Ok(text),
                Err(Failure::Final(why)) => return Err(Error::runtime(format!("reward server {}: {why}", self.url))),
                Err(Failure::Retry(why)) => why,
            };
            if attempt > self.max_retries {
                return Err(Error::runtime(format!(
                    "reward server {}: {why} (gave up after {attempt} attempt(s); max_retries = {}, timeout_s = {})",
                    self.url,
                    self.max_retries,
                    self.timeout.as_secs_f64()
                )));
            }
            tracing::warn!("reward server {}: {why}; retrying in {:.2} s", self.url, wait.as_secs_f64());
            std::thread::sleep(wait);
            wait = (wait * 2).min(self.max_backoff);
        }
    }

    fn attempt(&self, body: &str) -> Result<String, Failure> {
        let mut request = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(self.timeout))
            .build()
            .header("Content-Type", "application/json");
        if let Some((header, value)) = &self.key {
            request = request.header(header.as_str(), value.0.as_str());
        }
        let mut response = request.send(body).map_err(classify)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| Failure::Retry(format!("reading the answer (status {status}): {e}")))?;
        match status {
            200..=299 => Ok(text),
            429 | 500..=599 => Err(Failure::Retry(format!("status {status}: {}", self.redact(&excerpt(&text))))),
            _ => Err(Failure::Final(format!("status {status}: {}", self.redact(&excerpt(&text))))),
        }
    }

    /// A server that echoes the request's headers in its error page must not put the key into
    /// our errors and logs.
    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some((_, value)) => {
                let bare = value.0.strip_prefix("Bearer ").unwrap_or(&value.0);
                text.replace(bare, "<redacted>")
            }
            None => text.to_string(),
        }
    }
}

fn is_loopback(url: &str) -> bool {
    let host = url.split_once("://").map_or(url, |(_, rest)| rest);
    ["127.", "localhost", "[::1]"].iter().any(|p| host.starts_with(p))
}

fn classify(e: ureq::Error) -> Failure {
    use std::io::ErrorKind as K;
    match &e {
        ureq::Error::Timeout(_) => Failure::Retry(format!("no answer within timeout_s ({e})")),
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused => Failure::Retry(format!("connection refused, is the server running? ({e})")),
            K::TimedOut | K::WouldBlock => Failure::Retry(format!("no answer within timeout_s ({e})")),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof | K::NotConnected => {
                Failure::Retry(format!("the connection was cut ({e})"))
            }
            _ => Failure::Final(e.to_string()),
        },
        ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => Failure::Retry(e.to_string()),
        _ => Failure::Final(e.to_string()),
    }
}
