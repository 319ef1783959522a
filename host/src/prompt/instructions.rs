//! The `instruction` prompt style: one short sentence per LRPO language, written in that
//! language, asking for the answer in it (spec §3.8: a vanilla instruct model needs this; the
//! bare tag only works for LRPO's warm-started checkpoints).

use lrpo_core::Lang;

/// (code, instruction), one per LRPO language.
const INSTRUCTIONS: [(&str, &str); 15] = [
    ("ar", "يرجى الإجابة باللغة العربية."),
    ("de", "Bitte antworte auf Deutsch."),
    ("en", "Please answer in English."),
    ("es", "Por favor, responde en español."),
    ("fr", "Veuillez répondre en français."),
    ("id", "Mohon jawab dalam bahasa Indonesia."),
    ("it", "Per favore, rispondi in italiano."),
    ("ja", "日本語で答えてください。"),
    ("ko", "한국어로 답변해 주세요."),
    ("nl", "Antwoord alstublieft in het Nederlands."),
    ("pl", "Proszę odpowiedzieć po polsku."),
    ("pt", "Por favor, responda em português."),
    ("ru", "Пожалуйста, ответьте на русском языке."),
    ("vi", "Vui lòng trả lời bằng tiếng Việt."),
    ("zh", "请用中文回答。"),
];

/// The instruction for `lang`, or `None` outside the 15 LRPO languages.
pub fn instruction(lang: &Lang) -> Option<&'static str> {
    INSTRUCTIONS.iter().find(|(code, _)| *code == lang.as_str()).map(|(_, text)| *text)
}

/// Codes that have an instruction.
pub fn instruction_languages() -> impl Iterator<Item = Lang> {
    INSTRUCTIONS.iter().map(|(code, _)| Lang::new(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lrpo_language_has_one() {
        for (_, code) in lrpo_core::LRPO_LANGUAGES {
            assert!(instruction(&Lang::new(code)).is_some(), "no instruction for {code}");
        }
        assert_eq!(instruction(&Lang::new("th")), None);
    }
}
