//! Numbers as people and models write them: signs, decimals, thousands separators, fractions
//! (`3/4`, `\frac{3}{4}`), exponents, in the two decimal conventions.
//!
//! `1,5` is one and a half in German and a list of two numbers in English, and `1.500` is
//! fifteen hundred in German. Shapes that only one reading allows are read that way in any
//! language (`1,234,567`, `1.234,5`, `0.125`, `3.75`); the ambiguous shape, one separator
//! followed by exactly three digits (`1,500`, `1.500`), is read by the text's
//! [`Convention`]. A `.` followed by other than three digits is a decimal point in either
//! convention, since models write `3.5` in every language; a `,` so placed is a decimal comma
//! only under [`Convention::Comma`] and ends the number otherwise. No-break and thin spaces
//! group digits (`1 000 000`) in any text, a plain space only in groups of three under
//! [`Convention::Comma`] (`1 250 000` in French; `2 3` is two numbers everywhere).
//!
//! Callers pass NFKC text (full-width digits are then ASCII). Positions are char indices.

use lrpo_core::Lang;
use schemars::JsonSchema;
use serde::Deserialize;

/// How a text writes its decimal mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// `1,500.5` (English, Chinese, Japanese, Korean, ...).
    Point,
    /// `1.500,5` (German, French, Spanish, Italian, Russian, ...).
    Comma,
}

/// The `decimal_separator` config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecimalSeparator {
    /// By the text's language: the response's detected language (else the routed one), the
    /// reference's language for the reference.
    #[default]
    Auto,
    Point,
    Comma,
}

/// Languages that write a decimal comma (CLDR's `decimal` symbol for the language).
const COMMA_LANGUAGES: [&str; 17] =
    ["de", "fr", "es", "it", "pt", "nl", "pl", "ru", "uk", "cs", "sv", "da", "nb", "fi", "tr", "id", "vi"];

impl DecimalSeparator {
    /// The convention for a text in `lang` (`None`: not known, read as `Point`).
    pub fn convention(self, lang: Option<&Lang>) -> Convention {
        match self {
            DecimalSeparator::Point => Convention::Point,
            DecimalSeparator::Comma => Convention::Comma,
            DecimalSeparator::Auto => match lang {
                Some(l) if COMMA_LANGUAGES.contains(&l.as_str()) => Convention::Comma,
                _ => Convention::Point,
            },
        }
    }
}

/// One number found in a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    pub value: f64,
    /// First char (the sign if any) and one past the last.
    pub start: usize,
    pub end: usize,
}

/// |a - b| within `max(abs_tol, rel_tol · max(|a|, |b|))`.
pub fn close(a: f64, b: f64, abs_tol: f64, rel_tol: f64) -> bool {
    (a - b).abs() <= abs_tol.max(rel_tol * a.abs().max(b.abs()))
}

/// Every number in `text`, in order.
pub fn numbers(text: &str, convention: Convention) -> Vec<Number> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some((n, next)) = latex_fraction(&chars, i, convention) {
            out.push(n);
            i = next;
        } else if chars[i].is_ascii_digit()
            || (chars[i] == '.' && digit(&chars, i + 1) && !(i > 0 && chars[i - 1].is_alphanumeric()))
        {
            let (n, next) = number_at(&chars, i, convention);
            out.push(n);
            i = next;
        } else {
            i += 1;
        }
    }
    out
}

/// The text is one number and nothing else but currency, percent or degree marks around it
/// (`$1,000`, `50%`, `-3/4`, `\frac{1}{2}`). `None` for anything else.
pub fn single_number(text: &str, convention: Convention) -> Option<f64> {
    let found = numbers(text, convention);
    let [n] = found.as_slice() else { return None };
    let chars: Vec<char> = text.chars().collect();
    let rest: String = chars[..n.start].iter().chain(&chars[n.end..]).collect();
    let rest = rest.replace("\\%", "").replace("\\$", "").replace("^\\circ", "").replace("^{\\circ}", "");
    rest.chars().all(|c| c.is_whitespace() || matches!(c, '$' | '€' | '£' | '¥' | '%' | '°' | '.')).then_some(n.value)
}

