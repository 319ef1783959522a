//! The `remote` reward's config table and its checks. Every error names its key.

use lrpo_core::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;

/// Where OpenRLHF's `serve_rm` listens by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:5000/get_reward";

/// Config table of `remote`; `{}` asks an OpenRLHF-style server on loopback port 5000.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteRewardConfig {
    /// The endpoint, `http://` (or `https://` when built with the `tls` feature). Credentials
    /// in the URL are refused: they would show in every log line and error; use `api_key_env`.
    pub url: String,
    /// Seconds one request may take, connecting and reading the answer included.
    pub timeout_s: f64,
    /// Extra attempts after a refused or cut connection, a timeout, a 429 or a 5xx.
    pub max_retries: u32,
    /// Wait before the first retry, in seconds; doubled for each further one.
    pub backoff_s: f64,
    /// The longest wait between two attempts.
    pub max_backoff_s: f64,
    /// Items per request; a step's batch is sent in requests of at most this many.
    pub batch_size: usize,
    /// Name of the environment variable holding the API key (never the key itself: a config
    /// file is copied into the run directory). Unset: no key is sent.
    pub api_key_env: Option<String>,
    /// Header that carries the key: `Authorization` gets `Bearer <key>`, any other header the
    /// key as it is (e.g. `X-API-Key`).
    pub api_key_header: String,
    /// Request field holding prompt + response per item: `query` is what OpenRLHF sends and its
    /// `serve_rm` reads; set `queries` for servers that expect the plural.
    pub query_key: String,
    /// Response field holding the rewards (OpenRLHF's `score_key`).
    pub score_key: String,
    /// The range of the server's rewards, `[low, high]`; a reward outside it is an error, one
    /// inside is mapped linearly onto [0, 1] (`[0, 1]` leaves it as it is).
    pub reward_range: [f64; 2],
    /// Clamp rewards outside `reward_range` into it instead of failing (for reward models with
    /// unbounded outputs).
    pub clip_to_range: bool,
    /// Also send `questions`, `target_langs`, `reference_langs`, `detected_langs` and `extras`
    /// (the data row's other columns as objects), for servers that want them.
    pub send_metadata: bool,
}

impl Default for RemoteRewardConfig {
    fn default() -> Self {
        RemoteRewardConfig {
            url: DEFAULT_URL.into(),
            timeout_s: 60.0,
            max_retries: 3,
            backoff_s: 0.5,
            max_backoff_s: 8.0,
            batch_size: 256,
            api_key_env: None,
            api_key_header: "Authorization".into(),
            query_key: "query".into(),
            score_key: "rewards".into(),
            reward_range: [0.0, 1.0],
            clip_to_range: false,
            send_metadata: false,
        }
    }
}

/// An API key; its `Debug` never shows it.
#[derive(Clone, PartialEq)]
pub struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl RemoteRewardConfig {
    /// Checks every key; returns the API key read from `api_key_env`, if one is configured.
    pub fn validate(&self) -> Result<Option<Secret>> {
        check_url(&self.url)?;
        for (key, v) in
            [("timeout_s", self.timeout_s), ("backoff_s", self.backoff_s), ("max_backoff_s", self.max_backoff_s)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(key, format!("{v} must be a finite number of seconds >= 0")));
            }
        }
        if self.timeout_s == 0.0 {
            return Err(Error::config("timeout_s", "must be more than 0 seconds"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        for (key, v) in [("query_key", &self.query_key), ("score_key", &self.score_key)] {
            if v.is_empty() {
                return Err(Error::config(key, "must not be empty"));
            }
        }
        let [low, high] = self.reward_range;
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(Error::config(
                "reward_range",
                format!("[{low}, {high}] is not a finite range with low < high"),
            ));
        }
        let Some(var) = &self.api_key_env else { return Ok(None) };
        if self.api_key_header.is_empty() || !self.api_key_header.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(Error::config(
                "api_key_header",
                format!("`{}` is not an HTTP header name", self.api_key_header),
            ));
        }
        match std::env::var(var) {
            Ok(key) if !key.is_empty() => Ok(Some(Secret(key))),
            Ok(_) => Err(Error::config("api_key_env", format!("the environment variable `{var}` is empty"))),
            Err(std::env::VarError::NotPresent) => {
                Err(Error::config("api_key_env", format!("the environment variable `{var}` is not set")))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::config("api_key_env", format!("the environment variable `{var}` is not valid UTF-8")))
            }
        }
    }
}

