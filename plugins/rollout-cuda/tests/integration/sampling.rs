//! The sampling distribution against a plain f64 reimplementation of its definition, and the
//! seeded draws against that distribution (chi-square on a 10-token vocabulary).

use lrpo_core::SamplingParams;
use lrpo_rollout_cuda::sampling::{filtered_probs, pick, sample, RowParams};
use rand::{Rng, SeedableRng};
use tch::{Kind, Tensor};

const LOGITS: [f64; 10] = [2.0, 1.5, 1.5, 0.3, -1.0, 0.9, 3.0, -2.0, 0.0, 1.0];

fn cases() -> Vec<SamplingParams> {
    let p = |temperature, top_k, top_p, min_p| SamplingParams { temperature, top_k, top_p, min_p };
    vec![
        p(1.0, 0, 1.0, 0.0),
        p(0.7, 4, 1.0, 0.0),
        p(1.3, 0, 0.8, 0.0),
        p(1.0, 0, 1.0, 0.2),
        p(0.9, 6, 0.9, 0.05),
        p(2.0, 3, 0.5, 0.0),
    ]
}

/// The module doc's definition, written out loop by loop.
fn reference(logits: &[f64], p: &SamplingParams) -> Vec<f64> {
    let t = f64::from(p.temperature);
    let m = logits.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| ((l - m) / t).exp()).collect();
    let z: f64 = e.iter().sum();
    let probs: Vec<f64> = e.iter().map(|x| x / z).collect();
    let mut sorted = probs.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = if p.top_k == 0 { sorted.len() } else { (p.top_k as usize).min(sorted.len()) };
    let kth = sorted[k - 1];
    let mut threshold = kth.max(f64::from(p.min_p) * sorted[0]);
    if p.top_p < 1.0 {
        let in_k: Vec<f64> = sorted.iter().cloned().filter(|&s| s >= kth).collect();
        let mass: f64 = in_k.iter().sum();
        let (mut before, mut count) = (0.0, 0);
        for s in &in_k {
            if before / mass < f64::from(p.top_p) {
                count += 1;
            }
            before += s;
        }
        threshold = threshold.max(in_k[count.max(1) - 1]);
    }
    let kept: Vec<f64> = probs.iter().map(|&q| if q >= threshold { q } else { 0.0 }).collect();
    let total: f64 = kept.iter().sum();
    kept.iter().map(|q| q / total).collect()
}

fn batch(params: &[SamplingParams], rows_each: usize) -> (Tensor, RowParams) {
    let mut rows = RowParams::default();
    for p in params {
        for _ in 0..rows_each {
            rows.push(p);
        }
    }
    let one = Tensor::from_slice(&LOGITS).to_kind(Kind::Float).unsqueeze(0);
    (one.repeat([rows.len() as i64, 1]), rows)
}

/// Upper 0.1% point of chi-square with `df` degrees of freedom (Wilson-Hilferty).
fn chi2_critical(df: usize) -> f64 {
    let d = df as f64;
    let z = 3.09;
    d * (1.0 - 2.0 / (9.0 * d) + z * (2.0 / (9.0 * d)).sqrt()).powi(3)
}

#[test]
fn filtered_probabilities_follow_the_definition() {
    let params = cases();
    let (logits, rows) = batch(&params, 1);
    let got = filtered_probs(&logits, &rows).unwrap();
    for (i, p) in params.iter().enumerate() {
        let want = reference(&LOGITS, p);
        let row: Vec<f32> = Vec::try_from(&got.get(i as i64)).unwrap();
        for (j, (g, w)) in row.iter().zip(&want).enumerate() {
            assert!((f64::from(*g) - w).abs() < 1e-5, "case {i} ({p:?}) token {j}: {g} vs {w}");
        }
    }
    // The filters really bite in these cases (else the test would not test them).
    let kept: Vec<usize> = params.iter().map(|p| reference(&LOGITS, p).iter().filter(|&&q| q > 0.0).count()).collect();
    assert_eq!(kept, vec![10, 4, 5, 4, 5, 2]);
}

#[test]
fn seeded_draws_match_the_filtered_softmax() {
    let params = cases();
    let draws = 6000;
    let (logits, rows) = batch(&params, draws);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let uniforms: Vec<f32> = (0..rows.len()).map(|_| rng.gen()).collect();
    let (tokens, _) = sample(&logits, &rows, &uniforms).unwrap();
    let tokens: Vec<i64> = Vec::try_from(&tokens).unwrap();
    for (i, p) in params.iter().enumerate() {
        let want = reference(&LOGITS, p);
        let mut counts = [0usize; 10];
        for &t in &tokens[i * draws..(i + 1) * draws] {
            counts[t as usize] += 1;
        }
        let mut chi2 = 0.0;
        for (j, &c) in counts.iter().enumerate() {
            if want[j] == 0.0 {
                assert_eq!(c, 0, "case {i}: filtered-out token {j} was drawn");
            } else {
                let e = want[j] * draws as f64;
                chi2 += (c as f64 - e).powi(2) / e;
            }
        }
        let df = want.iter().filter(|&&q| q > 0.0).count() - 1;
        assert!(
            chi2 < chi2_critical(df),
            "case {i} ({p:?}): chi2 {chi2:.1} with {df} dof; counts {counts:?}, want {want:?}"
        );
    }
}

#[test]
fn greedy_and_inverse_cdf_picks() {
    let (logits, rows) = batch(&[SamplingParams::greedy()], 3);
    let (tokens, logprobs) = sample(&logits, &rows, &[0.0, 0.5, 0.999_999]).unwrap();
    assert_eq!(Vec::<i64>::try_from(&tokens).unwrap(), vec![6, 6, 6]);
    // Greedy log-probs are the untempered log-softmax.
    let want = reference(&LOGITS, &SamplingParams::default())[6].ln();
    assert!((f64::from(logprobs.double_value(&[0]) as f32) - want).abs() < 1e-5);

    // Inverse CDF in vocabulary order over [0.1, 0, 0.6, 0.3].
    let probs = Tensor::from_slice(&[0.1f32, 0.0, 0.6, 0.3]).unsqueeze(0).repeat([5, 1]);
    let picked = pick(&probs, &[0.0, 0.0999, 0.1001, 0.6999, 0.7001]).unwrap();
    assert_eq!(Vec::<i64>::try_from(&picked).unwrap(), vec![0, 0, 2, 2, 3]);

    // A target at the very top of the CDF (as rounding can make it) picks the last kept token,
    // not one of the filtered-out tokens after it, nor one past the vocabulary.
    let probs = Tensor::from_slice(&[0.25f32, 0.75, 0.0, 0.0, 0.2, 0.3, 0.5, 0.0]).view([2, 4]);
    let picked = pick(&probs, &[1.0, 0.5]).unwrap();
    assert_eq!(Vec::<i64>::try_from(&picked).unwrap(), vec![1, 2]);
}