fn digit(chars: &[char], i: usize) -> bool {
    chars.get(i).is_some_and(char::is_ascii_digit)
}

/// No-break and thin spaces group digits everywhere; a plain space only in comma-decimal
/// languages, where it is the usual thousands separator (`1 250 000` in French or Russian).
fn is_group_space(c: char, convention: Convention) -> bool {
    matches!(c, '\u{00A0}' | '\u{202F}' | '\u{2009}') || (c == ' ' && convention == Convention::Comma)
}

/// A sign directly before `at` that is not a binary minus (`3-2`, `x-1`, `(a)-b`).
fn sign_before(chars: &[char], at: usize) -> Option<(usize, f64)> {
    let s = at.checked_sub(1)?;
    let sign = match chars[s] {
        '-' | '\u{2212}' => -1.0,
        '+' => 1.0,
        _ => return None,
    };
    let binary = s > 0 && (chars[s - 1].is_alphanumeric() || matches!(chars[s - 1], ')' | ']' | '}'));
    (!binary).then_some((s, sign))
}

/// The number whose first digit (or leading `.`) is at `at`; returns it and where to go on.
fn number_at(chars: &[char], at: usize, convention: Convention) -> (Number, usize) {
    let (start, sign) = sign_before(chars, at).unwrap_or((at, 1.0));
    if chars[at] == '.' {
        let end = (at + 1..chars.len()).find(|&j| !digit(chars, j)).unwrap_or(chars.len());
        let text: String = std::iter::once('0').chain(chars[at..end].iter().copied()).collect();
        let value = text.parse::<f64>().unwrap_or(0.0);
        return (Number { value: sign * value, start, end }, end);
    }
    // Digits and separators that sit between digits.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut seps: Vec<char> = Vec::new();
    let mut j = at;
    loop {
        let g = j;
        while digit(chars, j) {
            j += 1;
        }
        groups.push((g, j));
        match chars.get(j) {
            Some(&c) if (matches!(c, ',' | '.') || is_group_space(c, convention)) && digit(chars, j + 1) => {
                seps.push(c);
                j += 1;
            }
            _ => break,
        }
    }
    let (mut value, int_only, mut end) = interpret(chars, &groups, &seps, convention);
    // An exponent: `2.5e-3`, not `5eggs`.
    if end == groups.last().map_or(end, |g| g.1) && matches!(chars.get(end), Some('e' | 'E')) {
        let mut k = end + 1;
        if matches!(chars.get(k), Some('-' | '+')) {
            k += 1;
        }
        let digits_start = k;
        while digit(chars, k) {
            k += 1;
        }
        if k > digits_start && !chars.get(k).is_some_and(|c| c.is_alphabetic()) {
            let exp: String = chars[end + 1..k].iter().collect();
            if let Ok(e) = exp.parse::<i32>() {
                value *= 10f64.powi(e);
                end = k;
            }
        }
    }
    // A fraction of integers: `3/4`, but not a date `1/2/2024` (neither its start nor its end).
    let after_slash = at > 0 && matches!(chars[at - 1], '/' | '\u{2044}');
    if int_only && !after_slash && matches!(chars.get(end), Some('/' | '\u{2044}')) && digit(chars, end + 1) {
        let mut k = end + 1;
        while digit(chars, k) {
            k += 1;
        }
        let date = matches!(chars.get(k), Some('/' | '\u{2044}')) && digit(chars, k + 1);
        let den: String = chars[end + 1..k].iter().collect();
        if let (false, Ok(den)) = (date, den.parse::<f64>()) {
            if den != 0.0 {
                value /= den;
                end = k;
            }
        }
    }
    (Number { value: sign * value, start, end }, end)
}

