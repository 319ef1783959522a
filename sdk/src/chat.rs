//! Chat templates: a model's own Jinja template, rendered with minijinja the way HF
//! `apply_chat_template` renders it, or ChatML when the model has none.
//!
//! Why here: the host (its prompt builder) and the tch plugins (through `lrpo-torch`'s
//! tokenizer, for their tests, benches and examples) both render chat templates, and two
//! renderers drift apart: one forgets HF's `trim_blocks`, the other the list form of
//! `chat_template`. The SDK is the one crate both already depend on; `lrpo-core` stays plain
//! serde, and the default-off `chat` feature keeps minijinja out of plugins that never render a
//! chat.
//!
//! ```
//! use lrpo_sdk::chat::{ChatTemplate, Message};
//!
//! let text = ChatTemplate::chatml().render(&[Message::user("Hi")], true)?;
//! assert_eq!(text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
//! # Ok::<(), lrpo_core::Error>(())
//! ```

use lrpo_core::{Error, Result};
use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// HF's fallback template (ChatML), used when the model ships none.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + \
message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const TEMPLATE_NAME: &str = "chat_template";
const TOKENIZER_CONFIG: &str = "tokenizer_config.json";

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message { role: role.into(), content: content.into() }
    }

    pub fn user(content: impl Into<String>) -> Message {
        Message::new("user", content)
    }
}

