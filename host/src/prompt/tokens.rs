//! Prompt length in tokens: the model's own `tokenizer.json` when there is one, otherwise a
//! deliberately generous estimate.

use lrpo_core::{Error, Result};
use std::path::Path;

/// Counts the tokens of rendered prompts.
pub enum TokenCounter {
    /// The model's HF tokenizer; special tokens are not added, because the chat template
    /// already wrote them (as verl tokenises the rendered prompt).
    Tokenizer(Box<tokenizers::Tokenizer>),
    /// No tokenizer given: per whitespace-separated word, ceil(ASCII chars / 4) plus one token per
    /// non-ASCII char. BPE vocabularies rarely do worse, so the filter errs on dropping.
    Approximate,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenCounter::Tokenizer(_) => f.write_str("TokenCounter::Tokenizer"),
            TokenCounter::Approximate => f.write_str("TokenCounter::Approximate"),
        }
    }
}

impl TokenCounter {
    /// Loads a HF `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<TokenCounter> {
        if !path.is_file() {
            return Err(Error::io(path.display(), "no such tokenizer file"));
        }
        tokenizers::Tokenizer::from_file(path)
            .map(|t| TokenCounter::Tokenizer(Box::new(t)))
            .map_err(|e| Error::input(path.display().to_string(), format!("not a usable tokenizer.json: {e}")))
    }

    pub fn count(&self, text: &str) -> Result<usize> {
        match self {
            TokenCounter::Tokenizer(tokenizer) => tokenizer
                .encode(text, false)
                .map(|encoding| encoding.len())
                .map_err(|e| Error::runtime(format!("tokenizing a prompt: {e}"))),
            TokenCounter::Approximate => Ok(approximate_tokens(text)),
        }
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, TokenCounter::Tokenizer(_))
    }
}

fn approximate_tokens(text: &str) -> usize {
    text.split_whitespace()
        .map(|word| {
            let ascii = word.bytes().filter(u8::is_ascii).count();
            let other = word.chars().filter(|c| !c.is_ascii()).count();
            ascii.div_ceil(4) + other
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximation_counts_words_and_non_ascii_chars() {
        assert_eq!(approximate_tokens(""), 0);
        assert_eq!(approximate_tokens("a b"), 2);
        assert_eq!(approximate_tokens("capital"), 2);
        assert_eq!(approximate_tokens("首都是哪里"), 5);
        assert_eq!(approximate_tokens("Qual è"), 2);
    }
}
