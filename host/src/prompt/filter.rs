//! The over-length prompt filter (spec §3.8). A question is kept only if its prompt fits
//! `max_prompt_length` in whichever routed language makes it longest. The reference measured a
//! literal `{ln}` tag here; this measures the real tags (or instructions).

use super::PromptBuilder;
use crate::data::Question;
use lrpo_core::{Error, Lang, Result};
use std::fmt;

/// What the filter kept and dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterOutcome {
    pub kept: Vec<Question>,
    /// `index` of each dropped question.
    pub dropped: Vec<u64>,
    /// The language whose tag or instruction is longest in tokens; prompts were measured with it.
    pub longest_lang: Lang,
    pub max_prompt_length: usize,
}

impl fmt::Display for FilterOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kept {} of {} prompts; dropped {} longer than {} tokens (measured with the longest language suffix, `{}`)",
            self.kept.len(),
            self.kept.len() + self.dropped.len(),
            self.dropped.len(),
            self.max_prompt_length,
            self.longest_lang
        )
    }
}

impl PromptBuilder {
    /// The language in `languages` whose suffix (tag or instruction) has the most tokens, with
    /// that count; the first one wins a tie.
    pub fn longest_language(&self, languages: &[Lang]) -> Result<(Lang, usize)> {
        let mut best: Option<(Lang, usize)> = None;
        for lang in languages {
            let tokens = self.counter().count(&self.user_content("", lang)?)?;
            if best.as_ref().is_none_or(|(_, most)| tokens > *most) {
                best = Some((lang.clone(), tokens));
            }
        }
        best.ok_or_else(|| Error::config("router.languages", "no languages to build prompts for"))
    }

    /// With the filter off: refuses the first question whose prompt is longer than
    /// `max_prompt_length` in the longest of `languages`, naming its file and row, rather than
    /// letting the rollout engine fail on it mid-run.
    pub fn check_lengths(&self, questions: &[Question], languages: &[Lang], max_prompt_length: usize) -> Result<()> {
        let (longest_lang, _) = self.longest_language(languages)?;
        for q in questions {
            let tokens =
                self.prompt_tokens(&q.question, &longest_lang)?.max(self.prompt_tokens(&q.question, q.lang())?);
            if tokens > max_prompt_length {
                return Err(Error::input(
                    q.origin(),
                    format!(
                        "the prompt has {tokens} tokens, more than data.max_prompt_length ({max_prompt_length}); \
                         data.filter_overlong_prompts is off: shorten it, raise the limit, or turn the filter on"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Keeps the questions whose rendered prompt has at most `max_prompt_length` tokens in the
    /// longest of `languages` and in the question's own (or fixed) language.
    pub fn filter_overlong(
        &self,
        questions: Vec<Question>,
        languages: &[Lang],
        max_prompt_length: usize,
    ) -> Result<FilterOutcome> {
        let (longest_lang, longest_tokens) = self.longest_language(languages)?;
        let mut kept = Vec::with_capacity(questions.len());
        let mut dropped = Vec::new();
        for question in questions {
            let mut tokens = self.prompt_tokens(&question.question, &longest_lang)?;
            let own = question.lang();
            if own != &longest_lang && self.counter().count(&self.user_content("", own)?)? > longest_tokens {
                tokens = tokens.max(self.prompt_tokens(&question.question, own)?);
            }
            if tokens <= max_prompt_length {
                kept.push(question);
            } else {
                dropped.push(question.index);
            }
        }
        let outcome = FilterOutcome { kept, dropped, longest_lang, max_prompt_length };
        if !outcome.dropped.is_empty() {
            tracing::warn!("{outcome}");
        }
        Ok(outcome)
    }
}
