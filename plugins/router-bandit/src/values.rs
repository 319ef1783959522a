//! Value vectors per key and the distributions built from them (spec §3.2, §3.4, §3.5).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Smallest temperature used in a softmax, as in the reference.
pub const MIN_TEMPERATURE: f64 = 1e-6;

/// float32 value vectors keyed by topic or region, in insertion order (the log lists keys in
/// that order). A key is created as zeros on first access, read or write, as in the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ValueTable {
    vectors: IndexMap<String, Vec<f32>>,
}

impl ValueTable {
    pub fn new() -> Self {
        ValueTable { vectors: IndexMap::new() }
    }

    pub fn insert(&mut self, key: &str, values: Vec<f32>) {
        self.vectors.insert(key.to_string(), values);
    }

    /// The vector of `key`, created as `len` zeros when missing.
    pub fn entry(&mut self, key: &str, len: usize) -> &mut Vec<f32> {
        if !self.vectors.contains_key(key) {
            self.vectors.insert(key.to_string(), vec![0.0; len]);
        }
        self.vectors.get_mut(key).expect("inserted above")
    }

    pub fn get(&self, key: &str) -> Option<&[f32]> {
        self.vectors.get(key).map(Vec::as_slice)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[f32])> {
        self.vectors.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// EMA step on one entry, computed in float64 and rounded on store (numpy < 2 behaviour).
    pub fn ema(&mut self, key: &str, len: usize, lang: usize, alpha: f64, value: f64) {
        let slot = &mut self.entry(key, len)[lang];
        *slot = ((1.0 - alpha) * f64::from(*slot) + alpha * value) as f32;
    }
}

impl Default for ValueTable {
    fn default() -> Self {
        Self::new()
    }
}

/// softmax(z / max(T, 1e-6)), max-subtracted.
pub fn softmax(logits: &[f64], temperature: f64) -> Vec<f64> {
    let t = temperature.max(MIN_TEMPERATURE);
    let scaled: Vec<f64> = logits.iter().map(|z| z / t).collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scaled.iter().map(|z| (z - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// (1 − ε)·p + ε/L, or p itself when ε ≤ 0.
pub fn effective(softmax: &[f64], epsilon: f64) -> Vec<f64> {
    if epsilon <= 0.0 {
        return softmax.to_vec();
    }
    let uniform = epsilon / softmax.len() as f64;
    softmax.iter().map(|p| (1.0 - epsilon) * p + uniform).collect()
}

/// Sum of float32 vectors as float64 logits.
pub fn sum_logits<'a>(len: usize, vectors: impl IntoIterator<Item = &'a [f32]>) -> Vec<f64> {
    let mut z = vec![0.0f64; len];
    for v in vectors {
        for (zi, vi) in z.iter_mut().zip(v) {
            *zi += f64::from(*vi);
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn tv2_softmax_and_effective() {
        let p = softmax(&[0.5, 0.0, -0.5], 0.5);
        assert!(close(&p, &[0.6652409, 0.2447285, 0.0900306], 1e-6), "{p:?}");
        let e = effective(&p, 0.2);
        assert!(close(&e, &[0.5988594, 0.2624494, 0.1386911], 1e-6), "{e:?}");
    }

    #[test]
    fn tv3_regional_composition_is_a_sum() {
        let topic = [0.2f32, 0.0, 0.0];
        let region = [0.0f32, 0.4, 0.0];
        let z = sum_logits(3, [&topic[..], &region[..]]);
        assert!(close(&softmax(&z, 1.0), &[0.3289329, 0.4017596, 0.2693075], 1e-6));
        let z = sum_logits(3, [&topic[..]]);
        assert!(close(&softmax(&z, 1.0), &[0.3791525, 0.3104238, 0.3104238], 1e-6));
    }

    #[test]
    fn zero_temperature_is_clamped_not_nan() {
        let p = softmax(&[1.0, 0.0], 0.0);
        assert!(p.iter().all(|x| x.is_finite()));
        assert!((p[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn entry_creates_zeros_once() {
        let mut t = ValueTable::new();
        t.entry("a", 3)[1] = 2.0;
        assert_eq!(t.entry("a", 3), &vec![0.0, 2.0, 0.0]);
        assert_eq!(t.len(), 1);
    }
}
