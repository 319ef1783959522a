//! One policy model per run. `[model] path` (verl's `actor_rollout_ref.model.path`) is handed to
//! the policy-side components, the rollout engine and the optimizer, as their `model_dir`, and
//! the rollout temperature to the optimizer as its log-prob `temperature`, wherever the
//! component's config schema declares the key and the instance does not set it. The schema is
//! the contract: the host never guesses keys a plugin does not declare. The reward model and the
//! language ID also have model directories, but of other models, so they are left alone.
//!
//! Components that still end up on different model directories must at least agree on the
//! tokenizer and the chat template: token ids cross between them (the engine's response ids are
//! the optimizer's training targets), so a mismatch would train on garbage without any error.

use lrpo_core::{ComponentKind, Error, Result};
use lrpo_sdk::chat::{ChatTemplate, Message};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// What the run sets once for every policy-side component.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyDefaults {
    /// `[model] path`.
    pub model_dir: Option<PathBuf>,
    /// `trainer.temperature`, the rollout temperature.
    pub temperature: f64,
}

impl PolicyDefaults {
    /// The keys this kind of component takes from the run, with their values and where they
    /// come from.
    fn for_kind(&self, kind: ComponentKind) -> Vec<(&'static str, Value, &'static str)> {
        let model = self.model_dir.as_ref().map(|d| ("model_dir", Value::from(d.display().to_string()), "model.path"));
        match kind {
            ComponentKind::RolloutEngine => model.into_iter().collect(),
            ComponentKind::Optimizer => model
                .into_iter()
                .chain([("temperature", Value::from(self.temperature), "trainer.temperature")])
                .collect(),
            ComponentKind::Router | ComponentKind::LanguageId | ComponentKind::RewardModel => vec![],
        }
    }

    /// Fills `config` from the run where `schema` declares a key the instance leaves unset.
    /// Returns the keys filled, each with the run key it came from.
    pub fn fill(&self, kind: ComponentKind, schema: &Value, config: &mut Map<String, Value>) -> Vec<(String, String)> {
        let declared = |key: &str| schema.get("properties").and_then(|p| p.get(key)).is_some();
        let mut filled = Vec::new();
        for (key, value, source) in self.for_kind(kind) {
            if declared(key) && !config.contains_key(key) {
                config.insert(key.to_string(), value);
                filled.push((key.to_string(), source.to_string()));
            }
        }
        filled
    }
}

/// One model directory a policy-side component will read, and the config key that chose it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyModel {
    pub key: String,
    pub dir: PathBuf,
}

/// The policy model directories of one component's effective config: `model_dir` and, for the
/// optimizer, `ref_model_dir` (the reference scores the engine's tokens too).
pub fn policy_models(kind: ComponentKind, instance: &str, config: &Map<String, Value>) -> Vec<PolicyModel> {
    let keys: &[&str] = match kind {
        ComponentKind::RolloutEngine => &["model_dir"],
        ComponentKind::Optimizer => &["model_dir", "ref_model_dir"],
        _ => &[],
    };
    keys.iter()
        .filter_map(|key| {
            let dir = config.get(*key)?.as_str()?;
            Some(PolicyModel {
                key: format!("components.{}.{instance}.config.{key}", kind.key()),
                dir: PathBuf::from(dir),
            })
        })
        .collect()
}

/// What two model directories must share: the tokenizer file and the rendered chat template.
#[derive(Debug, PartialEq)]
struct Vocabulary {
    tokenizer: Option<Vec<u8>>,
    prompt: String,
}

fn vocabulary(dir: &Path) -> Result<Vocabulary> {
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).ok();
    let template = ChatTemplate::from_model_dir(dir)?;
    let prompt = template.render(&[Message::user("lrpo tokenizer check")], true)?;
    Ok(Vocabulary { tokenizer, prompt })
}

