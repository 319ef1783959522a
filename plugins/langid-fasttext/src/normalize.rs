//! LRPO's text preparation before language ID (spec §4.2): trim, drop fenced code blocks,
//! collapse whitespace; then the weak-text rule.

use std::borrow::Cow;

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

const FENCE: &str = "```";

/// Python's `str.isspace`, which both `strip()` and the regex `\s` use: Unicode White_Space
/// plus the four ASCII information separators (U+001C..U+001F) that Rust does not count.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `re.sub(r"\s+", " ", re.sub(r"```.*?```", " ", text.strip(), flags=re.S))`: fenced blocks
/// (non-greedy, across lines) become one space, an unclosed fence stays, every whitespace run
/// becomes one space, and there is no final trim.
pub fn normalize_for_lid(text: &str) -> String {
    let text = text.trim_matches(is_python_space);
    let unfenced = remove_fenced_blocks(text);

    let mut out = String::with_capacity(unfenced.len());
    let mut in_space = false;
    for c in unfenced.chars() {
        if is_python_space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

fn remove_fenced_blocks(text: &str) -> Cow<'_, str> {
    if !text.contains(FENCE) {
        return Cow::Borrowed(text);
    }
    let mut unfenced = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(FENCE) {
        let after_open = &rest[open + FENCE.len()..];
        let Some(close) = after_open.find(FENCE) else { break };
        unfenced.push_str(&rest[..open]);
        unfenced.push(' ');
        rest = &after_open[close + FENCE.len()..];
    }
    unfenced.push_str(rest);
    Cow::Owned(unfenced)
}

/// Letters (L*) and numbers (N*) by general category, the spec's bit-exact reading of Python's
/// `isalnum` (Rust's `char::is_alphanumeric` also counts combining marks such as Devanagari
/// vowel signs).
fn is_letter_or_number(c: char) -> bool {
    if c.is_ascii() {
        // the same answer without a table lookup, for the common case
        return c.is_ascii_alphanumeric();
    }
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
            | Gc::DecimalNumber
            | Gc::LetterNumber
            | Gc::OtherNumber
    )
}

/// True when normalised text is too thin to identify: empty, or letters and numbers make up
/// less than `min_alnum_ratio` of its code points (0.05 in LRPO).
pub fn is_weak_text(normalized: &str, min_alnum_ratio: f64) -> bool {
    let (len, alnum) =
        normalized.chars().fold((0usize, 0usize), |(len, alnum), c| (len + 1, alnum + is_letter_or_number(c) as usize));
    if len < 1 {
        return true;
    }
    (alnum as f64 / len.max(1) as f64) < min_alnum_ratio
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tv8_normalisation() {
        assert_eq!(normalize_for_lid("Hello ```x``` world\n\n again"), "Hello world again");
    }

    #[test]
    fn tv8_fenced_only_and_blank_texts_are_weak() {
        assert_eq!(normalize_for_lid("```\nfn main() {}\n```"), " ");
        assert!(is_weak_text(&normalize_for_lid("```\nfn main() {}\n```"), 0.05));
        assert_eq!(normalize_for_lid(""), "");
        assert!(is_weak_text(&normalize_for_lid(""), 0.05));
        assert_eq!(normalize_for_lid("  "), "");
        assert!(is_weak_text(&normalize_for_lid("  "), 0.05));
    }

    #[test]
    fn tv8_weak_text_boundary() {
        let a = format!("a{}", "!".repeat(30));
        let ab = format!("ab{}", "!".repeat(30));
        assert!(is_weak_text(&normalize_for_lid(&a), 0.05));
        assert!(!is_weak_text(&normalize_for_lid(&ab), 0.05));
    }

    #[test]
    fn fences_are_non_greedy_and_an_unclosed_fence_stays() {
        assert_eq!(normalize_for_lid("a ```b``` c ```d``` e"), "a c e");
        assert_eq!(normalize_for_lid("a ```b``` c ```d"), "a c ```d");
        assert_eq!(normalize_for_lid("````x```y"), " y");
        assert_eq!(normalize_for_lid("x ```"), "x ```");
    }

    #[test]
    fn whitespace_follows_python() {
        // ideographic space and a unit separator are whitespace to Python, tabs collapse too
        assert_eq!(normalize_for_lid("\u{1f}a\u{3000}\u{3000}b\t\tc\u{85}"), "a b c");
        // no-break space is whitespace; zero-width space is not
        assert_eq!(normalize_for_lid("a\u{a0}b\u{200b}c"), "a b\u{200b}c");
    }

    #[test]
    fn combining_marks_do_not_count_as_letters() {
        // U+093F DEVANAGARI VOWEL SIGN I is Mc: Rust's is_alphanumeric says yes, the spec no.
        assert!('\u{93f}'.is_alphanumeric());
        assert!(!is_letter_or_number('\u{93f}'));
        assert!(is_letter_or_number('٣')); // Arabic-Indic digit, Nd
        assert!(is_letter_or_number('Ⅻ')); // Roman numeral, Nl
        assert!(is_letter_or_number('中'));
        // the ASCII shortcut agrees with the categories on every ASCII character
        for c in (0u8..128).map(char::from) {
            let by_category =
                matches!(get_general_category(c), Gc::UppercaseLetter | Gc::LowercaseLetter | Gc::DecimalNumber);
            assert_eq!(is_letter_or_number(c), by_category, "{c:?}");
        }
        // one letter among 20 marks: 1/21 < 0.05
        let text = format!("क{}", "\u{93f}".repeat(20));
        assert!(is_weak_text(&text, 0.05));
    }
}
