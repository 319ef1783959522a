//! One training question as the host uses it (the per-row fields of spec §1.5).

use super::layout::TRANSLATION_ABILITY;
use lrpo_core::{Lang, RouteContext};
use serde::{Deserialize, Serialize};

/// A question read from a parquet row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// `extra_info.index` (the row index within its split), or the row number when absent.
    pub index: u64,
    /// The text used for prompting (`question`).
    pub question: String,
    /// The reward's reference answer (`answer`).
    pub answer: String,
    /// The router's topic key (`ability`).
    pub topic: String,
    /// `extra_info.region`; only meaningful for "Regional Knowledge".
    pub region: Option<String>,
    /// Code of `extra_info.language`; `en` when the name is unknown (a warning is counted).
    pub orig_lang: Lang,
    /// Set for "Translation" items, which are always answered in their own language.
    pub fixed_lang: Option<Lang>,
    /// The language as written in the file (the reward's ground-truth language name), or the
    /// code where it came from a default or from detection.
    pub language_name: String,
    /// The file has no language for this row: the trainer detects it from the question with
    /// its LanguageId component before training (`orig_lang` is `en` until then).
    #[serde(default)]
    pub needs_language: bool,
    /// The row's pass-through columns as one JSON object, handed to the reward.
    #[serde(default)]
    pub extra: String,
    /// Where the row is, for errors found after reading.
    #[serde(skip)]
    pub origin: RowOrigin,
}

/// `file, row N` (parquet) or `file, line N` (JSON). It says where a question was read, not what
/// it is: two equal questions from two files compare equal.
#[derive(Debug, Clone, Default)]
pub struct RowOrigin(pub Option<std::sync::Arc<str>>);

impl PartialEq for RowOrigin {
    fn eq(&self, _: &RowOrigin) -> bool {
        true
    }
}

impl Question {
    /// The row's place for an error message (its index when it did not come from a file).
    pub fn origin(&self) -> String {
        match &self.origin.0 {
            Some(o) => o.to_string(),
            None => format!("question {}", self.index),
        }
    }
}

impl Question {
    /// The language the question is answered in when the router is not asked (validation).
    pub fn lang(&self) -> &Lang {
        self.fixed_lang.as_ref().unwrap_or(&self.orig_lang)
    }

    /// What the router needs to know about this question for one group.
    pub fn route_context(&self, group_id: u64) -> RouteContext {
        RouteContext {
            group_id,
            topic: self.topic.clone(),
            region: self.region.clone(),
            orig_lang: self.orig_lang.clone(),
            fixed_lang: self.fixed_lang.clone(),
        }
    }
}

/// Maps a language name to its code the way the spec recommends (§1.4): case-insensitive, and a
/// code is accepted too. `None` means unknown; the caller falls back to `en` and counts it.
pub(crate) fn language_code(name: &str) -> Option<Lang> {
    Lang::from_name_or_code(name)
}

/// `fixed_lang` of spec §1.5: only the "Translation" ability pins the language.
pub(crate) fn fixed_language(ability: &str, orig: &Lang) -> Option<Lang> {
    (ability == TRANSLATION_ABILITY).then(|| orig.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_ignore_case_and_accept_codes() {
        assert_eq!(language_code("Chinese"), Some(Lang::new("zh")));
        assert_eq!(language_code(" ARABIC "), Some(Lang::new("ar")));
        assert_eq!(language_code("vi"), Some(Lang::new("vi")));
        assert_eq!(language_code("klingon"), None);
    }

    #[test]
    fn only_translation_fixes_the_language() {
        let ja = Lang::new("ja");
        assert_eq!(fixed_language("Translation", &ja), Some(ja.clone()));
        assert_eq!(fixed_language("General Knowledge", &ja), None);
    }
}
