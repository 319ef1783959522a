//! The `vllm` component's config table, and the settings resolved from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lrpo_core::{DType, Error, Result};
use serde::Deserialize;

/// The model the engine tokenizes for when the config names no `model_dir`.
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";
/// The name a launched server serves its model under when the config names none.
pub const DEFAULT_SERVED_NAME: &str = "lrpo-policy";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VllmConfig {
    /// Base URL of a running vLLM server (started with VLLM_SERVER_DEV_MODE=1), e.g.
    /// `http://10.0.0.7:8000`. Exactly one of `url` and `launch`. In a data-parallel run each
    /// rank needs a server of its own: `{rank}` and `{local_rank}` are filled in here, in
    /// `weights_dir`, `weights_dir_on_server`, and in `launch`'s args, env and log file (e.g.
    /// `env = { CUDA_VISIBLE_DEVICES = "{local_rank}" }`).
    pub url: Option<String>,
    /// Start and own a server instead: a child process stopped with the run.
    pub launch: Option<LaunchConfig>,
    /// The served model name as `/v1/models` lists it (checked at start). Required with `url`;
    /// with `launch` the default is `lrpo-policy`, passed as `--served-model-name`.
    pub model: Option<String>,
    /// Hugging Face model directory the server's weights came from: its tokenizer encodes the
    /// prompts, its config.json goes with every weight sync. Default: the imported
    /// SmolLM2-135M-Instruct in the model cache.
    #[schemars(schema_with = "lrpo_sdk::schema::input_dir")]
    pub model_dir: Option<PathBuf>,
    /// Longest a call may take, retries included; a dead server ends a run within self.
    pub timeout_s: f64,
    /// Retries of a call after a refused connection, a timeout or a 5xx, with backoff.
    pub max_retries: u32,
    /// Completion requests in flight at once (one per prompt group).
    pub max_concurrency: usize,
    /// Where weight syncs are written for the server to read (a shared file system when the
    /// server runs on another node). Default: `run_dir/vllm-weights`, else a directory under
    /// the system temp dir (removed when the engine is dropped).
    pub weights_dir: Option<PathBuf>,
    /// `weights_dir` as the server sees it, when it mounts that file system elsewhere;
    /// default: the same path.
    pub weights_dir_on_server: Option<PathBuf>,
    /// dtype of the written weights: `auto` (as the optimizer exports them: no conversion on
    /// the trainer's CPU), or bf16 / f16 / f32 (the server casts to its own dtype anyway; bf16
    /// halves what an f32 policy puts on a shared file system).
    pub weights_dtype: String,
    /// The run directory, home of `vllm.log` and `vllm-weights/` unless those are given; the
    /// host sets it to the arm's run directory. Without it both go under the system temp dir.
    pub run_dir: Option<PathBuf>,
    /// Name of an environment variable holding the server's API key (sent as a bearer token).
    /// The key itself never appears in a config or a log.
    pub api_key_env: Option<String>,
}

impl Default for VllmConfig {
    fn default() -> Self {
        VllmConfig {
            url: None,
            launch: None,
            model: None,
            model_dir: None,
            timeout_s: 300.0,
            max_retries: 3,
            max_concurrency: 16,
            weights_dir: None,
            weights_dir_on_server: None,
            weights_dtype: "auto".into(),
            run_dir: None,
            api_key_env: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LaunchConfig {
    /// The program to run; `python3` by default (give the vLLM venv's python, e.g.
    /// `.venv-vllm/bin/python`, which scripts/setup.sh creates).
    pub program: String,
    /// Its arguments. `{model_dir}`, `{model}` and `{port}` are filled in. The default runs
    /// vLLM's OpenAI server on 127.0.0.1 serving `model_dir` as `model`.
    pub args: Vec<String>,
    /// Appended to `args` (e.g. `["--dtype", "bfloat16", "--enforce-eager"]`), so the default
    /// arguments need not be restated.
    pub extra_args: Vec<String>,
    /// Extra environment for the server; VLLM_SERVER_DEV_MODE=1 is always set (weight sync
    /// needs /pause, /collective_rpc and /resume).
    pub env: BTreeMap<String, String>,
    /// The port to serve on; 0 picks a free one.
    pub port: u16,
    /// How long the server may take until `/health` answers.
    pub start_timeout_s: f64,
    /// The server's output (appended); default `run_dir/vllm.log`, else beside the default
    /// weights.
    pub log_file: Option<PathBuf>,
}

impl Default for LaunchConfig {
    fn default() -> Self {
        let args = ["-m", "vllm.entrypoints.openai.api_server", "--model", "{model_dir}", "--served-model-name"];
        let rest = ["{model}", "--host", "127.0.0.1", "--port", "{port}"];
        LaunchConfig {
            program: "python3".into(),
            args: args.iter().chain(&rest).map(|s| s.to_string()).collect(),
            extra_args: Vec::new(),
            env: BTreeMap::new(),
            port: 0,
            start_timeout_s: 600.0,
            log_file: None,
        }
    }
}

/// Where the server is.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Url(String),
    Launch(LaunchConfig),
}

/// The checked config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub model: String,
    pub model_dir: PathBuf,
    pub timeout: Duration,
    pub max_retries: u32,
    pub max_concurrency: usize,
    pub weights_dir: PathBuf,
    pub weights_dir_on_server: PathBuf,
    /// True when `weights_dir` is ours alone (the temp default), so it is removed on drop.
    pub own_weights_dir: bool,
    /// `None`: as exported.
    pub weights_dtype: Option<DType>,
    /// The key's value, read from the named variable.
    pub api_key: Option<String>,
    pub log_file: PathBuf,
}

fn seconds(key: &str, value: f64) -> Result<Duration> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Error::config(key, format!("{value} must be a positive number of seconds")));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Checks an http(s) URL and drops a trailing slash, so paths join with one `/`.
/// `text` with `{rank}` and `{local_rank}` replaced by this process's (0 in a single process).
fn per_rank(text: &str) -> String {
    let world = lrpo_sdk::collective::world();
    let (rank, local) = world.map_or((0, 0), |w| (w.rank(), w.local_rank()));
    text.replace("{rank}", &rank.to_string()).replace("{local_rank}", &local.to_string())
}

