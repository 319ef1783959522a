//! Cross-lingual calibration and the mapping to [0, 1] (spec §4.5, §4.6): a mean shift per
//! unordered (reference language, detected response language) pair towards μ_ref.

use lrpo_core::{Error, Lang, Result};

use crate::pair_stats::PairStats;

/// Calibration settings next to their table.
#[derive(Debug, Clone)]
pub struct Calibrator {
    stats: Option<PairStats>,
    shrinkage_k: f64,
    clip: bool,
}

impl Calibrator {
    /// `stats == None` leaves every cosine as it is. `shrinkage_k` is K in α = n / (n + K).
    pub fn new(stats: Option<PairStats>, shrinkage_k: f64, clip: bool) -> Result<Self> {
        if !(shrinkage_k.is_finite() && shrinkage_k >= 0.0) {
            return Err(Error::config("shrinkage_k", format!("{shrinkage_k} must be a finite number >= 0")));
        }
        Ok(Calibrator { stats, shrinkage_k, clip })
    }

    pub fn stats(&self) -> Option<&PairStats> {
        self.stats.as_ref()
    }

    /// The shrinkage weight for a pair seen `count` times; n + K = 0 means no shift (spec §4.7.4).
    pub fn alpha(&self, count: u64) -> f64 {
        let denom = count as f64 + self.shrinkage_k;
        if denom == 0.0 {
            0.0
        } else {
            count as f64 / denom
        }
    }

    /// The calibrated cosine. Like the reference, the pair uses the *detected* response
    /// language (spec §4.7.2); without a detection or a table row the raw cosine passes
    /// through unclipped.
    pub fn calibrate(&self, raw: f64, reference: &Lang, detected: Option<&Lang>) -> f64 {
        let (Some(stats), Some(detected)) = (&self.stats, detected) else { return raw };
        let Some(pair) = stats.get(reference, detected) else { return raw };
        let cal = raw - self.alpha(pair.count) * (pair.mean - stats.mu_ref());
        if self.clip {
            cal.clamp(-1.0, 1.0)
        } else {
            cal
        }
    }
}

/// r_emb = clamp((cal + 1) / 2, 0, 1).
pub fn embedding_reward(calibrated: f64) -> f64 {
    ((calibrated + 1.0) / 2.0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::shipped_stats;

    const TOL: f64 = 1e-12;

    #[test]
    fn tv7_calibration_and_mapping() {
        let stats = shipped_stats();
        assert!((stats.mu_ref() - 0.9563506810771985).abs() < TOL);
        let cal = Calibrator::new(Some(stats), 0.0, true).unwrap();
        // raw, GT name, predicted code (None = LID none), μ_pair, cal, r_emb
        type Row<'a> = (f64, &'a str, Option<&'a str>, Option<f64>, f64, f64);
        let rows: [Row; 8] = [
            (0.90, "Chinese", Some("en"), Some(0.9370235959688823), 0.9193270851083162, 0.9596635425541581),
            (0.90, "Chinese", Some("zh"), Some(0.9968056698640188), 0.8595450112131797, 0.9297725056065899),
            (0.98, "Chinese", Some("zh"), Some(0.9968056698640188), 0.9395450112131797, 0.9697725056065898),
            (0.90, "English", Some("en"), None, 0.90, 0.95),
            (0.99, "Chinese", Some("en"), Some(0.9370235959688823), 1.0, 1.0),
            (0.50, "Arabic", Some("ja"), Some(0.9489398678143819), 0.5074108132628166, 0.7537054066314083),
            (-0.20, "Korean", Some("vi"), Some(0.9710087100664775), -0.21465802898927905, 0.3926709855053605),
            (0.90, "Chinese", None, None, 0.90, 0.95),
        ];
        for (raw, gt, pred, mu_pair, want_cal, want_r) in rows {
            let gt = Lang::from_name(gt).unwrap();
            let pred = pred.map(Lang::new);
            if let Some(p) = &pred {
                assert_eq!(cal.stats().unwrap().get(&gt, p).map(|s| s.mean), mu_pair, "{gt}-{p}");
            }
            let c = cal.calibrate(raw, &gt, pred.as_ref());
            assert!((c - want_cal).abs() < TOL, "{raw} {gt} {pred:?}: cal {c}, want {want_cal}");
            let r = embedding_reward(c);
            assert!((r - want_r).abs() < TOL, "{raw} {gt} {pred:?}: r_emb {r}, want {want_r}");
        }
        // `th` is a language without a table row: pass-through like `none`.
        assert_eq!(cal.calibrate(0.9, &"zh".into(), Some(&"th".into())), 0.9);
        // The clipped row really was above 1 before clipping.
        let unclipped = Calibrator::new(Some(shipped_stats()), 0.0, false).unwrap();
        assert!((unclipped.calibrate(0.99, &"zh".into(), Some(&"en".into())) - 1.00933).abs() < 1e-5);
    }

    #[test]
    fn shrinkage_scales_the_shift() {
        let stats = shipped_stats();
        let shift = stats.get(&"zh".into(), &"en".into()).unwrap().mean - stats.mu_ref();
        let cal = Calibrator::new(Some(stats), 30.0, true).unwrap();
        assert_eq!(cal.alpha(30), 0.5);
        let c = cal.calibrate(0.5, &"zh".into(), Some(&"en".into()));
        assert!((c - (0.5 - 0.5 * shift)).abs() < TOL);
        let zero = Calibrator::new(Some(shipped_stats()), 0.0, true).unwrap();
        assert_eq!(zero.alpha(0), 0.0);
        assert!(Calibrator::new(None, -1.0, true).unwrap_err().to_string().contains("shrinkage_k"));
        assert!(Calibrator::new(None, f64::NAN, true).is_err());
    }

    #[test]
    fn english_english_is_missing_unless_imputed() {
        let mut stats = shipped_stats();
        assert_eq!(
            Calibrator::new(Some(stats.clone()), 0.0, true).unwrap().calibrate(0.9, &"en".into(), Some(&"en".into())),
            0.9
        );
        assert_eq!(stats.impute_same_language(), vec![Lang::new("en")]);
        let en = stats.get(&"en".into(), &"en".into()).unwrap().mean;
        assert!((en - 0.9903313805659613).abs() < 1e-12, "{en}");
        let cal = Calibrator::new(Some(stats), 0.0, true).unwrap();
        let c = cal.calibrate(0.9, &"en".into(), Some(&"en".into()));
        assert!((c - (0.9 - (en - 0.9563506810771985))).abs() < TOL);
    }

    #[test]
    fn no_table_means_no_calibration() {
        let cal = Calibrator::new(None, 0.0, true).unwrap();
        assert_eq!(cal.calibrate(1.2, &"zh".into(), Some(&"en".into())), 1.2);
        assert_eq!(embedding_reward(1.2), 1.0);
        assert_eq!(embedding_reward(-1.5), 0.0);
    }
}
