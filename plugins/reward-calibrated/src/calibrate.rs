//! Pair statistics for the configured encoder from a parallel corpus (`lrpo-calibrate`), so the
//! calibration matches the model in use rather than the reference's mmBERT.
//!
//! A statistic is measured on pairs of *different texts with the same meaning*: every two texts
//! that share an id, whether they differ in language, in phrasing, or both. So a same-language
//! row comes from two phrasings of one answer in one language (a text against itself would
//! give 1 and say nothing about answers), and a cross-language row from every combination of
//! the two languages' phrasings. That is the diagonal the reference's table has and a table of
//! cross-language rows alone lacks: without it a response in the reference's own language is
//! left uncalibrated while every other language is shifted, which tilts the reward towards
//! the original language (issue 17).
//!
//! Each cosine averages both directions (response-side text a against reference-side text b,
//! and the reverse) when the response and reference prefixes differ, since a pair is
//! unordered. Per language pair, each id's cosines are averaged first, so `count` is the
//! number of items behind the row and every item weighs the same however many phrasings it
//! has; `mean` and `std` (population) are over those item averages.

use std::collections::{BTreeMap, HashMap};

use lrpo_core::{Error, Lang, Result};
use lrpo_torch::{Device, Kind};
use tch::Tensor;

use crate::embedder::{prefixed, Embedder};
use crate::pair_stats::{pair_key, PairStat, PairStats};
use crate::parallel::ParallelCorpus;

/// The cosine of two different texts that share an id.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPair {
    pub id: String,
    /// The unordered language pair, sorted.
    pub langs: (Lang, Lang),
    /// The two texts' phrasings, in no particular order.
    pub phrasings: [u32; 2],
    pub cosine: f64,
}

impl TextPair {
    pub fn same_language(&self) -> bool {
        self.langs.0 == self.langs.1
    }
}

/// Every pair of different texts that share an id, with its cosine under `embedder`.
pub fn text_pairs(embedder: &Embedder, corpus: &ParallelCorpus) -> Result<Vec<TextPair>> {
    let config = embedder.config();
    let with_prefix =
        |prefix: &str| -> Vec<String> { corpus.texts.iter().map(|t| prefixed(prefix, &t.text)).collect() };
    let reference_side = embedder.embed(&with_prefix(&config.reference_prefix))?.to_device(Device::Cpu);
    let response_side = if config.response_prefix == config.reference_prefix {
        reference_side.shallow_clone()
    } else {
        embedder.embed(&with_prefix(&config.response_prefix))?.to_device(Device::Cpu)
    };
    let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in corpus.texts.iter().enumerate() {
        by_id.entry(t.id.as_str()).or_default().push(i);
    }
    let mut index: Vec<(usize, usize)> = Vec::new();
    for members in by_id.values() {
        for (x, &i) in members.iter().enumerate() {
            index.extend(members[x + 1..].iter().map(|&j| (i, j)));
        }
    }
    if index.is_empty() {
        return Ok(Vec::new());
    }
    let left = Tensor::from_slice(&index.iter().map(|p| p.0 as i64).collect::<Vec<_>>());
    let right = Tensor::from_slice(&index.iter().map(|p| p.1 as i64).collect::<Vec<_>>());
    let dot = |a: &Tensor, b: &Tensor| (a * b).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    let forward = dot(&response_side.index_select(0, &left), &reference_side.index_select(0, &right));
    let backward = dot(&response_side.index_select(0, &right), &reference_side.index_select(0, &left));
    let cosines = Vec::<f64>::try_from(&((forward + backward) / 2.0))
        .map_err(|e| Error::runtime(format!("reading cosines: {e}")))?;
    Ok(index
        .iter()
        .zip(cosines)
        .map(|(&(i, j), cosine)| {
            let (a, b) = (&corpus.texts[i], &corpus.texts[j]);
            TextPair {
                id: a.id.clone(),
                langs: pair_key(&a.lang, &b.lang),
                phrasings: [a.phrasing, b.phrasing],
                cosine,
            }
        })
        .collect())
}