pub fn check_url(key: &str, url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(url.to_string()),
        _ => Err(Error::config(key, format!("`{url}` is not an http:// or https:// URL with a host"))),
    }
}

impl VllmConfig {
    /// Validates the table; `instance` names the default temp directory.
    pub fn resolve(mut self, instance: &str) -> Result<Settings> {
        self.url = self.url.map(|u| per_rank(&u));
        for dir in [&mut self.weights_dir, &mut self.weights_dir_on_server] {
            *dir = dir.take().map(|d| PathBuf::from(per_rank(&d.to_string_lossy())));
        }
        if let Some(launch) = self.launch.as_mut() {
            launch.log_file = launch.log_file.take().map(|f| PathBuf::from(per_rank(&f.to_string_lossy())));
            for text in launch.args.iter_mut().chain(&mut launch.extra_args).chain(launch.env.values_mut()) {
                *text = per_rank(text);
            }
        }
        let endpoint = match (self.url, self.launch) {
            (Some(_), Some(_)) => return Err(Error::config("url", "give either `url` or `launch`, not both")),
            (None, None) => {
                return Err(Error::config(
                    "url",
                    "missing: give `url` (a running vLLM server) or `launch` (a server to start)",
                ))
            }
            (Some(url), None) => Endpoint::Url(check_url("url", &url)?),
            (None, Some(launch)) => {
                seconds("launch.start_timeout_s", launch.start_timeout_s)?;
                if launch.program.trim().is_empty() {
                    return Err(Error::config("launch.program", "must name a program"));
                }
                Endpoint::Launch(launch)
            }
        };
        let model = match (self.model, &endpoint) {
            (Some(m), _) if !m.trim().is_empty() => m,
            (_, Endpoint::Launch(_)) => DEFAULT_SERVED_NAME.to_string(),
            (_, Endpoint::Url(_)) => {
                return Err(Error::config(
                    "model",
                    "missing: the served model name, as the server's /v1/models lists it",
                ))
            }
        };
        let model_dir = self.model_dir.unwrap_or_else(|| lrpo_core::paths::model_dir(DEFAULT_MODEL));
        for file in ["config.json", "tokenizer.json"] {
            if !model_dir.join(file).is_file() {
                return Err(Error::config(
                    "model_dir",
                    format!(
                        "{} has no {file} (run {} to import the default model)",
                        model_dir.display(),
                        lrpo_core::paths::SETUP_COMMAND
                    ),
                ));
            }
        }
        if self.max_concurrency == 0 {
            return Err(Error::config("max_concurrency", "must be at least 1"));
        }
        let weights_dtype = match self.weights_dtype.trim() {
            "auto" => None,
            other => match lrpo_sdk::hf::parse_float_dtype(other) {
                Some(d) => Some(d),
                None => {
                    return Err(Error::config(
                        "weights_dtype",
                        format!("`{}` is not one of auto, bf16, f16, f32", self.weights_dtype),
                    ))
                }
            },
        };
        let api_key = match self.api_key_env {
            None => None,
            Some(var) => match std::env::var(&var) {
                Ok(key) if !key.is_empty() => Some(key),
                _ => return Err(Error::config("api_key_env", format!("the environment variable `{var}` is not set"))),
            },
        };
        let run_dir = self.run_dir;
        // One scratch directory per engine, even for two engines of one instance name in one
        // process (an engine removes its own on drop, which must not pull another's weights
        // from under it mid-write).
        static ENGINES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = ENGINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let scratch = std::env::temp_dir().join(format!("lrpo-vllm-{}-{}-{n}", std::process::id(), sanitize(instance)));
        let own_weights_dir = self.weights_dir.is_none() && run_dir.is_none();
        let weights_dir = self
            .weights_dir
            .or_else(|| run_dir.as_ref().map(|d| d.join("vllm-weights")))
            .unwrap_or_else(|| scratch.join("weights"));
        let log_file = match &endpoint {
            Endpoint::Launch(l) => l.log_file.clone(),
            Endpoint::Url(_) => None,
        }
        .or_else(|| run_dir.as_ref().map(|d| d.join("vllm.log")))
        .unwrap_or_else(|| scratch.join("vllm.log"));
        Ok(Settings {
            endpoint,
            model,
            model_dir: absolute(&model_dir),
            timeout: seconds("timeout_s", self.timeout_s)?,
            max_retries: self.max_retries,
            max_concurrency: self.max_concurrency,
            weights_dir_on_server: self.weights_dir_on_server.unwrap_or_else(|| absolute(&weights_dir)),
            weights_dir: absolute(&weights_dir),
            own_weights_dir,
            weights_dtype,
            api_key,
            log_file: absolute(&log_file),
        })
    }
}

