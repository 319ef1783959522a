//! Prompt building (spec §3.8): the question plus a request for the routed language, put
//! through the model's chat template, and the over-length filter. Chat templates themselves are
//! [`lrpo_sdk::chat`], shared with the tch plugins; they are re-exported here.
//!
//! ```
//! use lrpo_host::prompt::{ChatTemplate, PromptBuilder, PromptStyle, TokenCounter};
//! use lrpo_core::Lang;
//!
//! let builder = PromptBuilder::new(PromptStyle::Tag, ChatTemplate::chatml(), TokenCounter::Approximate);
//! let text = builder.render("  What is X?  ", &Lang::new("zh"))?;
//! assert_eq!(text, "<|im_start|>user\nWhat is X?\n<|out_lang_zh|><|im_end|>\n<|im_start|>assistant\n");
//! # Ok::<(), lrpo_core::Error>(())
//! ```

mod filter;
mod instructions;
mod tokens;

pub use filter::FilterOutcome;
pub use instructions::{instruction, instruction_languages};
pub use lrpo_sdk::chat::{ChatTemplate, Message, CHATML_TEMPLATE};
pub use tokens::TokenCounter;

use lrpo_core::{Error, Lang, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the user turn asks for the routed language. Configs (`data.prompt_style`) spell it
/// `"tag"` or `"instruction"`; the default is the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptStyle {
    /// `question.trim() + "\n<|out_lang_xx|>"`, byte-exact with LRPO, for checkpoints
    /// warm-started on that tag.
    #[default]
    Tag,
    /// `question.trim() + "\n\n" +` an instruction in the target language to answer in it, for
    /// vanilla instruct models.
    Instruction,
}

impl std::str::FromStr for PromptStyle {
    type Err = Error;
    fn from_str(s: &str) -> Result<PromptStyle> {
        match s.trim() {
            "tag" => Ok(PromptStyle::Tag),
            "instruction" => Ok(PromptStyle::Instruction),
            other => Err(Error::config(
                "data.prompt_style",
                format!("`{other}` is not a prompt style; use `tag` or `instruction`"),
            )),
        }
    }
}

/// The LRPO control tag for `lang`.
pub fn language_tag(lang: &Lang) -> String {
    format!("<|out_lang_{}|>", lang.as_str())
}

/// The user turn for `question` routed to `lang`.
pub fn user_content(style: PromptStyle, question: &str, lang: &Lang) -> Result<String> {
    let question = question.trim();
    match style {
        PromptStyle::Tag => Ok(format!("{question}\n{}", language_tag(lang))),
        PromptStyle::Instruction => match instruction(lang) {
            Some(text) => Ok(format!("{question}\n\n{text}")),
            None => Err(Error::config(
                "data.prompt_style",
                format!(
                    "the `instruction` style has no instruction for language `{lang}` (it knows the 15 LRPO \
                     languages); use style `tag` or drop `{lang}` from the router's languages"
                ),
            )),
        },
    }
}

/// Builds rendered prompts and measures them.
#[derive(Debug)]
pub struct PromptBuilder {
    style: PromptStyle,
    template: ChatTemplate,
    counter: TokenCounter,
}

impl PromptBuilder {
    pub fn new(style: PromptStyle, template: ChatTemplate, counter: TokenCounter) -> PromptBuilder {
        PromptBuilder { style, template, counter }
    }

    /// Uses the model directory's chat template ([`ChatTemplate::from_model_dir`]: HF's
    /// `chat_template.jinja` or `tokenizer_config.json`, ChatML when neither has one) and its
    /// `tokenizer.json` for token counts (the approximation when absent, with a warning).
    /// Without a model directory: ChatML and the approximation.
    pub fn for_model(style: PromptStyle, model_dir: Option<&Path>) -> Result<PromptBuilder> {
        let Some(dir) = model_dir else {
            return Ok(PromptBuilder::new(style, ChatTemplate::chatml(), TokenCounter::Approximate));
        };
        let template = ChatTemplate::from_model_dir(dir)?;
        let tokenizer = dir.join("tokenizer.json");
        let counter = if tokenizer.is_file() {
            TokenCounter::from_file(&tokenizer)?
        } else {
            tracing::warn!(dir = %dir.display(), "no tokenizer.json: prompt lengths are estimated, not counted");
            TokenCounter::Approximate
        };
        Ok(PromptBuilder::new(style, template, counter))
    }

    pub fn style(&self) -> PromptStyle {
        self.style
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    pub fn counter(&self) -> &TokenCounter {
        &self.counter
    }

    /// The user turn for `question` in `lang`.
    pub fn user_content(&self, question: &str, lang: &Lang) -> Result<String> {
        user_content(self.style, question, lang)
    }

    /// The full prompt text: one user message, chat template applied, generation prompt added
    /// (no system message: the template adds its default one if it has any).
    pub fn render(&self, question: &str, lang: &Lang) -> Result<String> {
        let content = self.user_content(question, lang)?;
        self.template.render(&[Message::user(content)], true)
    }

    /// Tokens of the rendered prompt.
    pub fn prompt_tokens(&self, question: &str, lang: &Lang) -> Result<usize> {
        self.counter.count(&self.render(question, lang)?)
    }
}
