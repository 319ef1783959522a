//! Text normalisation before an exact comparison: Unicode NFKC, case, punctuation, whitespace.
//!
//! NFKC comes first so that full-width forms (`Ｐａｒｉｓ`, `７２`), ligatures and other
//! compatibility characters compare equal to their plain spelling, whatever script the answer
//! is in. Punctuation is Unicode general category P*, so `。`, `「」` and `¿` count as well.

use schemars::JsonSchema;
use serde::Deserialize;
use unicode_general_category::{get_general_category, GeneralCategory as G};
use unicode_normalization::UnicodeNormalization;

/// What to do with whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Whitespace {
    /// Trim, and make every run of whitespace one space.
    #[default]
    Collapse,
    /// Drop all whitespace (answers in scripts without spaces, LaTeX, `1 000` vs `1000`).
    Remove,
    /// Leave it as it is.
    Keep,
}

/// How texts are normalised before an exact comparison (`[...config.normalize]`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Normalize {
    /// Apply Unicode NFKC.
    pub nfkc: bool,
    /// Compare case-sensitively (default: Unicode lower-casing on both sides).
    pub case_sensitive: bool,
    /// Delete punctuation (Unicode P*). A sign directly before a digit and a decimal point or
    /// comma between two digits are kept, so `-5` never equals `5` nor `3.5` equal `35`.
    pub strip_punctuation: bool,
    pub whitespace: Whitespace,
}

impl Default for Normalize {
    fn default() -> Self {
        Normalize { nfkc: true, case_sensitive: false, strip_punctuation: true, whitespace: Whitespace::Collapse }
    }
}

impl Normalize {
    /// The normalised form of `text`.
    pub fn apply(&self, text: &str) -> String {
        let text: String = if self.nfkc { text.nfkc().collect() } else { text.to_string() };
        let text = if self.case_sensitive { text } else { text.to_lowercase() };
        let text = if self.strip_punctuation { strip_punctuation(&text) } else { text };
        match self.whitespace {
            Whitespace::Collapse => text.split_whitespace().collect::<Vec<_>>().join(" "),
            Whitespace::Remove => text.chars().filter(|c| !c.is_whitespace()).collect(),
            Whitespace::Keep => text,
        }
    }
}

/// Unicode NFKC of `text`.
pub fn nfkc(text: &str) -> String {
    text.nfkc().collect()
}

fn is_punctuation(c: char) -> bool {
    matches!(
        get_general_category(c),
        G::ConnectorPunctuation
            | G::DashPunctuation
            | G::OpenPunctuation
            | G::ClosePunctuation
            | G::InitialPunctuation
            | G::FinalPunctuation
            | G::OtherPunctuation
    )
}

fn strip_punctuation(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let digit_at = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let sign = matches!(c, '-' | '+' | '\u{2212}') && digit_at(i + 1);
        let decimal = matches!(c, '.' | ',') && i > 0 && digit_at(i - 1) && digit_at(i + 1);
        if sign || decimal || !is_punctuation(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fold_case_width_punctuation_and_spaces() {
        let n = Normalize::default();
        assert_eq!(n.apply("  The   Eiffel Tower!  "), "the eiffel tower");
        assert_eq!(n.apply("Ｐａｒｉｓ。"), "paris");
        assert_eq!(n.apply("「東京」です。"), "東京です");
        assert_eq!(n.apply("¿Madrid?"), "madrid");
        assert_eq!(n.apply("U.S.A."), "usa");
        // Signs and decimal marks between digits survive.
        assert_eq!(n.apply("-5."), "-5");
        assert_eq!(n.apply("3.5"), "3.5");
        assert_ne!(n.apply("-5"), n.apply("5"));
        assert_eq!(n.apply("ǅ"), "dž", "NFKC then lower-casing");
    }

    #[test]
    fn each_option_can_be_turned_off() {
        let keep =
            Normalize { nfkc: false, case_sensitive: true, strip_punctuation: false, whitespace: Whitespace::Keep };
        assert_eq!(keep.apply(" Ｐａｒｉｓ! "), " Ｐａｒｉｓ! ");
        let remove = Normalize { whitespace: Whitespace::Remove, ..Normalize::default() };
        assert_eq!(remove.apply("1 000 000"), "1000000");
        assert_eq!(remove.apply("北 京"), "北京");
    }
}