/// Refuses a run whose policy-side components would read different tokenizers or chat
/// templates. `models[0]` is the reference (the prompt builder's `model.path` when set).
/// Directories that do not exist are left to the component that loads them to report.
pub fn check_one_policy(models: &[PolicyModel]) -> Result<()> {
    let mut known: Vec<(&PolicyModel, Vocabulary)> = Vec::new();
    for m in models.iter().filter(|m| m.dir.join("config.json").is_file() || m.dir.join("tokenizer.json").is_file()) {
        if known.iter().any(|(k, _)| k.dir == m.dir) {
            continue;
        }
        let v = vocabulary(&m.dir)?;
        if let Some((first, fv)) = known.first() {
            let what = if fv.tokenizer != v.tokenizer {
                Some("tokenizer (tokenizer.json)")
            } else if fv.prompt != v.prompt {
                Some("chat template")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(Error::config(
                    m.key.clone(),
                    format!(
                        "{} has another {what} than {} ({}): the engine's token ids would be trained as \
                         another model's; use one model (set [model] path and drop the component's own), \
                         or directories of one tokenizer",
                        m.dir.display(),
                        first.key,
                        first.dir.display()
                    ),
                ));
            }
        }
        known.push((m, v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(keys: &[&str]) -> Value {
        let props: Map<String, Value> = keys.iter().map(|k| (k.to_string(), json!({}))).collect();
        json!({ "properties": props })
    }

    #[test]
    fn declared_unset_keys_are_filled_and_set_ones_kept() {
        let d = PolicyDefaults { model_dir: Some("/m".into()), temperature: 0.7 };
        let mut cfg = Map::new();
        let filled = d.fill(ComponentKind::Optimizer, &schema(&["model_dir", "temperature", "lr"]), &mut cfg);
        assert_eq!(cfg["model_dir"], "/m");
        assert_eq!(cfg["temperature"], 0.7);
        assert_eq!(filled[0], ("model_dir".to_string(), "model.path".to_string()));

        let mut own = Map::from_iter([("temperature".to_string(), json!(1.0))]);
        d.fill(ComponentKind::Optimizer, &schema(&["model_dir", "temperature"]), &mut own);
        assert_eq!(own["temperature"], 1.0, "an explicit setting wins");

        // The router's `temperature` is a bandit's softmax temperature, the reward's model_dir
        // an encoder: neither is the policy's.
        let mut router = Map::new();
        assert!(d.fill(ComponentKind::Router, &schema(&["temperature"]), &mut router).is_empty());
        let mut reward = Map::new();
        assert!(d.fill(ComponentKind::RewardModel, &schema(&["model_dir"]), &mut reward).is_empty());
        // A key the schema does not declare is never sent (the plugin would reject it).
        let mut engine = Map::new();
        assert!(d.fill(ComponentKind::RolloutEngine, &schema(&["device"]), &mut engine).is_empty());
    }

    fn model(dir: &Path, tokenizer: &str, template: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.json"), "{}").unwrap();
        std::fs::write(dir.join("tokenizer.json"), tokenizer).unwrap();
        let cfg = json!({ "chat_template": template, "bos_token": "<s>", "eos_token": "</s>" });
        std::fs::write(dir.join("tokenizer_config.json"), cfg.to_string()).unwrap();
    }

    #[test]
    fn different_tokenizers_or_templates_are_refused_naming_both_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, c, d) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"), tmp.path().join("d"));
        let t = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}";
        model(&a, "{\"v\":1}", t);
        model(&b, "{\"v\":1}", t); // a fine-tuned copy: same tokenizer and template
        model(&c, "{\"v\":2}", t);
        model(&d, "{\"v\":1}", "{% for m in messages %}[{{ m.content }}]{% endfor %}");
        let pm = |key: &str, dir: &Path| PolicyModel { key: key.into(), dir: dir.to_path_buf() };
        check_one_policy(&[pm("model.path", &a), pm("components.optimizer.g.config.model_dir", &b)]).unwrap();
        let err = check_one_policy(&[pm("model.path", &a), pm("components.optimizer.g.config.model_dir", &c)])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config `components.optimizer.g.config.model_dir`:"), "{err}");
        assert!(err.contains("another tokenizer (tokenizer.json) than model.path"), "{err}");
        let err = check_one_policy(&[pm("model.path", &a), pm("components.rollout_engine.s.config.model_dir", &d)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("another chat template than model.path"), "{err}");
    }
}
