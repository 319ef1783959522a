//! The judge prompt: one template with four placeholders, filled per item, and its hash.
//!
//! The built-in template is this project's own wording of the four-label rubric of the LRPO
//! spec (§7). A user may bring another (`--judge-prompt FILE`); every stored judgement carries
//! the hash of the prompt it was made from, so a changed template re-judges every item while an
//! unchanged one is never asked twice.

use lrpo_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The placeholders a template must hold, each at least once.
pub const PLACEHOLDERS: [&str; 4] = ["question", "gold_answer", "expected_language", "response"];

/// The built-in judge prompt.
pub const DEFAULT_TEMPLATE: &str = "\
You are grading one answer to a knowledge question. You get the question, a reference answer \
that is known to be right, the language the answer was supposed to be written in, and the answer \
to grade. Decide which one of these four grades fits, judging the facts only against the \
reference:

A = CORRECT: the answer states the key facts of the reference and says nothing that \
contradicts it, and it is written in the expected language. Phrasing, order, extra harmless \
detail and cautious wording do not matter. Names of people or places left in their original \
script are fine.
B = CORRECT_BUT_WRONG_LANGUAGE: the facts would earn A, but the answer is plainly written in a \
language other than the expected one.
C = INCORRECT: at least one factual claim contradicts the reference, in any language. A wrong \
claim stays wrong when it is hedged; a list with a wrong item is wrong; a partial answer that \
is presented as if it were complete counts here too.
D = NOT_ATTEMPTED: the key facts are missing but nothing contradicts the reference, for example \
a refusal, an \"I do not know\", or a partial answer that openly says the rest is unknown.

Question:
{question}

Reference answer:
{gold_answer}

Expected language of the answer: {expected_language}

Answer to grade:
{response}

Reply with one capital letter, A, B, C or D, and nothing else.";

/// A judge prompt template, checked to hold every placeholder.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgePrompt {
    template: String,
}

/// What fills one prompt.
#[derive(Debug, Clone, Copy)]
pub struct PromptFields<'a> {
    pub question: &'a str,
    pub gold_answer: &'a str,
    /// A language name the judge can read ("Chinese (zh)").
    pub expected_language: &'a str,
    pub response: &'a str,
}

impl Default for JudgePrompt {
    fn default() -> Self {
        JudgePrompt { template: DEFAULT_TEMPLATE.to_string() }
    }
}

impl JudgePrompt {
    /// A template from text; `origin` names it in errors (the file, or `--judge-prompt`).
    pub fn new(template: String, origin: &str) -> Result<JudgePrompt> {
        for name in PLACEHOLDERS {
            if !template.contains(&format!("{{{name}}}")) {
                return Err(Error::input(
                    origin,
                    format!(
                        "the judge prompt lacks the placeholder {{{name}}} (it needs {})",
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                    ),
                ));
            }
        }
        Ok(JudgePrompt { template })
    }

    /// The built-in template, or the one in `file`.
    pub fn load(file: Option<&Path>) -> Result<JudgePrompt> {
        let Some(file) = file else { return Ok(JudgePrompt::default()) };
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| Error::input(&origin, format!("cannot read: {e}")))?;
        JudgePrompt::new(text, &origin)
    }

    /// The hash of the template alone (recorded with the results, to tell prompts apart).
    pub fn template_hash(&self) -> String {
        hash(&self.template)
    }

    /// The prompt for one item. Placeholders are found in the template only, in one pass, so a
    /// response that itself contains `{question}` is sent as written.
    pub fn render(&self, fields: &PromptFields<'_>) -> String {
        let mut out = String::with_capacity(self.template.len() + fields.response.len() + fields.question.len());
        let mut rest = self.template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let value = after.find('}').and_then(|close| {
                let value = match &after[..close] {
                    "question" => fields.question,
                    "gold_answer" => fields.gold_answer,
                    "expected_language" => fields.expected_language,
                    "response" => fields.response,
                    _ => return None,
                };
                Some((value, close))
            });
            match value {
                Some((value, close)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// SHA-256 of `text`, first 16 bytes in hex: enough to tell prompts apart, short enough to read.
pub fn hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(response: &'a str) -> PromptFields<'a> {
        PromptFields { question: "Q?", gold_answer: "G", expected_language: "German (de)", response }
    }

    #[test]
    fn the_default_template_holds_every_placeholder_and_names_the_four_labels() {
        let p = JudgePrompt::new(DEFAULT_TEMPLATE.to_string(), "built-in").unwrap();
        let text = p.render(&fields("R"));
        for want in ["Q?", "G", "German (de)", "R", "CORRECT_BUT_WRONG_LANGUAGE", "NOT_ATTEMPTED", "INCORRECT"] {
            assert!(text.contains(want), "{want}");
        }
        assert!(!text.contains("{response}"));
    }

    #[test]
    fn placeholders_in_the_response_are_sent_as_written() {
        let p = JudgePrompt::new("[{response}] {question} {gold_answer} {expected_language} {x}".into(), "t").unwrap();
        assert_eq!(p.render(&fields("say {question}")), "[say {question}] Q? G German (de) {x}");
    }

    #[test]
    fn a_template_without_a_placeholder_is_refused_naming_it() {
        let err = JudgePrompt::new("{question} {gold_answer} {response}".into(), "judge.txt").unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("judge.txt") && err.to_string().contains("{expected_language}"), "{err}");
    }

    #[test]
    fn the_hash_follows_the_text() {
        assert_eq!(hash("a"), hash("a"));
        assert_ne!(hash("a"), hash("b"));
        assert_eq!(hash("a").len(), 32);
        // SHA-256("abc") starts ba7816bf 8f01cfea 414140de 5dae2223.
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223");
    }
}
