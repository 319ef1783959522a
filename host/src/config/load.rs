//! Layering: built-in defaults -> TOML file -> `LRPO_` environment (`__` nests) -> `--set`.

use super::suggest::with_suggestion;
use super::{default_run, RawConfig};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use lrpo_core::{Error, Result};
use std::path::PathBuf;

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

/// Top-level sections; flat `LRPO_` variables outside them (like `LRPO_CACHE_DIR`) are not config.
const SECTIONS: [&str; 9] =
    ["run", "plugins", "model", "data", "trainer", "components", "reward", "experiment", "distributed"];

pub fn load(sources: &Sources) -> Result<RawConfig> {
    let mut fig = Figment::from(Serialized::defaults(RawConfig::default()));
    let file_table = match &sources.file {
        Some(file) => {
            match std::fs::metadata(file) {
                Ok(m) if m.is_dir() => {
                    return Err(Error::input(file.display().to_string(), "is a directory, not a config file"));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::input(file.display().to_string(), "config file not found"));
                }
                Err(e) => return Err(Error::input(file.display().to_string(), format!("cannot read: {e}"))),
            }
            let text = std::fs::read_to_string(file).map_err(|e| Error::io(file.display(), e))?;
            let text = super::fill_placeholders(&text);
            let table = toml::from_str::<toml::Table>(&text)
                .map_err(|e| Error::input(file.display().to_string(), format!("not valid TOML: {e}")))?;
            fig = fig.merge(Toml::string(&text));
            table
        }
        None => {
            let text = default_run();
            fig = fig.merge(Toml::string(&text));
            toml::from_str::<toml::Table>(&text).map_err(|e| Error::input("built-in default run", e.to_string()))?
        }
    };
    if sources.env {
        // Variables are written upper-case (`LRPO_TRAINER__TOTAL_STEPS`); figment hands the key
        // over as written, so the section is compared without case and the key lowered.
        fig = fig.merge(
            Env::prefixed("LRPO_")
                .split("__")
                // A nested name (`__`) is meant as config even when its section is misspelt
                // (`LRPO_TRAINR__TOTAL_STEPS` is refused as an unknown key, not ignored); a flat
                // one (`LRPO_CACHE_DIR`) is config only when it names a section.
                .filter(|k| {
                    let section = k.as_str().split('.').next().unwrap_or_default();
                    k.as_str().contains('.') || SECTIONS.iter().any(|s| section.eq_ignore_ascii_case(s))
                })
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        );
    }
    for item in &sources.overrides {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| Error::config(item, "--set expects KEY=VALUE, e.g. --set data.group_size=4"))?;
        fig = fig.merge(Serialized::global(key.trim(), parse_value(value.trim())));
    }
    let mut raw = fig.extract::<RawConfig>().map_err(|e| figment_error(e, sources))?;
    restore_component_order(&mut raw, &file_table);
    Ok(raw)
}

/// Puts each component `config` table back in the order the file wrote it.
///
/// figment merges layers into sorted maps, so a table arrives at the plugin sorted by key. Order
/// can matter to a component (the bandit takes its languages in the order its topic mixes
/// list them, as the reference does), so where an instance's table is, as a set of entries,
/// exactly what the file says, the file's ordered table is used; a table an environment variable
/// or `--set` changed keeps figment's order.
fn restore_component_order(raw: &mut RawConfig, file: &toml::Table) {
    let Some(components) = file.get("components").and_then(|c| c.as_table()) else { return };
    for kind in lrpo_core::ComponentKind::ALL {
        let Some(instances) = components.get(kind.key()).and_then(|t| t.as_table()) else { continue };
        if raw.components.of(kind).is_empty() {
            continue;
        }
        for (name, inst) in raw.components.of_mut(kind).iter_mut() {
            let ordered = instances.get(name).and_then(|i| i.get("config")).and_then(|c| c.as_table());
            // toml's tables compare as sets of entries (preserve_order keeps an IndexMap).
            if let Some(ordered) = ordered.filter(|o| **o == inst.config) {
                inst.config = ordered.clone();
            }
        }
    }
}

