//! Finding the answer inside a response or a reference: GSM8K's `#### answer` line, the last
//! `\boxed{...}`, and the clean-up that makes two LaTeX answers comparable as text.

use crate::numbers::{numbers, Convention};

/// GSM8K's answer marker.
pub const GSM8K_MARKER: &str = "####";

/// The number right after the last `####` (whitespace and a currency sign may sit between):
/// GSM8K's convention for both the dataset's answers and a trained model's output. `None`
/// when there is no marker or no number follows it at once (`#### seventy` is no answer).
pub fn gsm8k_answer(text: &str, convention: Convention) -> Option<f64> {
    let (_, after) = text.rsplit_once(GSM8K_MARKER)?;
    let lead = after.chars().take_while(|c| c.is_whitespace() || matches!(c, '$' | '€' | '£' | '¥')).count();
    let first = *numbers(after, convention).first()?;
    // `start` includes a sign, so `#### -7` and `#### $1,234` both start right after the lead.
    (first.start == lead).then_some(first.value)
}

/// The contents of the last `\boxed{...}` (or `\fbox{...}`), braces nested to any depth; also
/// the brace-less `\boxed 5`. `None` when there is none or its braces never close.
pub fn last_boxed(text: &str) -> Option<String> {
    let at = ["\\boxed", "\\fbox"].iter().filter_map(|m| text.rfind(m).map(|i| (i, m.len()))).max()?;
    let rest = &text[at.0 + at.1..];
    if let Some(body) = rest.strip_prefix(' ') {
        // `\boxed 5`: up to the next space or `$`.
        let end = body.find(|c: char| c.is_whitespace() || c == '$').unwrap_or(body.len());
        return (end > 0).then(|| body[..end].to_string());
    }
    let body = rest.trim_start().strip_prefix('{')?;
    let mut depth = 1usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(body[..i].to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// The answer a reference holds: after its last `####` if it has one (a GSM8K solution), the
/// last `\boxed{}` if it has one (a MATH solution), else all of it.
pub fn reference_answer(reference: &str) -> String {
    if let Some((_, after)) = reference.rsplit_once(GSM8K_MARKER) {
        return after.trim().to_string();
    }
    last_boxed(reference).unwrap_or_else(|| reference.trim().to_string())
}

/// LaTeX written differently but meaning the same: sizing and spacing commands, `$`, `\text{}`
/// wrappers, `\dfrac`/`\tfrac`, all whitespace and a final full stop go.
pub fn clean_latex(text: &str) -> String {
    let mut s = text.to_string();
    for wrapper in ["\\text", "\\textbf", "\\mathrm", "\\mathbf", "\\mbox"] {
        s = unwrap_command(&s, wrapper);
    }
    for (from, to) in [("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\left", ""), ("\\right", "")] {
        s = s.replace(from, to);
    }
    for spacing in ["\\!", "\\,", "\\;", "\\:", "\\ ", "\\quad", "\\qquad", "$"] {
        s = s.replace(spacing, "");
    }
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    s.strip_suffix('.').map(str::to_string).unwrap_or(s)
}

/// `\cmd{x}` → `x` for every occurrence (the command's name must end there: `\textbf` is not
/// `\text` followed by `bf`).
fn unwrap_command(text: &str, command: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(command) {
        let after = &rest[i + command.len()..];
        let whole_name = !after.starts_with(|c: char| c.is_ascii_alphabetic());
        match after.strip_prefix('{').filter(|_| whole_name).and_then(|body| close_of(body).map(|end| (body, end))) {
            Some((body, end)) => {
                out.push_str(&rest[..i]);
                out.push_str(&body[..end]);
                rest = &body[end + 1..];
            }
            None => {
                out.push_str(&rest[..i + command.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Byte index of the `}` closing a group whose `{` came just before `body`.
fn close_of(body: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
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

    const P: Convention = Convention::Point;

    #[test]
    fn gsm8k_marker_answers() {
        assert_eq!(gsm8k_answer("16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\n#### 18", P), Some(18.0));
        assert_eq!(gsm8k_answer("#### $1,234", P), Some(1234.0));
        assert_eq!(gsm8k_answer("#### -7", P), Some(-7.0));
        assert_eq!(gsm8k_answer("#### 3 is wrong\n#### 5", P), Some(5.0), "the last marker counts");
        assert_eq!(gsm8k_answer("#### seventy", P), None);
        assert_eq!(gsm8k_answer("The answer is 18.", P), None);
        assert_eq!(gsm8k_answer("####", P), None);
    }

    #[test]
    fn last_boxed_with_nested_braces() {
        assert_eq!(last_boxed("so \\boxed{\\frac{1}{2}}."), Some("\\frac{1}{2}".into()));
        assert_eq!(last_boxed("\\boxed{1} then \\boxed{ {a}^{2} }"), Some(" {a}^{2} ".into()));
        assert_eq!(last_boxed("\\fbox{7}"), Some("7".into()));
        assert_eq!(last_boxed("$\\boxed 5$"), Some("5".into()));
        assert_eq!(last_boxed("\\boxed{unclosed"), None);
        assert_eq!(last_boxed("no box"), None);
    }

    #[test]
    fn reference_answers() {
        assert_eq!(reference_answer("Natalia sold 48/2 = 24 clips in May.\n#### 72"), "72");
        assert_eq!(reference_answer("Thus $x = \\boxed{4}$."), "4");
        assert_eq!(reference_answer("  Paris "), "Paris");
    }

    #[test]
    fn latex_clean_up() {
        assert_eq!(clean_latex("\\left( 1, \\dfrac{1}{2} \\right)"), "(1,\\frac{1}{2})");
        assert_eq!(clean_latex("\\text{Paris}."), "Paris");
        assert_eq!(clean_latex("\\textbf{x}"), "x");
        assert_eq!(clean_latex("$3\\,\\text{cm}$"), "3cm");
        assert_eq!(clean_latex("\\textit{y}"), "\\textit{y}");
    }
}