/// A compiled chat template plus the special tokens it may print.
#[derive(Clone)]
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
        // Templates call raise_exception() to reject conversations they cannot render.
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
            None => config.chatml_fallback(&origin),
        }
    }

    /// The template of a HF model directory, ChatML when it has none (see
    /// [`find_in_model_dir`](Self::find_in_model_dir) for where it is looked for).
    pub fn from_model_dir(dir: &Path) -> Result<ChatTemplate> {
        match ChatTemplate::search_model_dir(dir)? {
            (Some(template), _) => Ok(template),
            (None, Some(config)) => config.chatml_fallback(&dir.join(TOKENIZER_CONFIG).display().to_string()),
            (None, None) => Ok(ChatTemplate::chatml()),
        }
    }

    /// The template a HF model directory ships, if any: `chat_template.jinja` when present
    /// (recent HF saves it there, and it wins over the config), else `tokenizer_config.json`'s
    /// `chat_template`. Special tokens come from `tokenizer_config.json`. `None` when neither
    /// file has a template, for callers that must not fall back to ChatML.
    pub fn find_in_model_dir(dir: &Path) -> Result<Option<ChatTemplate>> {
        Ok(ChatTemplate::search_model_dir(dir)?.0)
    }

    /// The directory's template, if any, and its tokenizer config, if any.
    fn search_model_dir(dir: &Path) -> Result<(Option<ChatTemplate>, Option<TokenizerConfig>)> {
        let config_path = dir.join(TOKENIZER_CONFIG);
        let config = if config_path.is_file() { Some(TokenizerConfig::read(&config_path)?) } else { None };
        let (bos, eos) = config.as_ref().map_or(("", ""), |c| (c.bos.as_str(), c.eos.as_str()));
        let jinja_path = dir.join("chat_template.jinja");
        let found = if jinja_path.is_file() {
            let source = std::fs::read_to_string(&jinja_path).map_err(|e| Error::io(jinja_path.display(), e))?;
            Some(ChatTemplate::new(&source, bos, eos, &jinja_path.display().to_string())?)
        } else {
            match config.as_ref().and_then(|c| c.template.as_deref()) {
                Some(source) => Some(ChatTemplate::new(source, bos, eos, &config_path.display().to_string())?),
                None => None,
            }
        };
        Ok((found, config))
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

    /// Where the template came from: a file path, or a name for a built-in one.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// minijinja's kind and detail without its multi-line source dump, plus the template line.
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
                    .ok_or_else(|| {
                        Error::input(at("chat_template"), "a list of templates without one named `default`")
                    })?,
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

    /// ChatML with this config's special tokens, for a config that has no template.
    fn chatml_fallback(&self, origin: &str) -> Result<ChatTemplate> {
        tracing::info!(file = %origin, "no chat_template in the tokenizer config; using ChatML");
        ChatTemplate::new(CHATML_TEMPLATE, &self.bos, &self.eos, &format!("{origin} (ChatML fallback)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input_error(result: Result<impl std::fmt::Debug>) -> (String, String) {
        match result {
            Err(Error::Input { location, message }) => (location, message),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn chatml_renders_with_and_without_the_generation_prompt() {
        let chatml = ChatTemplate::chatml();
        let messages = [Message::new("system", "Be brief."), Message::user("hi")];
        assert_eq!(
            chatml.render(&messages, true).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(chatml.render(&[Message::user("hi")], false).unwrap(), "<|im_start|>user\nhi<|im_end|>\n");
    }

    #[test]
    fn blocks_are_trimmed_as_hf_renders() {
        // With jinja2's defaults this would print a newline and indentation per message.
        let source =
            "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}";
        let template = ChatTemplate::new(source, "", "", "test template").unwrap();
        assert_eq!(template.render(&[Message::user("a"), Message::user("b")], false).unwrap(), "[a]\n[b]\n");
        // Python string methods work, through pycompat.
        let strip = ChatTemplate::new("{{ messages[0].content.strip().upper() }}", "", "", "t").unwrap();
        assert_eq!(strip.render(&[Message::user("  x ")], false).unwrap(), "X");
    }

    #[test]
    fn list_form_takes_the_default_template_and_the_special_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tokenizer_config.json");
        std::fs::write(
            &config,
            r#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "{{ bos_token }}D{{ eos_token }}"}],
                "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}"#,
        )
        .unwrap();
        let template = ChatTemplate::from_model_dir(dir.path()).unwrap();
        assert_eq!(template.render(&[], true).unwrap(), "<s>D</s>");
        assert_eq!(template.origin(), config.display().to_string());

        std::fs::write(&config, r#"{"chat_template": [{"name": "tool_use", "template": "T"}]}"#).unwrap();
        let (location, message) = input_error(ChatTemplate::from_model_dir(dir.path()));
        assert_eq!(location, format!("{}, field `chat_template`", config.display()));
        assert!(message.contains("named `default`"), "{message}");
    }

    #[test]
    fn chat_template_jinja_wins_over_the_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ChatTemplate::find_in_model_dir(dir.path()).unwrap().is_none(), "an empty dir has no template");
        assert_eq!(ChatTemplate::from_model_dir(dir.path()).unwrap().origin(), "built-in ChatML template");

        std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"eos_token": "</s>"}"#).unwrap();
        assert!(ChatTemplate::find_in_model_dir(dir.path()).unwrap().is_none(), "a config without a template");
        let fallback = ChatTemplate::from_model_dir(dir.path()).unwrap();
        assert!(fallback.origin().ends_with("(ChatML fallback)"), "{}", fallback.origin());

        std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"chat_template": "C", "eos_token": "</s>"}"#)
            .unwrap();
        assert_eq!(ChatTemplate::from_model_dir(dir.path()).unwrap().render(&[], true).unwrap(), "C");

        let jinja = dir.path().join("chat_template.jinja");
        std::fs::write(&jinja, "J{{ messages[0].content }}{{ eos_token }}").unwrap();
        let template = ChatTemplate::find_in_model_dir(dir.path()).unwrap().expect("the .jinja file");
        assert_eq!(template.origin(), jinja.display().to_string());
        // Its special tokens still come from the config.
        assert_eq!(template.render(&[Message::user("m")], true).unwrap(), "Jm</s>");
    }

    #[test]
    fn raise_exception_becomes_an_error_naming_the_template() {
        let source =
            "{% for m in messages %}{% if m.role != 'user' %}{{ raise_exception('Only user turns: got ' + m.role) }}\
                      {% endif %}{{ m.content }}{% endfor %}";
        let template = ChatTemplate::new(source, "", "", "test template").unwrap();
        assert_eq!(template.render(&[Message::user("ok")], true).unwrap(), "ok");
        let (location, message) = input_error(template.render(&[Message::new("assistant", "x")], true));
        assert_eq!(location, "test template");
        assert!(message.starts_with("chat template failed: "), "{message}");
        assert!(message.contains("Only user turns: got assistant"), "{message}");
    }

    #[test]
    fn config_errors_name_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tokenizer_config.json");
        let bad = |text: &str| {
            std::fs::write(&config, text).unwrap();
            let (location, message) = input_error(ChatTemplate::from_tokenizer_config(&config));
            assert!(location.starts_with(&config.display().to_string()), "{location}");
            format!("{location}: {message}")
        };
        assert!(bad("{").contains("not JSON"));
        assert!(bad(r#"{"chat_template": 3}"#).contains("field `chat_template`"));
        assert!(bad(r#"{"bos_token": 1}"#).contains("field `bos_token`"));
        assert!(bad(r#"{"eos_token": {"lstrip": true}}"#).contains("field `eos_token`"));
        assert!(bad(r#"{"chat_template": "{% for %}"}"#).contains("does not compile"));
    }
}