/// One row per language pair present: each id's cosines averaged, then count, mean and
/// population standard deviation over the ids. Fails when there is no pair at all.
pub fn stats_from_pairs(pairs: &[TextPair]) -> Result<PairStats> {
    /// Per id: the sum of its cosines and how many there are.
    type Items<'a> = HashMap<&'a str, (f64, usize)>;
    let mut per_item: BTreeMap<&(Lang, Lang), Items> = BTreeMap::new();
    for p in pairs {
        let slot = per_item.entry(&p.langs).or_default().entry(p.id.as_str()).or_insert((0.0, 0));
        slot.0 += p.cosine;
        slot.1 += 1;
    }
    if per_item.is_empty() {
        return Err(Error::input("parallel corpus", "no two different texts share an id"));
    }
    let rows = per_item
        .into_iter()
        .map(|(langs, items)| {
            let mut means: Vec<(&str, f64)> = items.into_iter().map(|(id, (sum, n))| (id, sum / n as f64)).collect();
            // A fixed order, so the sums (and the CSV) do not depend on hashing.
            means.sort_by(|a, b| a.0.cmp(b.0));
            (langs.clone(), summarize(&means.iter().map(|m| m.1).collect::<Vec<_>>()))
        })
        .collect();
    PairStats::from_rows(rows)
}

/// Computes the table; fails when no two different texts share an id. Logs the language pairs
/// the corpus cannot give: two languages without a shared id, and every language without a
/// second phrasing (its same-language pair is then left uncalibrated).
pub fn compute_pair_stats(embedder: &Embedder, corpus: &ParallelCorpus) -> Result<PairStats> {
    let stats = stats_from_pairs(&text_pairs(embedder, corpus)?)?;
    let langs = corpus.languages();
    for (x, a) in langs.iter().enumerate() {
        for b in &langs[x..] {
            if stats.get(a, b).is_none() {
                if a == b {
                    tracing::warn!(
                        "language {a} has no second phrasing of any item; its same-language pair is left out"
                    );
                } else {
                    tracing::warn!("languages {a} and {b} share no id; their pair is left out");
                }
            }
        }
    }
    Ok(stats)
}

/// Count, mean and population standard deviation.
fn summarize(values: &[f64]) -> PairStat {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    PairStat { count: values.len() as u64, mean, std: var.sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(id: &str, a: &str, b: &str, cosine: f64) -> TextPair {
        TextPair { id: id.into(), langs: pair_key(&a.into(), &b.into()), phrasings: [1, 2], cosine }
    }

    #[test]
    fn population_statistics() {
        let s = summarize(&[0.8, 0.9, 1.0]);
        assert_eq!(s.count, 3);
        assert!((s.mean - 0.9).abs() < 1e-12);
        assert!((s.std - (0.02f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn every_item_weighs_the_same_in_its_row() {
        // Item a has four cross-language pairs (two phrasings on each side), item b one.
        let pairs = [
            pair("a", "de", "en", 0.8),
            pair("a", "en", "de", 0.9),
            pair("a", "de", "en", 0.8),
            pair("a", "de", "en", 0.9),
            pair("b", "de", "en", 0.7),
            pair("a", "de", "de", 0.95),
            pair("b", "de", "de", 0.93),
        ];
        let stats = stats_from_pairs(&pairs).unwrap();
        assert_eq!(stats.len(), 2);
        let cross = stats.get(&"en".into(), &"de".into()).unwrap();
        assert_eq!(cross.count, 2);
        assert!((cross.mean - (0.85 + 0.7) / 2.0).abs() < 1e-12, "{cross:?}");
        let same = stats.get(&"de".into(), &"de".into()).unwrap();
        assert_eq!(same.count, 2);
        assert!((same.mean - 0.94).abs() < 1e-12);
        assert!(stats_from_pairs(&[]).unwrap_err().to_string().contains("no two different texts"));
    }
}