/// A `--set` value is read as a TOML value when it parses as one (numbers, booleans, arrays,
/// inline tables), else as a plain string, so `--set run.name=abc` needs no quotes.
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn figment_error(err: figment::Error, sources: &Sources) -> Error {
    let first = err.into_iter().next().expect("figment errors are never empty");
    let key = first.path.join(".");
    let from_set = sources.overrides.iter().filter_map(|o| o.split_once('=')).find(|(k, _)| {
        let k = k.trim();
        !key.is_empty() && (key == k || key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{key}.")))
    });
    // The environment provider names no variable: find the one that sets this key.
    let is_env = first.metadata.as_ref().is_some_and(|m| m.name.contains("environment"));
    let from_env = std::env::vars().filter(|_| is_env).find(|(name, _)| {
        let k = name.strip_prefix("LRPO_").unwrap_or_default().to_ascii_lowercase().replace("__", ".");
        !key.is_empty() && (key == k || key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{key}.")))
    });
    let source = match (first.metadata.as_ref().and_then(|m| m.source.as_ref()), from_set) {
        // --set values are merged from code, whose "source" would be a line of this file.
        (_, Some((k, v))) => format!(" (from --set {}={})", k.trim(), v.trim()),
        (_, None) if from_env.is_some() => {
            let (name, value) = from_env.unwrap_or_default();
            format!(" (from the environment: {name}={value})")
        }
        // The file is merged as text (its placeholders filled), so figment names code here.
        (Some(figment::Source::Code(_)), None) => match &sources.file {
            Some(file) => format!(" (in {})", file.display()),
            None => " (in the built-in defaults)".to_string(),
        },
        (Some(s), None) => format!(" (from {s})"),
        (None, None) => sources.file.as_ref().map(|f| format!(" (in {})", f.display())).unwrap_or_default(),
    };
    let message = match &first.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            // figment's path already ends with the unknown field.
            let full = if key.ends_with(field.as_str()) {
                key.clone()
            } else {
                format!("{key}.{field}").trim_start_matches('.').to_string()
            };
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
    use lrpo_core::ComponentKind;
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
        assert!(cfg.components.of(ComponentKind::Router).is_empty(), "a config file replaces the default components");
    }

    #[test]
    fn component_tables_keep_the_file_order_unless_overridden() {
        let text = "[components.router.r]\nplugin = \"p\"\nkind = \"k\"\n\
                    config = { zeta = 1, topic_mixes = { science = \"fr:1\", art = \"en:1\" }, alpha = 2 }\n";
        let f = file(text);
        let keys =
            |cfg: &RawConfig| serde_json::to_string(&cfg.components.of(ComponentKind::Router)["r"].config).unwrap();
        let cfg = load(&Sources { file: Some(f.path().into()), ..Sources::default() }).unwrap();
        assert_eq!(keys(&cfg), r#"{"zeta":1,"topic_mixes":{"science":"fr:1","art":"en:1"},"alpha":2}"#);
        // An override changes the table: it is still complete and correct, in figment's order.
        let cfg = load(&Sources {
            file: Some(f.path().into()),
            overrides: vec!["components.router.r.config.alpha=3".into()],
            env: false,
        })
        .unwrap();
        assert_eq!(keys(&cfg), r#"{"alpha":3,"topic_mixes":{"art":"en:1","science":"fr:1"},"zeta":1}"#);
    }

    #[test]
    fn a_bad_prompt_style_and_an_unknown_kind_name_their_keys() {
        let f = file("[data]\nprompt_style = \"tags\"\n");
        let err = load(&Sources { file: Some(f.path().into()), overrides: vec![], env: false }).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`data.prompt_style`") && text.contains("`tag` or `instruction`"), "{text}");
        let f = file("[components.routr.r]\nplugin = \"p\"\nkind = \"k\"\n");
        let text =
            load(&Sources { file: Some(f.path().into()), overrides: vec![], env: false }).unwrap_err().to_string();
        assert!(text.contains("`components.routr`") && text.contains("did you mean `router`?"), "{text}");
        let f = file("[[experiment.arms]]\nname = \"A\"\nrouterr = \"x\"\n");
        let text =
            load(&Sources { file: Some(f.path().into()), overrides: vec![], env: false }).unwrap_err().to_string();
        assert!(text.contains("routerr") && text.contains("did you mean `router`?"), "{text}");
    }

    #[test]
    fn default_run_has_components() {
        let cfg = load(&Sources::default()).unwrap();
        assert_eq!(cfg.components.of(ComponentKind::Router)["lrpo"].kind, "lrpo-bandit");
        assert_eq!(cfg.components.of(ComponentKind::Router)["lrpo"].config["update_every"].as_integer(), Some(2));
        assert_eq!(cfg.components.of(ComponentKind::RolloutEngine)["smollm2"].kind, "sampler");
        assert!(cfg.data.train_files[0].ends_with("examples/data/prepared/train.parquet"));
        assert!(cfg.data.train_files[0].is_file(), "the default run's data is in the repository");
        let stats = cfg.components.of(ComponentKind::RewardModel)["e5"].config["pair_stats"].as_str().unwrap();
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
