//! Layering: built-in defaults -> TOML file -> `LRPO_` environment (`__` nests) -> `--set`.

use super::suggest::with_suggestion;
use super::{default_run, RawConfig};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use lrpo_core::{Error, Result};
use std::path::{Path, PathBuf};

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config FILE`; without it the built-in default run is used.
    pub file: Option<PathBuf>,
    /// `--set key=value` flags, in order.
    pub overrides: Vec<String>,
    /// Whether to read `LRPO_*` variables (off in tests that must not see the caller's env).
    pub env: bool,
}

/// Top-level sections; `LRPO_` variables outside them (like `LRPO_CACHE_DIR`) are not config.
const SECTIONS: [&str; 6] = ["run", "plugins", "data", "trainer", "components", "experiment"];

pub fn load(sources: &Sources) -> Result<RawConfig> {
    let mut fig = Figment::from(Serialized::defaults(RawConfig::default()));
    match &sources.file {
        Some(file) => {
            if !file.is_file() {
                return Err(Error::io(file.display(), "config file not found"));
            }
            let text = std::fs::read_to_string(file).map_err(|e| Error::io(file.display(), e))?;
            toml::from_str::<toml::Table>(&text)
                .map_err(|e| Error::input(file.display().to_string(), format!("not valid TOML: {e}")))?;
            fig = fig.merge(Toml::file_exact(file));
        }
        None => fig = fig.merge(Toml::string(&default_run())),
    }
    if sources.env {
        fig = fig.merge(
            Env::prefixed("LRPO_")
                .split("__")
                .filter(|k| SECTIONS.iter().any(|s| k.as_str().split('.').next() == Some(s))),
        );
    }
    for item in &sources.overrides {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| Error::config(item, "--set expects KEY=VALUE, e.g. --set data.group_size=4"))?;
        fig = fig.merge(Serialized::global(key.trim(), parse_value(value.trim())));
    }
    fig.extract::<RawConfig>().map_err(|e| figment_error(e, sources.file.as_deref()))
}

/// A `--set` value is read as a TOML value when it parses as one (numbers, booleans, arrays,
/// inline tables), else as a plain string, so `--set run.name=abc` needs no quotes.
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn figment_error(err: figment::Error, file: Option<&Path>) -> Error {
    let first = err.into_iter().next().expect("figment errors are never empty");
    let key = first.path.join(".");
    let source = first
        .metadata
        .as_ref()
        .and_then(|m| m.source.as_ref())
        .map(|s| format!(" (from {s})"))
        .or_else(|| file.map(|f| format!(" (in {})", f.display())))
        .unwrap_or_default();
    let message = match &first.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            // figment's path already ends with the unknown field.
            let full = if key.ends_with(field.as_str()) { key.clone() } else { format!("{key}.{field}").trim_start_matches('.').to_string() };
            let hint = super::closest(field, expected.iter().copied())
                .map(|b| format!("; did you mean `{b}`?"))
                .unwrap_or_default();
            return Error::config(full, format!("unknown key{source}{hint}"));
        }
        _ => with_suggestion(&first.kind.to_string()),
    };
    Error::config(if key.is_empty() { "<root>".into() } else { key }, format!("{message}{source}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn layers_apply_in_order() {
        let f = file("[data]\ngroup_size = 4\ntrain_batch_size = 16\n");
        let cfg = load(&Sources {
            file: Some(f.path().into()),
            overrides: vec!["data.group_size=2".into(), "run.name=abc".into()],
            env: false,
        })
        .unwrap();
        assert_eq!(cfg.data.group_size, 2);
        assert_eq!(cfg.data.train_batch_size, 16);
        assert_eq!(cfg.run.name, "abc");
        assert!(cfg.components.router.is_empty(), "a config file replaces the default components");
    }

    #[test]
    fn default_run_has_components() {
        let cfg = load(&Sources::default()).unwrap();
        assert_eq!(cfg.components.router["lrpo"].kind, "lrpo-bandit");
        assert_eq!(cfg.components.router["lrpo"].config["update_every"].as_integer(), Some(2));
        assert_eq!(cfg.components.rollout_engine["smollm2"].kind, "sampler");
        assert!(cfg.data.train_files[0].ends_with("examples/data/prepared/train.parquet"));
        assert!(cfg.data.train_files[0].is_file(), "the default run's data is in the repository");
        let stats = cfg.components.reward_model["e5"].config["pair_stats"].as_str().unwrap();
        assert!(stats.starts_with(&lrpo_core::paths::cache_dir().display().to_string()), "{stats}");
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let f = file("[data]\ngrup_size = 4\n");
        let err = load(&Sources { file: Some(f.path().into()), ..Default::default() }).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("config `data.grup_size`: unknown key"), "{msg}");
        assert!(msg.contains("did you mean `group_size`?"), "{msg}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = load(&Sources { overrides: vec!["data.group_size=many".into()], ..Default::default() }).unwrap_err();
        assert!(err.to_string().starts_with("config `data.group_size`"), "{err}");
    }

    #[test]
    fn bad_set_syntax_and_missing_file() {
        let err = load(&Sources { overrides: vec!["data.group_size".into()], ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
        let err = load(&Sources { file: Some("/nonexistent.toml".into()), ..Default::default() }).unwrap_err();
        assert_eq!(err.to_string(), "/nonexistent.toml: config file not found");
    }

    #[test]
    fn invalid_toml_is_an_input_error() {
        let f = file("[data\n");
        let err = load(&Sources { file: Some(f.path().into()), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("not valid TOML"), "{err}");
    }
}
