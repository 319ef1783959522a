//! Reward buffer → per-(topic, region, language) means → per-group normalisation (spec §3.9
//! steps 1, 5, 6). Shared by the bandit and the Thompson variant.
//!
//! The buffer keeps running (sum, count) per cell in first-seen order instead of the raw rows.
//! Sums accumulate in row order, so the flush gives the same numbers as aggregating the raw
//! buffer. The saving is one hash per row and no per-row string copies.

use indexmap::{Equivalent, IndexMap};
use lrpo_core::{Error, Lang, Result, RouteFeedback};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Region key of rows whose region is null, as the reference spells it.
pub const NULL_REGION: &str = "None";
/// Region key that pools all regions of a non-regional topic (`aggregate_non_regional`).
pub const POOLED_REGION: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupNorm {
    /// u = per-language mean reward.
    #[default]
    None,
    /// u = mean − group mean.
    Center,
    /// u = (mean − group mean) / (population std + eps).
    Zscore,
}

/// How buffered rewards become cell values.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    pub norm: GroupNorm,
    pub eps: f64,
    /// `Some(regional topic)` pools the regions of every other topic into one group.
    pub pool_non_regional: Option<String>,
}

/// One (topic, region, language) cell of the buffer as saved in the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingCell {
    pub topic: String,
    pub region: String,
    pub lang: usize,
    pub sum: f64,
    pub count: u64,
}

/// The normalised value of one cell, in first-seen order.
#[derive(Debug, Clone, PartialEq)]
pub struct CellValue {
    pub topic: String,
    pub region: String,
    pub lang: usize,
    pub value: f64,
}

type CellKey = (String, String, usize);

/// A borrowed cell key that hashes like `CellKey`, so lookups copy no strings.
struct CellRef<'a>(&'a str, &'a str, usize);

impl Hash for CellRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0, self.1, self.2).hash(state);
    }
}

impl Equivalent<CellKey> for CellRef<'_> {
    fn equivalent(&self, key: &CellKey) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2
    }
}

/// Rewards waiting for the next flush, aggregated per cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<PendingCell>", into = "Vec<PendingCell>")]
pub struct RewardBuffer {
    cells: IndexMap<CellKey, (f64, u64)>,
}

impl From<Vec<PendingCell>> for RewardBuffer {
    fn from(cells: Vec<PendingCell>) -> Self {
        RewardBuffer { cells: cells.into_iter().map(|c| ((c.topic, c.region, c.lang), (c.sum, c.count))).collect() }
    }
}

impl From<RewardBuffer> for Vec<PendingCell> {
    fn from(buffer: RewardBuffer) -> Self {
        buffer
            .cells
            .into_iter()
            .map(|((topic, region, lang), (sum, count))| PendingCell { topic, region, lang, sum, count })
            .collect()
    }
}