/// Paths go to a server whose working directory is not ours.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_placeholders_are_rank_0_in_a_single_process() {
        assert_eq!(per_rank("http://127.0.0.1:80{local_rank}/r{rank}"), "http://127.0.0.1:800/r0");
        assert_eq!(per_rank("/plain"), "/plain");
    }

    fn model_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        dir
    }

    fn config(json: serde_json::Value) -> VllmConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn url_mode_needs_the_model_name_and_a_real_url() {
        let dir = model_dir();
        let d = dir.path().display().to_string();
        let e = config(serde_json::json!({ "url": "http://127.0.0.1:1", "model_dir": d })).resolve("v").unwrap_err();
        assert!(e.to_string().contains("config `model`: missing"), "{e}");
        let e = config(serde_json::json!({ "url": "127.0.0.1:8000", "model": "m", "model_dir": d }))
            .resolve("v")
            .unwrap_err();
        assert!(e.to_string().contains("config `url`: `127.0.0.1:8000` is not an http"), "{e}");
        let s =
            config(serde_json::json!({ "url": "http://h:8000/", "model": "m", "model_dir": d })).resolve("v").unwrap();
        assert!(matches!(s.endpoint, Endpoint::Url(ref u) if u == "http://h:8000"));
    }

    #[test]
    fn two_engines_of_one_instance_name_get_their_own_scratch_directories() {
        let dir = model_dir();
        let json = serde_json::json!({ "url": "http://127.0.0.1:1", "model": "m", "model_dir": dir.path() });
        let (a, b) = (config(json.clone()).resolve("vllm").unwrap(), config(json).resolve("vllm").unwrap());
        assert!(a.own_weights_dir && b.own_weights_dir);
        assert_ne!(a.weights_dir, b.weights_dir);
        assert_ne!(a.log_file, b.log_file);
    }

    #[test]
    fn exactly_one_of_url_and_launch() {
        let dir = model_dir();
        let d = dir.path().display().to_string();
        let e = config(serde_json::json!({ "model_dir": d })).resolve("v").unwrap_err();
        assert!(e.to_string().contains("give `url` (a running vLLM server) or `launch`"), "{e}");
        let e =
            config(serde_json::json!({ "url": "http://h", "launch": {}, "model_dir": d })).resolve("v").unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        let s = config(serde_json::json!({ "launch": {}, "model_dir": d })).resolve("v").unwrap();
        assert_eq!(s.model, DEFAULT_SERVED_NAME);
    }

    #[test]
    fn bad_values_name_their_key() {
        let dir = model_dir();
        let d = dir.path().display().to_string();
        let cases = [
            (serde_json::json!({ "timeout_s": 0.0 }), "config `timeout_s`"),
            (serde_json::json!({ "max_concurrency": 0 }), "config `max_concurrency`"),
            (serde_json::json!({ "weights_dtype": "int8" }), "config `weights_dtype`: `int8`"),
            (
                serde_json::json!({ "api_key_env": "LRPO_VLLM_TEST_NO_SUCH_VAR" }),
                "`LRPO_VLLM_TEST_NO_SUCH_VAR` is not set",
            ),
            (
                serde_json::json!({ "model_dir": "/nonexistent/m" }),
                "config `model_dir`: /nonexistent/m has no config.json",
            ),
        ];
        for (extra, want) in cases {
            let mut json = serde_json::json!({ "url": "http://h", "model": "m", "model_dir": d });
            json.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let e = config(json).resolve("v").unwrap_err();
            assert!(e.to_string().contains(want), "{e} lacks {want}");
        }
        let e = config(serde_json::json!({ "launch": { "start_timeout_s": -1.0 }, "model_dir": d }))
            .resolve("v")
            .unwrap_err();
        assert!(e.to_string().contains("config `launch.start_timeout_s`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = serde_json::from_value::<VllmConfig>(serde_json::json!({ "urll": "x" })).unwrap_err();
        assert!(e.to_string().contains("unknown field `urll`"), "{e}");
        let e = serde_json::from_value::<VllmConfig>(serde_json::json!({ "launch": { "cmd": [] } })).unwrap_err();
        assert!(e.to_string().contains("unknown field `cmd`"), "{e}");
    }
}
