//! Checkpoint bytes: versioned JSON shared by the three routers of this crate.

use lrpo_core::{Error, Lang, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bumped whenever a state layout changes incompatibly.
pub const STATE_VERSION: u32 = 1;

/// Serialises a state struct (which carries `version` and `component` fields itself).
pub fn encode<S: Serialize>(state: &S) -> Result<Vec<u8>> {
    serde_json::to_vec(state).map_err(|e| Error::State(format!("cannot encode router state: {e}")))
}

/// Parses state bytes after checking the header, so a checkpoint of another component or of a
/// newer layout is refused with a message instead of being half-read.
pub fn decode<S: DeserializeOwned>(bytes: &[u8], component: &str) -> Result<S> {
    let header: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::State(format!("{component} state is not JSON: {e}")))?;
    let found = header.get("component").and_then(|c| c.as_str()).unwrap_or("<missing>");
    if found != component {
        return Err(Error::State(format!("state belongs to component `{found}`, not `{component}`")));
    }
    match header.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(STATE_VERSION) => {}
        other => {
            return Err(Error::State(format!(
                "{component} state version {} is not supported (expected {STATE_VERSION})",
                other.map_or("<missing>".to_string(), |v| v.to_string())
            )))
        }
    }
    serde_json::from_slice(bytes).map_err(|e| Error::State(format!("{component} state: {e}")))
}

/// A state taken with another language list would index the wrong languages.
pub fn check_languages(component: &str, saved: &[Lang], configured: &[Lang]) -> Result<()> {
    if saved == configured {
        return Ok(());
    }
    let show = |v: &[Lang]| v.iter().map(Lang::as_str).collect::<Vec<_>>().join(" ");
    Err(Error::State(format!(
        "{component} state was saved with languages [{}] but this instance routes over [{}]",
        show(saved),
        show(configured)
    )))
}

/// Every value vector must have one finite entry per language.
pub fn check_vectors<'a>(
    what: &str,
    len: usize,
    vectors: impl IntoIterator<Item = (&'a str, &'a [f32])>,
) -> Result<()> {
    for (key, v) in vectors {
        if v.len() != len {
            return Err(Error::State(format!("{what}[`{key}`] has {} values, expected {len}", v.len())));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::State(format!("{what}[`{key}`][{i}] is not finite")));
        }
    }
    Ok(())
}
