//! The language gate and the final reward (spec §4.3, §4.6).

use lrpo_core::{Error, Lang, LangPrediction, Result};
use schemars::JsonSchema;
use serde::Deserialize;

/// How the detected language gates the embedding reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateMode {
    /// g = 1 when the detected language is the routed one, else 0 (the reference).
    #[default]
    Hard,
    /// g = the LID probability when the detected language is the routed one, else 0.
    Soft,
}

/// The gate with its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    mode: GateMode,
    min_confidence: f64,
}

impl Gate {
    /// `min_confidence` in [0, 1]: detections less sure than this close the gate (0 = the
    /// reference's behaviour, which ignores the probability).
    pub fn new(mode: GateMode, min_confidence: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&min_confidence) {
            return Err(Error::config("min_lid_confidence", format!("{min_confidence} is not in [0, 1]")));
        }
        Ok(Gate { mode, min_confidence })
    }

    /// g for a response routed to `target` whose language was detected as `detected`.
    pub fn gate(&self, target: &Lang, detected: &LangPrediction) -> f64 {
        let prob = f64::from(detected.prob);
        let matches = detected.lang.as_ref() == Some(target);
        if !matches || prob < self.min_confidence {
            return 0.0;
        }
        match self.mode {
            GateMode::Hard => 1.0,
            GateMode::Soft => prob.clamp(0.0, 1.0),
        }
    }
}

/// R = g · r_emb, which is the reference's "r_emb if g == 1 else 0" for the hard gate.
pub fn fuse(r_emb: f64, gate: f64) -> f64 {
    r_emb * gate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected(lang: Option<&str>, prob: f32) -> LangPrediction {
        LangPrediction { lang: lang.map(Lang::new), prob }
    }

    #[test]
    fn tv8_hard_gate() {
        let gate = Gate::new(GateMode::Hard, 0.0).unwrap();
        let r_emb = 0.9596635;
        let g = gate.gate(&"en".into(), &detected(Some("en"), 0.7));
        assert_eq!((g, fuse(r_emb, g)), (1.0, r_emb));
        let g = gate.gate(&"zh".into(), &detected(Some("en"), 0.7));
        assert_eq!((g, fuse(r_emb, g)), (0.0, 0.0));
        // Weak text (empty, blank, only a code block) is `none` with probability 0.
        let g = gate.gate(&"en".into(), &LangPrediction::none());
        assert_eq!(fuse(r_emb, g), 0.0);
        // The hard gate ignores the probability, however low.
        assert_eq!(gate.gate(&"en".into(), &detected(Some("en"), 0.01)), 1.0);
    }

    #[test]
    fn soft_gate_and_confidence_floor() {
        let soft = Gate::new(GateMode::Soft, 0.0).unwrap();
        assert!((soft.gate(&"de".into(), &detected(Some("de"), 0.8)) - 0.8).abs() < 1e-6);
        assert_eq!(soft.gate(&"de".into(), &detected(Some("fr"), 0.8)), 0.0);
        let floor = Gate::new(GateMode::Hard, 0.5).unwrap();
        assert_eq!(floor.gate(&"de".into(), &detected(Some("de"), 0.4)), 0.0);
        assert_eq!(floor.gate(&"de".into(), &detected(Some("de"), 0.6)), 1.0);
        assert!(Gate::new(GateMode::Hard, 1.5).unwrap_err().to_string().contains("min_lid_confidence"));
    }
}