/// Reads groups of digits and their separators: (value, whether it is an integer, end).
fn interpret(chars: &[char], groups: &[(usize, usize)], seps: &[char], convention: Convention) -> (f64, bool, usize) {
    let text = |g: (usize, usize)| chars[g.0..g.1].iter().collect::<String>();
    let len = |g: (usize, usize)| g.1 - g.0;
    // Only the first group: the number ends at the first separator.
    let first_only = || (text(groups[0]).parse::<f64>().unwrap_or(0.0), true, groups[0].1);
    if seps.is_empty() {
        return first_only();
    }
    let last = *seps.last().unwrap();
    let has = |c: char| seps.contains(&c);
    let decimal: Option<usize> = if is_group_space(last, convention) {
        None
    } else if has('.') && has(',') {
        Some(seps.len() - 1)
    } else if seps.iter().filter(|&&c| c == last).count() > 1 {
        None
    } else {
        let tail = len(*groups.last().unwrap());
        let leading_zero = groups.len() == 2 && text(groups[0]) == "0";
        let ambiguous = tail == 3 && !leading_zero;
        let decimal_here = match (last, convention) {
            (',', Convention::Comma) | ('.', Convention::Point) => true,
            ('.', Convention::Comma) => !ambiguous,
            (',', Convention::Point) if ambiguous => false,
            // `1,5` in a point-decimal text: the comma is not part of the number.
            _ => return first_only_before(chars, groups, seps),
        };
        decimal_here.then_some(seps.len() - 1)
    };
    let grouping = &seps[..decimal.unwrap_or(seps.len())];
    let int_groups = &groups[..grouping.len() + 1];
    // All kinds of group spaces are one kind of separator.
    let kind = |c: char| if is_group_space(c, convention) { ' ' } else { c };
    let grouping_ok = grouping.windows(2).all(|w| kind(w[0]) == kind(w[1]))
        && grouping.first().is_none_or(|&g| decimal.is_none_or(|d| seps[d] != g))
        && (grouping.is_empty() || (1..=3).contains(&len(int_groups[0])))
        && int_groups[1..].iter().all(|&g| len(g) == 3);
    if !grouping_ok {
        return first_only();
    }
    let mut digits: String = int_groups.iter().map(|&g| text(g)).collect();
    let int_only = decimal.is_none();
    if decimal.is_some() {
        digits.push('.');
        digits.push_str(&text(*groups.last().unwrap()));
    }
    (digits.parse::<f64>().unwrap_or(0.0), int_only, groups.last().unwrap().1)
}

/// The number up to its last separator, for a trailing `,` that a point-decimal text does not
/// read as a decimal comma (`1,5` is 1 and 5, `1 000,5` is 1000 and 5).
fn first_only_before(chars: &[char], groups: &[(usize, usize)], seps: &[char]) -> (f64, bool, usize) {
    let (value, int_only, end) =
        interpret(chars, &groups[..groups.len() - 1], &seps[..seps.len() - 1], Convention::Point);
    (value, int_only, end)
}

/// `\frac{a}{b}` (also `\dfrac`, `\tfrac`) of two plain numbers, with a sign before it.
fn latex_fraction(chars: &[char], at: usize, convention: Convention) -> Option<(Number, usize)> {
    if chars[at] != '\\' {
        return None;
    }
    let name_end = (at + 1..chars.len()).find(|&j| !chars[j].is_ascii_alphabetic()).unwrap_or(chars.len());
    let name: String = chars[at + 1..name_end].iter().collect();
    if !matches!(name.as_str(), "frac" | "dfrac" | "tfrac") {
        return None;
    }
    let (num, after_num) = braced(chars, name_end)?;
    let (den, end) = braced(chars, after_num)?;
    let num = single_number(&num, convention)?;
    let den = single_number(&den, convention)?;
    if den == 0.0 {
        return None;
    }
    let (start, sign) = sign_before(chars, at).unwrap_or((at, 1.0));
    Some((Number { value: sign * num / den, start, end }, end))
}

