//! The rollout plugin's fused CUDA sampling kernel, checked without libtorch.
//!
//! The GPU machines this project is lent have CUDA but neither Rust nor the libtorch the plugins
//! link, so the kernel check travels as one small binary (`lrpo-cuda-check`, see `main.rs`) that
//! needs only the CUDA driver and NVRTC. It compares the kernel with [`reference_pick`], a plain
//! Rust statement of the sampling distribution of `lrpo_rollout_cuda::sampling`; the plugin's
//! CPU tests check that this reference picks the same tokens as its libtorch path on the same
//! [`fixture`], so kernel = reference = CPU path. [`emulate`] runs the kernel's algorithm on the
//! CPU for machines without a GPU.

use rand::{Rng, SeedableRng};

pub mod emulate;

/// The kernel source the plugin compiles.
pub const KERNEL_SOURCE: &str = include_str!("../../src/cuda/fused_sample.cu");
/// Threads per block; `THREADS` in the kernel source.
pub const THREADS: u32 = 256;

/// Per-row sampling parameters and inputs, laid out as the kernel takes them.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub vocab: usize,
    pub logits: Vec<f32>,
    pub temperature: Vec<f32>,
    pub top_k: Vec<i64>,
    pub top_p: Vec<f32>,
    pub min_p: Vec<f32>,
    pub uniforms: Vec<f32>,
}

impl Fixture {
    pub fn rows(&self) -> usize {
        self.uniforms.len()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.logits[i * self.vocab..(i + 1) * self.vocab]
    }
}

/// `(temperature, top_k, top_p, min_p)` of each case: plain, greedy, top-k, top-p, min-p, all.
pub const CASES: [(f32, i64, f32, f32); 6] = [
    (1.0, 0, 1.0, 0.0),
    (0.0, 0, 1.0, 0.0),
    (0.7, 50, 1.0, 0.0),
    (1.0, 0, 0.9, 0.0),
    (1.2, 0, 1.0, 0.05),
    (0.8, 40, 0.95, 0.02),
];

/// 64 rows per case over SmolLM2's vocabulary (49,152), logits ~ N(0, 3²) and uniforms from
/// fixed ChaCha8 seeds, so every machine builds the same fixture.
pub fn fixture() -> Fixture {
    let (per_case, vocab) = (64, 49_152);
    let rows = CASES.len() * per_case;
    let mut f = Fixture {
        vocab,
        logits: Vec::with_capacity(rows * vocab),
        temperature: vec![],
        top_k: vec![],
        top_p: vec![],
        min_p: vec![],
        uniforms: vec![],
    };
    for &(t, k, p, m) in &CASES {
        for _ in 0..per_case {
            f.temperature.push(t);
            f.top_k.push(k);
            f.top_p.push(p);
            f.min_p.push(m);
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    while f.logits.len() < rows * vocab {
        // Box-Muller: two normals from two uniforms in (0, 1].
        let (u1, u2): (f64, f64) = (1.0 - rng.gen::<f64>(), rng.gen());
        let r = (-2.0 * u1.ln()).sqrt() * 3.0;
        let a = std::f64::consts::TAU * u2;
        f.logits.push((r * a.cos()) as f32);
        f.logits.push((r * a.sin()) as f32);
    }
    f.logits.truncate(rows * vocab);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    f.uniforms = (0..rows).map(|_| rng.gen()).collect();
    f
}

/// One row's probabilities under the sort-based definitions (in f64) and the kept threshold:
/// softmax of `logits / temperature`; a token is kept when p >= max(min_p * p_max, the k-th
/// largest p, the smallest p of the shortest prefix of the top-k whose mass reaches top_p).
/// `None` for greedy rows (temperature 0).
fn filtered(logits: &[f32], temperature: f32, top_k: i64, top_p: f32, min_p: f32) -> Option<(Vec<f64>, f64)> {
    if temperature == 0.0 {
        return None;
    }
    let t = f64::from(temperature);
    let m = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b) / t));
    let e: Vec<f64> = logits.iter().map(|&v| (f64::from(v) / t - m).exp()).collect();
    let z: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|v| v / z).collect();
    let vocab = p.len();
    let p_max = p.iter().fold(0.0f64, |a, &b| a.max(b));
    let mut threshold = f64::from(min_p) * p_max;
    if (top_k > 0 && (top_k as usize) < vocab) || top_p < 1.0 {
        let mut sorted = p.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let k = if top_k <= 0 || top_k as usize > vocab { vocab } else { top_k as usize };
        let kth = sorted[k - 1];
        let in_k: Vec<f64> = sorted.iter().copied().take_while(|&v| v >= kth).collect();
        let total: f64 = in_k.iter().sum();
        let mut tp = 0.0;
        if top_p < 1.0 {
            // Entries whose mass before them is still short of top_p; the first always counts.
            let mut before = 0.0;
            let mut count = 0;
            for &v in &in_k {
                if before / total < f64::from(top_p) {
                    count += 1;
                }
                before += v;
            }
            tp = in_k[count.max(1) - 1];
        }
        threshold = threshold.max(kth).max(tp);
    }
    Some((p, threshold))
}

