//! The fused kernel (`fused_sample.cu`) transcribed statement by statement into plain Rust, with
//! its 256 threads run one after the other between barriers, so its algorithm (the bisections
//! over float bit patterns, the per-thread segments of the inverse CDF, the reductions in tree
//! order) is exercised on machines without a GPU. It checks the algorithm, not the CUDA text:
//! `expf` here is Rust's, and a slip made only in the .cu file shows on a GPU, in
//! `lrpo-cuda-check`. Keep the two in step.

use crate::{Fixture, THREADS};

const T: usize = THREADS as usize;

/// The tree reduction of `block_sum` / `block_max` / ...: halves the active threads each round.
fn reduce<V: Copy>(mut sh: Vec<V>, op: impl Fn(V, V) -> V) -> V {
    let mut s = T / 2;
    while s > 0 {
        for i in 0..s {
            sh[i] = op(sh[i], sh[i + s]);
        }
        s /= 2;
    }
    sh[0]
}

/// One block: the token for row `row` of the fixture.
pub fn kernel_row(f: &Fixture, row: usize) -> i64 {
    let x = f.row(row);
    let vocab = f.vocab;
    let t_raw = f.temperature[row];
    let t = if t_raw > 0.0 { t_raw } else { 1.0 };
    let strided = |tid: usize| (tid..vocab).step_by(T);

    let m = reduce((0..T).map(|tid| strided(tid).fold(f32::NEG_INFINITY, |m, i| m.max(x[i] / t))).collect(), f32::max);
    if t_raw == 0.0 {
        let first = (0..T).map(|tid| strided(tid).find(|&i| x[i] / t == m).unwrap_or(vocab)).collect();
        return reduce(first, usize::min) as i64;
    }
    let z = reduce((0..T).map(|tid| strided(tid).map(|i| (x[i] / t - m).exp()).sum::<f32>()).collect(), |a, b| a + b);
    let prob = |i: usize| (x[i] / t - m).exp() / z;
    let p_max = 1.0 / z;
    let block_sum = |per_thread: &dyn Fn(usize) -> f32| reduce((0..T).map(per_thread).collect(), |a, b| a + b);

    let mut kth = 0.0f32;
    let k = f.top_k[row];
    if k > 0 && (k as usize) < vocab {
        let (mut lo, mut hi) = (0u32, p_max.to_bits() + 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let bound = f32::from_bits(mid);
            let count = block_sum(&|tid| strided(tid).map(|i| if prob(i) >= bound { 1.0 } else { 0.0 }).sum());
            if count >= k as f32 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        kth = f32::from_bits(lo);
    }
    let mut tp = 0.0f32;
    let want = f.top_p[row];
    if want < 1.0 {
        let mk = block_sum(&|tid| strided(tid).map(prob).filter(|&p| p >= kth).sum());
        let (mut lo, mut hi) = (kth.to_bits(), p_max.to_bits() + 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let bound = f32::from_bits(mid).max(kth);
            let s = block_sum(&|tid| strided(tid).map(prob).filter(|&p| p >= bound).sum());
            if s / mk >= want {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        tp = f32::from_bits(lo);
    }
    let thr = kth.max(tp).max(f.min_p[row] * p_max);

    let seg = vocab.div_ceil(T);
    let range = |tid: usize| (tid * seg).min(vocab)..((tid + 1) * seg).min(vocab);
    let mut local = vec![0.0f32; T];
    let mut last = vec![-1i64; T];
    for tid in 0..T {
        for i in range(tid) {
            let p = prob(i);
            if p >= thr {
                local[tid] += p;
                last[tid] = i as i64;
            }
        }
    }
    let mut prefix = vec![0.0f32; T];
    let mut run = 0.0f32;
    for j in 0..T {
        prefix[j] = run;
        run += local[j];
    }
    let target = f.uniforms[row] * run;
    let mut found = vec![vocab as i64; T];
    for tid in 0..T {
        let mut r = prefix[tid];
        if r <= target && r + local[tid] > target {
            for i in range(tid) {
                let p = prob(i);
                if p >= thr {
                    r += p;
                    if r > target {
                        found[tid] = i as i64;
                        break;
                    }
                }
            }
            if found[tid] == vocab as i64 {
                found[tid] = last[tid];
            }
        }
    }
    let found = reduce(found, i64::min);
    let last = reduce(last, i64::max);
    if found < vocab as i64 {
        found
    } else {
        last
    }
}

/// [`kernel_row`] for every row.
pub fn kernel_tokens(f: &Fixture) -> Vec<i64> {
    (0..f.rows()).map(|r| kernel_row(f, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agreement, fixture};

    #[test]
    fn the_kernel_algorithm_agrees_with_the_reference() {
        let f = fixture();
        let got = kernel_tokens(&f);
        let a = agreement(&f, &got);
        assert!(a.wrong.is_empty(), "the kernel's algorithm disagrees with the reference on rows {:?}", a.wrong);
        assert!(a.at_boundary.len() * 50 <= f.rows(), "{a:?}");
    }
}
