//! The LRPO text normalisation and weak-text rule against their Python definition (spec §4.2):
//! `re.sub(r"\s+", " ", re.sub(r"```.*?```", " ", t.strip(), flags=re.S))`, and the share of
//! characters in general categories L* and N*.

use lrpo_langid_fasttext::{is_weak_text, normalize_for_lid};

const SCRIPT: &str = r#"
import json, re, sys, unicodedata
texts = json.load(sys.stdin)
out = []
for t in texts:
    n = re.sub(r"```.*?```", " ", t.strip(), flags=re.DOTALL)
    n = re.sub(r"\s+", " ", n)
    alnum = sum(1 for c in n if unicodedata.category(c)[0] in "LN")
    weak = len(n) < 1 or alnum / max(len(n), 1) < 0.05
    out.append([n, weak])
json.dump(out, sys.stdout)
"#;

#[test]
fn normalisation_and_weak_rule_match_python() {
    let texts: Vec<String> = [
        "Hello ```x``` world\n\n again",
        "  \t leading and trailing \u{3000}\u{85} ",
        "```only code```",
        "```\nmulti\nline\n``` after",
        "a ```b``` c ```d``` e ```unclosed",
        "``````",
        "````x```y",
        "`` not a fence ``",
        "\u{1c}\u{1d}sep\u{1e}\u{1f}arators\u{1f}",
        "no\u{a0}break\u{2009}thin\u{200b}zero-width",
        "line\r\nbreaks\u{2028}and\u{2029}paragraphs",
        "",
        "     ",
        "a!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "ab!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "कि!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "١٢٣ Ⅻ ½ ² digits and numbers",
        "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀 x",
        "中文句子。日本語の文。한국어 문장.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    let reference: Vec<(String, bool)> = lrpo_testkit::python_json(&["-c".as_ref(), SCRIPT.as_ref()], &texts);

    for (text, (want_normalised, want_weak)) in texts.iter().zip(reference) {
        let normalised = normalize_for_lid(text);
        assert_eq!(normalised, want_normalised, "normalising {text:?}");
        assert_eq!(is_weak_text(&normalised, 0.05), want_weak, "weak rule for {text:?}");
    }
}
