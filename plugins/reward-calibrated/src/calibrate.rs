//! Pair statistics for the configured encoder from a parallel corpus (`lrpo-calibrate`), so the
//! calibration matches the model in use rather than the reference's mmBERT.
//!
//! For every two languages that share ids, the statistic is the mean and population standard
//! deviation of the cosines between the two versions of each shared text. When the response
//! and reference prefixes differ, each cosine averages both directions (response-side text a
//! against reference-side text b, and the reverse), since a pair is unordered. Same-language
//! pairs would compare a text with itself, so they are not produced.

use std::collections::HashMap;

use lrpo_core::{Error, Lang, Result};
use lrpo_torch::{Device, Kind};
use tch::Tensor;

use crate::embedder::{prefixed, Embedder};
use crate::pair_stats::{PairStat, PairStats};
use crate::parallel::ParallelCorpus;

/// Computes the table; fails when no two languages share an id.
pub fn compute_pair_stats(embedder: &Embedder, corpus: &ParallelCorpus) -> Result<PairStats> {
    let config = embedder.config();
    let with_prefix =
        |prefix: &str| -> Vec<String> { corpus.texts.iter().map(|t| prefixed(prefix, &t.text)).collect() };
    let reference_side = embedder.embed(&with_prefix(&config.reference_prefix))?.to_device(Device::Cpu);
    let response_side = if config.response_prefix == config.reference_prefix {
        reference_side.shallow_clone()
    } else {
        embedder.embed(&with_prefix(&config.response_prefix))?.to_device(Device::Cpu)
    };
    let mut by_lang: HashMap<&Lang, HashMap<&str, i64>> = HashMap::new();
    for (i, t) in corpus.texts.iter().enumerate() {
        by_lang.entry(&t.lang).or_default().insert(t.id.as_str(), i as i64);
    }
    let langs = corpus.languages();
    let mut rows = Vec::new();
    for (x, a) in langs.iter().enumerate() {
        for b in &langs[x + 1..] {
            let (ta, tb) = (&by_lang[a], &by_lang[b]);
            let mut shared: Vec<(&str, i64, i64)> =
                ta.iter().filter_map(|(id, &i)| tb.get(id).map(|&j| (*id, i, j))).collect();
            if shared.is_empty() {
                tracing::warn!("languages {a} and {b} share no id; their pair is left out");
                continue;
            }
            shared.sort_unstable();
            let ia = Tensor::from_slice(&shared.iter().map(|s| s.1).collect::<Vec<_>>());
            let ib = Tensor::from_slice(&shared.iter().map(|s| s.2).collect::<Vec<_>>());
            let dot =
                |left: &Tensor, right: &Tensor| (left * right).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
            let forward = dot(&response_side.index_select(0, &ia), &reference_side.index_select(0, &ib));
            let backward = dot(&response_side.index_select(0, &ib), &reference_side.index_select(0, &ia));
            let cos = Vec::<f64>::try_from(&((forward + backward) / 2.0))
                .map_err(|e| Error::runtime(format!("reading cosines: {e}")))?;
            rows.push(((a.clone(), b.clone()), summarize(&cos)));
        }
    }
    if rows.is_empty() {
        return Err(Error::input("parallel corpus", format!("no two languages share an id (languages: {langs:?})")));
    }
    PairStats::from_rows(rows)
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
    use super::summarize;

    #[test]
    fn population_statistics() {
        let s = summarize(&[0.8, 0.9, 1.0]);
        assert_eq!(s.count, 3);
        assert!((s.mean - 0.9).abs() < 1e-12);
        assert!((s.std - (0.02f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