fn first_max(xs: &[f32]) -> usize {
    xs.iter().enumerate().fold(0, |best, (i, &x)| if x > xs[best] { i } else { best })
}

/// The token the sampler picks for one row: the first index, in vocabulary order, whose running
/// kept mass exceeds `u` times the kept mass (see `filtered` for what is kept); temperature 0
/// is greedy (the first maximum).
pub fn reference_pick(logits: &[f32], temperature: f32, top_k: i64, top_p: f32, min_p: f32, u: f32) -> usize {
    let Some((p, threshold)) = filtered(logits, temperature, top_k, top_p, min_p) else { return first_max(logits) };
    let kept: f64 = p.iter().filter(|&&v| v >= threshold).sum();
    let target = f64::from(u) * kept;
    let mut run = 0.0;
    let mut last = 0;
    for (i, &v) in p.iter().enumerate() {
        if v >= threshold {
            run += v;
            last = i;
            if run > target {
                return i;
            }
        }
    }
    last
}

/// How picks made in f32 compare with the f64 reference.
#[derive(Debug, Default, PartialEq)]
pub struct Agreement {
    /// Rows whose pick equals the reference's.
    pub same: usize,
    /// Rows that differ only because `u` times the kept mass lies within rounding (1e-5 of the
    /// kept mass, half a typical token's mass here) of a CDF boundary, or the token lies within
    /// rounding of the keep threshold: an f32 running sum over 49,152 probabilities can be that
    /// far from the exact one.
    pub at_boundary: Vec<usize>,
    /// Rows whose pick no rounding explains: a real disagreement.
    pub wrong: Vec<usize>,
}

/// Compares `got` (one token per fixture row) with the reference.
pub fn agreement(f: &Fixture, got: &[i64]) -> Agreement {
    const TOL: f64 = 1e-5;
    let mut a = Agreement::default();
    for (i, &want) in reference_tokens(f).iter().enumerate() {
        let g = got[i];
        if g == want as i64 {
            a.same += 1;
            continue;
        }
        let explained = usize::try_from(g).ok().filter(|&g| g < f.vocab).is_some_and(|g| {
            let Some((p, threshold)) = filtered(f.row(i), f.temperature[i], f.top_k[i], f.top_p[i], f.min_p[i]) else {
                return false;
            };
            let near_threshold = |v: f64| (v - threshold).abs() <= TOL * threshold;
            let kept = |v: f64| v >= threshold || near_threshold(v);
            let mass: f64 = p.iter().filter(|&&v| kept(v)).sum();
            let before: f64 = p[..g].iter().filter(|&&v| kept(v)).sum();
            let target = f64::from(f.uniforms[i]) * mass;
            kept(p[g]) && target >= before - TOL * mass && target <= before + p[g] + TOL * mass
        });
        if explained {
            a.at_boundary.push(i);
        } else {
            a.wrong.push(i);
        }
    }
    a
}

