//! Mix strings (`"en:4,zh:2"`), the router's language list and prior logits (spec §3.1, §3.3).

use indexmap::IndexMap;
use lrpo_core::{Error, Lang, Result, LRPO_LANGUAGES};

/// Floor applied to mix weights before the log, so a missing or zero weight is a very
/// unlikely language rather than an impossible one.
pub const WEIGHT_FLOOR: f64 = 1e-6;

/// Topics that carry router priors in the reference, in its insertion order.
pub use lrpo_core::LRPO_TOPICS as REFERENCE_TOPICS;

/// Regions that carry router priors in the reference, in its insertion order.
pub use lrpo_core::LRPO_REGIONS as REFERENCE_REGIONS;

/// One parsed mix: language weights in the order they were written.
pub type Mix = Vec<(Lang, f64)>;

/// Parses `"code:weight,code:weight"`. `key` is the config path used in error messages.
pub fn parse_mix(key: &str, text: &str) -> Result<Mix> {
    let mut mix: Mix = Vec::new();
    for (i, part) in text.split(',').enumerate() {
        let Some((code, weight)) = part.split_once(':') else {
            return Err(Error::config(key, format!("entry {} `{part}` is not `code:weight` (mix `{text}`)", i + 1)));
        };
        let code = code.trim();
        if code.is_empty() {
            return Err(Error::config(key, format!("entry {} `{part}` has an empty language code", i + 1)));
        }
        let weight: f64 = weight.trim().parse().map_err(|_| {
            Error::config(key, format!("entry {} `{part}`: weight `{}` is not a number", i + 1, weight.trim()))
        })?;
        if weight.is_nan() {
            return Err(Error::config(key, format!("entry {} `{part}`: weight is NaN", i + 1)));
        }
        let lang = Lang::new(code);
        // A repeated code overrides the earlier weight but keeps its position, like a dict.
        match mix.iter_mut().find(|(l, _)| *l == lang) {
            Some(slot) => slot.1 = weight,
            None => mix.push((lang, weight)),
        }
    }
    Ok(mix)
}

/// The uniform mix over the 15 LRPO codes in sorted order: the shipped prior of every key.
pub fn uniform_mix_text() -> String {
    lrpo_core::default_languages().iter().map(|l| format!("{l}:1")).collect::<Vec<_>>().join(",")
}

/// The reference's "extra" languages: the 15 codes in the name table's order.
pub fn reference_extra_languages() -> Vec<String> {
    LRPO_LANGUAGES.iter().map(|(_, c)| c.to_string()).collect()
}

/// Languages of every topic mix, then every region mix, then the extras; first occurrence
/// wins; `["en"]` when nothing is configured.
pub fn router_languages<'a>(mixes: impl IntoIterator<Item = &'a Mix>, extra: &[Lang]) -> Vec<Lang> {
    let mut out: Vec<Lang> = Vec::new();
    let listed = mixes.into_iter().flat_map(|m| m.iter().map(|(l, _)| l)).chain(extra.iter());
    for lang in listed {
        if !out.contains(lang) {
            out.push(lang.clone());
        }
    }
    if out.is_empty() {
        out.push(Lang::new("en"));
    }
    out
}

/// Prior logits of one key over `languages`: ln(max(w, 1e-6)), and ln(1e-6) where unlisted.
pub fn prior_logits(mix: &Mix, languages: &[Lang]) -> Vec<f32> {
    languages
        .iter()
        .map(|lang| {
            let w = mix.iter().find(|(l, _)| l == lang).map_or(0.0, |(_, w)| *w);
            w.max(WEIGHT_FLOOR).ln() as f32
        })
        .collect()
}

/// Parses every mix of a config table (`field` is `topic_mixes` or `region_mixes`).
pub fn parse_mixes(field: &str, table: &IndexMap<String, String>) -> Result<IndexMap<String, Mix>> {
    table.iter().map(|(key, text)| Ok((key.clone(), parse_mix(&format!("{field}.{key}"), text)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_weights_and_trims_codes() {
        let mix = parse_mix("topic_mixes.T", " en :4, ZH:2.5").unwrap();
        assert_eq!(mix, vec![(Lang::new("en"), 4.0), (Lang::new("zh"), 2.5)]);
    }

    #[test]
    fn bad_mix_names_the_key_and_entry() {
        let err = parse_mix("topic_mixes.China", "zh:6,en").unwrap_err().to_string();
        assert!(err.contains("topic_mixes.China") && err.contains("entry 2 `en`"), "{err}");
        let err = parse_mix("region_mixes.R", "zh:lots").unwrap_err().to_string();
        assert!(err.contains("region_mixes.R") && err.contains("`lots` is not a number"), "{err}");
        let err = parse_mix("topic_mixes.T", ":1").unwrap_err().to_string();
        assert!(err.contains("empty language code"), "{err}");
    }

    #[test]
    fn language_order_follows_mixes_then_extras() {
        let a = parse_mix("a", "en:4,zh:2").unwrap();
        let b = parse_mix("b", "ar:1,en:1").unwrap();
        let langs = router_languages([&a, &b], &[Lang::new("zh"), Lang::new("ja")]);
        let codes: Vec<&str> = langs.iter().map(Lang::as_str).collect();
        assert_eq!(codes, ["en", "zh", "ar", "ja"]);
        assert_eq!(router_languages(std::iter::empty::<&Mix>(), &[]), vec![Lang::new("en")]);
    }

    #[test]
    fn zero_and_negative_weights_hit_the_floor() {
        let mix = parse_mix("t", "en:0,zh:-3").unwrap();
        let langs = [Lang::new("en"), Lang::new("zh"), Lang::new("ar")];
        let floor = (1e-6f64).ln() as f32;
        assert_eq!(prior_logits(&mix, &langs), vec![floor, floor, floor]);
    }
}
