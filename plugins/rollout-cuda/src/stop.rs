//! When a sequence is done: EOS and stop ids, stop strings, the length budget.

use lrpo_core::FinishReason;

/// Why a sequence stopped, and the text to report when a stop string cut it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Running,
    Done(FinishReason),
    /// A stop string ended at the last token; the text before the stop string is kept.
    StopString {
        text: String,
    },
}

/// What ends one request's sequence.
#[derive(Debug, Clone)]
pub struct StopRule {
    pub stop_ids: Vec<u32>,
    pub stop_strings: Vec<String>,
    pub max_new_tokens: usize,
}

impl StopRule {
    /// Judges the sequence after `tokens.last()` was appended. `decode` turns response tokens into
    /// text; it is called only when there are stop strings to look for.
    ///
    /// Stop ids win over stop strings, and both over the length budget, so a sequence whose last
    /// allowed token is EOS reports `Stop`, as transformers and vLLM do.
    pub fn judge(
        &self,
        tokens: &[u32],
        decode: impl FnOnce(&[u32]) -> lrpo_core::Result<String>,
    ) -> lrpo_core::Result<Verdict> {
        let Some(&last) = tokens.last() else { return Ok(Verdict::Running) };
        if self.stop_ids.contains(&last) {
            return Ok(Verdict::Done(FinishReason::Stop));
        }
        if !self.stop_strings.is_empty() {
            let text = decode(tokens)?;
            // The earliest occurrence wins when several stop strings appear at once.
            let cut = self.stop_strings.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min();
            if let Some(cut) = cut {
                return Ok(Verdict::StopString { text: text[..cut].to_string() });
            }
        }
        if tokens.len() >= self.max_new_tokens {
            return Ok(Verdict::Done(FinishReason::Length));
        }
        Ok(Verdict::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letters(tokens: &[u32]) -> lrpo_core::Result<String> {
        Ok(tokens.iter().map(|&t| char::from(b'a' + t as u8)).collect())
    }

    #[test]
    fn stop_id_beats_length_and_strings() {
        let rule = StopRule { stop_ids: vec![9], stop_strings: vec!["j".into()], max_new_tokens: 2 };
        assert_eq!(rule.judge(&[0, 9], letters).unwrap(), Verdict::Done(FinishReason::Stop));
        assert_eq!(rule.judge(&[0, 1], letters).unwrap(), Verdict::Done(FinishReason::Length));
        assert_eq!(rule.judge(&[0], letters).unwrap(), Verdict::Running);
    }

    #[test]
    fn earliest_stop_string_cuts_the_text() {
        let rule = StopRule {
            stop_ids: vec![],
            stop_strings: vec!["cd".into(), "bc".into(), String::new()],
            max_new_tokens: 10,
        };
        assert_eq!(rule.judge(&[0, 1], letters).unwrap(), Verdict::Running);
        assert_eq!(rule.judge(&[0, 1, 2, 3], letters).unwrap(), Verdict::StopString { text: "a".into() });
    }
}