/// The contents of `{...}` starting at `at` (spaces before it allowed) and the index after it.
fn braced(chars: &[char], at: usize) -> Option<(String, usize)> {
    let open = (at..chars.len()).find(|&j| !chars[j].is_whitespace())?;
    if chars[open] != '{' {
        return None;
    }
    let mut depth = 0usize;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((chars[open + 1..j].iter().collect(), j + 1));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, c: Convention) -> Vec<f64> {
        numbers(text, c).iter().map(|n| n.value).collect()
    }

    #[test]
    fn plain_signed_and_decimal() {
        let p = Convention::Point;
        assert_eq!(values("She has 18 eggs and sells 3.", p), [18.0, 3.0]);
        assert_eq!(values("x = -5, y = +2.25 and z=−7", p), [-5.0, 2.25, -7.0]);
        assert_eq!(values("3-2 = 1", p), [3.0, 2.0, 1.0], "a binary minus is no sign");
        assert_eq!(values("about .5 of it", p), [0.5]);
        assert_eq!(values("2.5e-3 and 5eggs", p), [0.0025, 5.0]);
        assert_eq!(values("no digits here", p), Vec::<f64>::new());
    }

    #[test]
    fn separators_by_shape_and_convention() {
        let (p, c) = (Convention::Point, Convention::Comma);
        for conv in [p, c] {
            assert_eq!(values("1,234,567", conv), [1234567.0]);
            assert_eq!(values("1.234.567", conv), [1234567.0]);
            assert_eq!(values("1,234.5", conv), [1234.5]);
            assert_eq!(values("1.234,5", conv), [1234.5]);
            assert_eq!(values("3.75", conv), [3.75]);
            assert_eq!(values("0.125", conv), [0.125]);
            assert_eq!(values("1\u{202F}000\u{00A0}000", conv), [1000000.0]);
            assert_eq!(values("2 3", conv), [2.0, 3.0]);
        }
        assert_eq!(values("1 250 000", c), [1250000.0]);
        assert_eq!(values("1 250 000", p), [1.0, 250.0, 0.0]);
        // One separator and three digits: the language decides.
        assert_eq!(values("1,500", p), [1500.0]);
        assert_eq!(values("1,500", c), [1.5]);
        assert_eq!(values("1.500", p), [1.5]);
        assert_eq!(values("1.500", c), [1500.0]);
        // A decimal comma is only read as one where the language writes it.
        assert_eq!(values("1,5", c), [1.5]);
        assert_eq!(values("1,5", p), [1.0, 5.0]);
        assert_eq!(values("1\u{00A0}234,5", c), [1234.5]);
        // Groups that are not groups of three end the number.
        assert_eq!(values("12,34,567", p), [12.0, 34567.0]);
    }

    #[test]
    fn fractions_and_dates() {
        let p = Convention::Point;
        assert_eq!(values("3/4 of 12", p), [0.75, 12.0]);
        assert_eq!(values("\\frac{3}{4} and -\\dfrac{1}{2} and \\tfrac{6}{3}", p), [0.75, -0.5, 2.0]);
        assert_eq!(values("1/2/2024", p), [1.0, 2.0, 2024.0]);
        assert_eq!(values("5/0", p), [5.0, 0.0]);
        assert_eq!(values("1.5/2", p), [1.5, 2.0], "only integer fractions");
    }

    #[test]
    fn single_numbers_allow_units_of_form_only() {
        let p = Convention::Point;
        assert_eq!(single_number("$1,000", p), Some(1000.0));
        assert_eq!(single_number(" 50\\% ", p), Some(50.0));
        assert_eq!(single_number("90^\\circ", p), Some(90.0));
        assert_eq!(single_number("\\frac{1}{2}", p), Some(0.5));
        assert_eq!(single_number("x = 2", p), None);
        assert_eq!(single_number("2, 3", p), None);
        assert_eq!(single_number("", p), None);
    }

    #[test]
    fn tolerance_is_absolute_or_relative() {
        assert!(close(1.0, 1.0 + 1e-7, 1e-6, 0.0));
        assert!(!close(1.0, 1.001, 1e-6, 0.0));
        assert!(close(1_000_000.0, 1_000_100.0, 0.0, 1e-4));
        assert!(!close(1_000_000.0, 1_000_200.0, 0.0, 1e-4));
    }

    #[test]
    fn auto_convention_follows_the_language() {
        let auto = DecimalSeparator::Auto;
        assert_eq!(auto.convention(Some(&Lang::new("de"))), Convention::Comma);
        assert_eq!(auto.convention(Some(&Lang::new("ja"))), Convention::Point);
        assert_eq!(auto.convention(None), Convention::Point);
        assert_eq!(DecimalSeparator::Comma.convention(Some(&Lang::new("en"))), Convention::Comma);
    }
}