impl RewardBuffer {
    /// Adds one step's feedback. Rows in languages the router does not know are skipped (the
    /// reference's `lang_idx = -1`); a non-finite reward is an error naming its row, and then
    /// nothing of the step is added.
    pub fn add(
        &mut self,
        feedback: &[RouteFeedback],
        index: &HashMap<Lang, usize>,
        norm: &Normalisation,
    ) -> Result<()> {
        if let Some((row, f)) = feedback.iter().enumerate().find(|(_, f)| !f.reward.is_finite()) {
            return Err(Error::input(
                format!("router feedback row {row} (topic `{}`, lang `{}`)", f.topic, f.lang),
                format!("reward must be finite, got {}", f.reward),
            ));
        }
        for f in feedback {
            let Some(&lang) = index.get(&f.lang) else {
                continue;
            };
            let region = match &norm.pool_non_regional {
                Some(regional) if f.topic != *regional => POOLED_REGION,
                _ => f.region.as_deref().unwrap_or(NULL_REGION),
            };
            let cell = match self.cells.get_index_of(&CellRef(&f.topic, region, lang)) {
                Some(i) => &mut self.cells[i],
                None => self.cells.entry((f.topic.clone(), region.to_string(), lang)).or_insert((0.0, 0)),
            };
            cell.0 += f.reward;
            cell.1 += 1;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn clear(&mut self) {
        self.cells.clear();
    }

    /// A saved buffer must index known languages and hold finite sums and positive counts.
    pub fn check(&self, languages: usize) -> Result<()> {
        match self.cells.iter().position(|((_, _, l), (s, n))| *l >= languages || !s.is_finite() || *n == 0) {
            None => Ok(()),
            Some(i) => Err(Error::State(format!(
                "buffer[{i}] has a language index >= {languages}, a non-finite sum or a zero count"
            ))),
        }
    }

    /// Per-cell means normalised per (topic, region) group, in first-seen order.
    pub fn cell_values(&self, norm: &Normalisation) -> Vec<CellValue> {
        let means: Vec<f64> = self.cells.values().map(|(sum, n)| sum / *n as f64).collect();
        let mut groups: HashMap<(&str, &str), (f64, f64)> = HashMap::new();
        if norm.norm != GroupNorm::None {
            let mut members: IndexMap<(&str, &str), Vec<f64>> = IndexMap::new();
            for ((tp, rg, _), &m) in self.cells.keys().zip(&means) {
                members.entry((tp.as_str(), rg.as_str())).or_default().push(m);
            }
            for (group, ms) in members {
                let n = ms.len() as f64;
                let mu = ms.iter().sum::<f64>() / n;
                let sigma = (ms.iter().map(|m| (m - mu).powi(2)).sum::<f64>() / n).sqrt();
                groups.insert(group, (mu, sigma));
            }
        }
        self.cells
            .keys()
            .zip(&means)
            .map(|((tp, rg, lang), &m)| {
                let value = match norm.norm {
                    GroupNorm::None => m,
                    kind => {
                        let (mu, sigma) = groups[&(tp.as_str(), rg.as_str())];
                        // One language, or all means equal: no preference to learn.
                        if sigma == 0.0 {
                            0.0
                        } else if kind == GroupNorm::Center {
                            m - mu
                        } else {
                            (m - mu) / (sigma + norm.eps)
                        }
                    }
                };
                CellValue { topic: tp.clone(), region: rg.clone(), lang: *lang, value }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> HashMap<Lang, usize> {
        ["en", "zh", "ar", "ja"].iter().enumerate().map(|(i, c)| (Lang::new(c), i)).collect()
    }

    fn fb(topic: &str, region: Option<&str>, lang: &str, reward: f64) -> RouteFeedback {
        RouteFeedback { topic: topic.into(), region: region.map(Into::into), lang: Lang::new(lang), reward }
    }

    fn norm(kind: GroupNorm) -> Normalisation {
        Normalisation { norm: kind, eps: 1e-6, pool_non_regional: None }
    }

    fn buffer(rows: &[RouteFeedback], n: &Normalisation) -> RewardBuffer {
        let mut b = RewardBuffer::default();
        b.add(rows, &index(), n).unwrap();
        b
    }

    fn tv4() -> Vec<RouteFeedback> {
        let gk = "General Knowledge";
        vec![
            fb(gk, None, "en", 0.8),
            fb(gk, None, "en", 0.6),
            fb(gk, None, "zh", 0.4),
            fb(gk, None, "ar", 0.0),
            fb(gk, None, "ar", 0.2),
        ]
    }

    #[test]
    fn tv4_values_per_norm() {
        let values = |k| {
            let n = norm(k);
            buffer(&tv4(), &n).cell_values(&n).iter().map(|c| c.value).collect::<Vec<_>>()
        };
        let close = |a: Vec<f64>, b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(values(GroupNorm::None), [0.7, 0.4, 0.1]));
        assert!(close(values(GroupNorm::Center), [0.3, 0.0, -0.3]));
        assert!(close(values(GroupNorm::Zscore), [1.2247399, 0.0, -1.2247399]));
        let n = norm(GroupNorm::Zscore);
        assert!(buffer(&tv4(), &n).cell_values(&n).iter().all(|c| c.region == NULL_REGION));
    }

    #[test]
    fn steps_accumulate_like_one_buffer() {
        let n = norm(GroupNorm::Zscore);
        let mut split = RewardBuffer::default();
        split.add(&tv4()[..3], &index(), &n).unwrap();
        split.add(&tv4()[3..], &index(), &n).unwrap();
        assert_eq!(split, buffer(&tv4(), &n));
    }

    #[test]
    fn single_language_group_is_zero_when_normalised() {
        let rows = [fb("T", Some("R"), "ja", 0.9)];
        for (kind, want) in [(GroupNorm::Zscore, 0.0), (GroupNorm::Center, 0.0), (GroupNorm::None, 0.9)] {
            let n = norm(kind);
            assert_eq!(buffer(&rows, &n).cell_values(&n)[0].value, want);
        }
    }

    #[test]
    fn pooling_merges_regions_of_non_regional_topics_only() {
        let rows = [
            fb("GK", Some("China"), "en", 1.0),
            fb("GK", Some("China"), "zh", 0.0),
            fb("GK", Some("Japan"), "en", 0.0),
            fb("GK", Some("Japan"), "zh", 1.0),
            fb("RK", Some("Japan"), "zh", 1.0),
        ];
        let pooled = Normalisation { pool_non_regional: Some("RK".into()), ..norm(GroupNorm::Zscore) };
        let cells = buffer(&rows, &pooled).cell_values(&pooled);
        assert_eq!(cells.len(), 3);
        assert_eq!((cells[0].region.as_str(), cells[0].value), (POOLED_REGION, 0.0));
        assert_eq!(cells[2].region, "Japan");
    }

    #[test]
    fn bad_reward_names_the_row_and_unknown_languages_are_skipped() {
        let n = norm(GroupNorm::None);
        let mut b = RewardBuffer::default();
        b.add(&[fb("T", None, "en", 0.5), fb("T", None, "th", 0.1)], &index(), &n).unwrap();
        assert_eq!(Vec::<PendingCell>::from(b.clone()).len(), 1);
        let err = b.add(&[fb("T", None, "zh", 0.5), fb("T", None, "en", f64::NAN)], &index(), &n).unwrap_err();
        assert!(err.to_string().contains("router feedback row 1"), "{err}");
        assert_eq!(Vec::<PendingCell>::from(b).len(), 1, "a rejected step must not be half-buffered");
    }

    #[test]
    fn saved_buffer_round_trips_and_is_checked() {
        let n = norm(GroupNorm::Zscore);
        let b = buffer(&tv4(), &n);
        let json = serde_json::to_string(&b).unwrap();
        let back: RewardBuffer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        back.check(3).unwrap();
        assert!(back.check(2).unwrap_err().to_string().contains("buffer[2]"));
    }
}
