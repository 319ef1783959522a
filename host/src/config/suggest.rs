//! "Did you mean" for unknown keys.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Adds a suggestion to a serde "unknown field `x`, expected one of `a`, `b`" message.
pub fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else { return message.to_string() };
    let Some((field, tail)) = rest.split_once('`') else { return message.to_string() };
    let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    match closest(field, expected.iter().copied()) {
        Some(best) => format!("{message} (did you mean `{best}`?)"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(closest("trian_files", ["train_files", "val_files"]), Some("train_files"));
        assert_eq!(closest("zzz", ["train_files"]), None);
        let m = with_suggestion("unknown field `grup_size`, expected one of `group_size`, `seed`");
        assert!(m.ends_with("(did you mean `group_size`?)"), "{m}");
    }
}
