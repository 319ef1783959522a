//! Language codes. The 15 LRPO languages are the defaults, not a closed set: any
//! ISO-639-like code a LanguageId model emits (`th`, `wuu`, ...) is a valid [`Lang`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// The LRPO languages as (English name, code), in the reference's dict order (by name).
pub const LRPO_LANGUAGES: [(&str, &str); 15] = [
    ("arabic", "ar"),
    ("chinese", "zh"),
    ("dutch", "nl"),
    ("english", "en"),
    ("french", "fr"),
    ("german", "de"),
    ("indonesian", "id"),
    ("italian", "it"),
    ("japanese", "ja"),
    ("korean", "ko"),
    ("polish", "pl"),
    ("portuguese", "pt"),
    ("russian", "ru"),
    ("spanish", "es"),
    ("vietnamese", "vi"),
];

/// A language code such as `zh`. Stored lower-case and trimmed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lang(String);

impl Lang {
    pub fn new(code: impl AsRef<str>) -> Self {
        Lang(code.as_ref().trim().to_ascii_lowercase())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Code from an English language name (`"Chinese"`, `"chinese"` -> `zh`), case-insensitive;
    /// `None` for a name outside the LRPO table.
    pub fn from_name(name: &str) -> Option<Lang> {
        let name = name.trim();
        LRPO_LANGUAGES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| Lang::new(c))
    }
    /// Accepts either a code (`zh`) or an English name (`Chinese`).
    pub fn from_name_or_code(s: &str) -> Option<Lang> {
        Lang::from_name(s).or_else(|| {
            let code = s.trim().to_ascii_lowercase();
            LRPO_LANGUAGES.iter().any(|(_, c)| *c == code).then_some(Lang(code))
        })
    }
    /// English name (lower-case) for an LRPO code.
    pub fn name(&self) -> Option<&'static str> {
        LRPO_LANGUAGES.iter().find(|(_, c)| *c == self.0).map(|(n, _)| *n)
    }
}

/// The 15 LRPO codes, sorted (`ar de en es fr id it ja ko nl pl pt ru vi zh`): the router's
/// default index order (spec §3.1).
pub fn default_languages() -> Vec<Lang> {
    let mut v: Vec<Lang> = LRPO_LANGUAGES.iter().map(|(_, c)| Lang::new(c)).collect();
    v.sort();
    v
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lang({})", self.0)
    }
}
impl From<&str> for Lang {
    fn from(s: &str) -> Self {
        Lang::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_order_matches_spec() {
        let order: Vec<String> = default_languages().iter().map(|l| l.to_string()).collect();
        assert_eq!(order.join(" "), "ar de en es fr id it ja ko nl pl pt ru vi zh");
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(Lang::from_name("Chinese"), Some(Lang::new("zh")));
        assert_eq!(Lang::from_name("CHINESE"), Some(Lang::new("zh")));
        assert_eq!(Lang::from_name("klingon"), None);
        assert_eq!(Lang::from_name_or_code("DE"), Some(Lang::new("de")));
        assert_eq!(Lang::new("zh").name(), Some("chinese"));
    }
}