/// [`reference_pick`] for every row of the fixture.
pub fn reference_tokens(f: &Fixture) -> Vec<usize> {
    (0..f.rows())
        .map(|i| reference_pick(f.row(i), f.temperature[i], f.top_k[i], f.top_p[i], f.min_p[i], f.uniforms[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_is_the_first_maximum_and_top_k_one_agrees() {
        let logits = [0.5, 2.0, 2.0, -1.0];
        assert_eq!(reference_pick(&logits, 0.0, 0, 1.0, 0.0, 0.9), 1);
        for u in [0.0, 0.5, 0.999] {
            assert_eq!(
                reference_pick(&logits, 1.0, 1, 1.0, 0.0, u),
                if u < 0.5 { 1 } else { 2 },
                "u {u}: top-1 keeps both tied maxima"
            );
        }
    }

    #[test]
    fn filters_keep_what_they_should() {
        // p ∝ e^[3, 2, 1, 0]: 0.644, 0.237, 0.087, 0.032.
        let logits = [3.0, 2.0, 1.0, 0.0];
        // top_p 0.8: 0.644 < 0.8, so the second token is needed too, the third is not.
        let picks: Vec<usize> =
            [0.0, 0.5, 0.8, 0.999].iter().map(|&u| reference_pick(&logits, 1.0, 0, 0.8, 0.0, u)).collect();
        assert_eq!(picks, [0, 0, 1, 1]);
        // min_p 0.1: keeps p >= 0.0644, i.e. the first three.
        assert_eq!(reference_pick(&logits, 1.0, 0, 1.0, 0.1, 0.999), 2);
        // No filter: u near 1 reaches the last token.
        assert_eq!(reference_pick(&logits, 1.0, 0, 1.0, 0.0, 0.999), 3);
    }

    #[test]
    fn agreement_tells_rounding_from_real_disagreement() {
        let mut f = fixture();
        f.logits.truncate(3 * f.vocab);
        f.uniforms.truncate(3);
        let want: Vec<i64> = reference_tokens(&f).iter().map(|&t| t as i64).collect();
        assert_eq!(agreement(&f, &want), Agreement { same: 3, ..Agreement::default() });
        // A neighbour at a CDF boundary is rounding when u sits right on the boundary.
        let row = f.row(0).to_vec();
        let p_sum_before = |upto: usize| {
            let (p, _) = filtered(&row, 1.0, 0, 1.0, 0.0).unwrap();
            p[..upto].iter().sum::<f64>()
        };
        let g = want[0] as usize;
        f.uniforms[0] = p_sum_before(g) as f32; // the boundary between g - 1 and g
        let at = reference_tokens(&f)[0] as i64;
        let mut got = want.clone();
        got[0] = if at == g as i64 { at - 1 } else { at + 1 };
        let a = agreement(&f, &got);
        assert_eq!((a.same, a.at_boundary.clone(), a.wrong.clone()), (2, vec![0], vec![]), "{a:?}");
        // Any other token, and any index out of range, is a real disagreement.
        got[0] = (at + 1000) % f.vocab as i64;
        got[1] = -1;
        got[2] = f.vocab as i64;
        assert_eq!(agreement(&f, &got).wrong, vec![0, 1, 2]);
    }

    #[test]
    fn the_fixture_is_fixed() {
        let a = fixture();
        assert_eq!(a.rows(), 384);
        assert_eq!(a.logits.len(), 384 * 49_152);
        let b = fixture();
        assert_eq!(a.logits[..8], b.logits[..8]);
        let mean = a.logits.iter().map(|&v| f64::from(v)).sum::<f64>() / a.logits.len() as f64;
        let var = a.logits.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / a.logits.len() as f64;
        assert!(mean.abs() < 0.01 && (var.sqrt() - 3.0).abs() < 0.01, "N(0, 9)? mean {mean}, sd {}", var.sqrt());
    }
}
