//! Chat templates: the model's own Jinja template from `tokenizer_config.json`, rendered with
//! minijinja the way HF `apply_chat_template` renders it, or ChatML when the model has none.

use lrpo_core::{Error, Result};
use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// HF's fallback template (ChatML), used when the model ships none.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + \
message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const TEMPLATE_NAME: &str = "chat_template";

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Message {
        Message { role: "user".into(), content: content.into() }
    }
}

/// A compiled chat template plus the special tokens it may print.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Where the template came from, for error messages.
    origin: String,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source`. `origin` names where it came from in errors.
    pub fn new(source: &str, bos_token: &str, eos_token: &str, origin: &str) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        // HF renders with jinja2's trim_blocks and lstrip_blocks on; templates are written for it.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        // Python string methods (`.strip()`, `.startswith()`, `.split()` ...) used by HF templates.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| Error::input(origin, format!("chat template does not compile: {}", describe(&e))))?;
        Ok(ChatTemplate {
            env,
            origin: origin.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// ChatML, with no BOS/EOS text.
    pub fn chatml() -> ChatTemplate {
        ChatTemplate::new(CHATML_TEMPLATE, "", "", "built-in ChatML template").expect("the built-in template compiles")
    }

    /// Reads `chat_template` (a string, or HF's list of `{name, template}` of which `default` is
    /// taken), `bos_token` and `eos_token` from a `tokenizer_config.json`. A config without a
    /// template gives ChatML.
    pub fn from_tokenizer_config(path: &Path) -> Result<ChatTemplate> {
        let config = TokenizerConfig::read(path)?;
        let origin = path.display().to_string();
        match config.template {
            Some(source) => ChatTemplate::new(&source, &config.bos, &config.eos, &origin),
            None => {
                tracing::info!(file = %origin, "no chat_template in the tokenizer config; using ChatML");
                ChatTemplate::new(CHATML_TEMPLATE, &config.bos, &config.eos, &format!("{origin} (ChatML fallback)"))
            }
        }
    }

    /// The template of a HF model directory: `chat_template.jinja` when present (recent HF
    /// saves it there, and it wins over the config), else `tokenizer_config.json`'s
    /// `chat_template`, else ChatML. Special tokens come from `tokenizer_config.json`.
    pub fn from_model_dir(dir: &Path) -> Result<ChatTemplate> {
        let config_path = dir.join("tokenizer_config.json");
        let jinja_path = dir.join("chat_template.jinja");
        if jinja_path.is_file() {
            let source = std::fs::read_to_string(&jinja_path).map_err(|e| Error::io(jinja_path.display(), e))?;
            let config = if config_path.is_file() { TokenizerConfig::read(&config_path)? } else { TokenizerConfig::default() };
            return ChatTemplate::new(&source, &config.bos, &config.eos, &jinja_path.display().to_string());
        }
        if config_path.is_file() {
            return ChatTemplate::from_tokenizer_config(&config_path);
        }
        Ok(ChatTemplate::chatml())
    }

    /// Renders `messages`; with `add_generation_prompt` the text ends where the assistant's
    /// answer begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template(TEMPLATE_NAME).expect("added in new()");
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| Error::input(&self.origin, format!("chat template failed: {}", describe(&e))))
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.to_string(),
    };
    if let Some(line) = e.line() {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

/// What a `tokenizer_config.json` says about chat rendering.
#[derive(Default)]
struct TokenizerConfig {
    template: Option<String>,
    bos: String,
    eos: String,
}

impl TokenizerConfig {
    fn read(path: &Path) -> Result<TokenizerConfig> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(&origin, e))?;
        let config: Value = serde_json::from_str(&text).map_err(|e| Error::input(&origin, format!("not JSON: {e}")))?;
        let at = |field: &str| format!("{origin}, field `{field}`");
        let token = |field: &str| -> Result<String> {
            match config.get(field) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                // An AddedToken object: {"content": "<s>", "lstrip": false, ...}.
                Some(Value::Object(o)) => match o.get("content") {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(Error::input(at(field), "token object has no string `content`")),
                },
                Some(other) => Err(Error::input(at(field), format!("expected a string, found {other}"))),
            }
        };
        let template = match config.get("chat_template") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(named)) => Some(
                named
                    .iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                    .and_then(|t| t.get("template").and_then(Value::as_str))
                    .map(str::to_string)
                    .ok_or_else(|| Error::input(at("chat_template"), "a list of templates without one named `default`"))?,
            ),
            Some(other) => {
                return Err(Error::input(
                    at("chat_template"),
                    format!("expected a string or a list of named templates, found {other}"),
                ))
            }
        };
        Ok(TokenizerConfig { template, bos: token("bos_token")?, eos: token("eos_token")? })
    }
}