/// http(s) only, a host, no credentials; https only with TLS compiled in.
fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::config("url", format!("`{url}` {why}")));
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("is not an http:// or https:// URL");
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" if cfg!(feature = "tls") => {}
        "https" => {
            return bad("needs TLS: build lrpo-reward-remote with `--features tls`, or use http:// to a local proxy")
        }
        _ => return bad("has a scheme other than http or https"),
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return bad("carries credentials; give the key through `api_key_env` instead");
    }
    if authority.is_empty() {
        return bad("has no host");
    }
    if url.parse::<ureq::http::Uri>().is_err() {
        return bad("is not a valid URL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut RemoteRewardConfig)) -> Result<Option<Secret>> {
        let mut c = RemoteRewardConfig::default();
        f(&mut c);
        c.validate()
    }

    fn err(f: impl FnOnce(&mut RemoteRewardConfig)) -> String {
        with(f).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(with(|_| {}).unwrap(), None);
    }

    #[test]
    fn urls_other_than_http_are_refused() {
        for url in ["ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1:5000", "unix:///tmp/s"] {
            let e = err(|c| c.url = url.into());
            assert!(e.contains("config `url`") && e.contains(url), "{e}");
        }
        let e = err(|c| c.url = "http://user:secret@127.0.0.1:5000/get_reward".into());
        assert!(e.contains("api_key_env"), "{e}");
        assert!(err(|c| c.url = "http:///get_reward".into()).contains("no host"));
        let https = with(|c| c.url = "https://rewards.example/get_reward".into());
        assert_eq!(https.is_ok(), cfg!(feature = "tls"), "{https:?}");
    }

    #[test]
    fn numbers_and_keys_are_checked() {
        assert!(err(|c| c.timeout_s = 0.0).contains("timeout_s"));
        assert!(err(|c| c.backoff_s = f64::NAN).contains("backoff_s"));
        assert!(err(|c| c.max_backoff_s = -1.0).contains("max_backoff_s"));
        assert!(err(|c| c.batch_size = 0).contains("batch_size"));
        assert!(err(|c| c.score_key = String::new()).contains("score_key"));
        assert!(err(|c| c.reward_range = [1.0, 1.0]).contains("reward_range"));
        assert!(err(|c| c.reward_range = [0.0, f64::INFINITY]).contains("reward_range"));
    }

    #[test]
    fn the_key_comes_from_the_named_variable_only() {
        // Cargo sets CARGO_PKG_NAME for every test process: a variable no test has to set
        // (set_var races with other threads reading the environment).
        let key = with(|c| c.api_key_env = Some("CARGO_PKG_NAME".into())).unwrap().unwrap();
        assert_eq!(key.0, env!("CARGO_PKG_NAME"));
        assert_eq!(format!("{key:?}"), "<redacted>");
        let e = err(|c| c.api_key_env = Some("LRPO_NO_SUCH_VARIABLE_FOR_TESTS".into()));
        assert!(e.contains("config `api_key_env`") && e.contains("LRPO_NO_SUCH_VARIABLE_FOR_TESTS"), "{e}");
        let e = err(|c| {
            c.api_key_env = Some("CARGO_PKG_NAME".into());
            c.api_key_header = "Bad Header:".into();
        });
        assert!(e.contains("api_key_header"), "{e}");
    }
}
