//! Small models written by the test in fastText's binary format, covering what lid.176.ftz does
//! not: dense `.bin` matrices, unpruned n-gram buckets, word n-grams, softmax / one-vs-all /
//! negative-sampling losses, a quantized output matrix. Each is checked against the C++.

use crate::common;
use lrpo_langid_fasttext::FastTextModel;

const DIM: usize = 8;
const WORDS: [&str; 9] = ["</s>", "the", "cat", "le", "chat", "der", "katze", "über", "猫"];
const LABELS: [(&str, i64); 5] =
    [("__label__en", 50), ("__label__fr", 30), ("__label__de", 20), ("__label__zh", 10), ("__label__xx", 5)];

#[derive(Clone, Copy)]
struct Spec {
    loss: i32,
    word_ngrams: i32,
    minn: i32,
    maxn: i32,
    bucket: i32,
    /// Quantized input with pruned buckets (only every third bucket kept).
    quantized: bool,
    qout: bool,
}

struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn next_u8(&mut self) -> u8 {
        ((self.next_f32() + 1.0) * 127.9) as u8
    }
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_floats(out: &mut Vec<u8>, n: usize, rng: &mut Rng, scale: f32) {
    for _ in 0..n {
        out.extend_from_slice(&(rng.next_f32() * scale).to_le_bytes());
    }
}

fn put_pq(out: &mut Vec<u8>, dim: i32, nsubq: i32, dsub: i32, lastdsub: i32, rng: &mut Rng, scale: f32) {
    for v in [dim, nsubq, dsub, lastdsub] {
        put_i32(out, v);
    }
    put_floats(out, dim as usize * 256, rng, scale);
}

fn put_quant_matrix(out: &mut Vec<u8>, rows: usize, qnorm: bool, rng: &mut Rng) {
    out.push(qnorm as u8);
    put_i64(out, rows as i64);
    put_i64(out, DIM as i64);
    // 3 sub-quantizers of 3, 3 and 2 dimensions: the last one is narrower
    put_i32(out, rows as i32 * 3);
    out.extend((0..rows * 3).map(|_| rng.next_u8()));
    put_pq(out, DIM as i32, 3, 3, 2, rng, 1.0);
    if qnorm {
        out.extend((0..rows).map(|_| rng.next_u8()));
        put_pq(out, 1, 1, 1, 1, rng, 2.0);
    }
}

fn build(spec: Spec, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    put_i32(&mut out, 0x2F4F16BA);
    put_i32(&mut out, 12);
    let args = [DIM as i32, 5, 5, 1, 5, spec.word_ngrams, spec.loss, 3, spec.bucket, spec.minn, spec.maxn, 100];
    args.iter().for_each(|&a| put_i32(&mut out, a));
    out.extend_from_slice(&1e-4f64.to_le_bytes());

    let kept: Vec<i32> = (0..spec.bucket).filter(|b| b % 3 == 0).collect();
    put_i32(&mut out, (WORDS.len() + LABELS.len()) as i32);
    put_i32(&mut out, WORDS.len() as i32);
    put_i32(&mut out, LABELS.len() as i32);
    put_i64(&mut out, 1000);
    put_i64(&mut out, if spec.quantized { kept.len() as i64 } else { -1 });
    for (i, w) in WORDS.iter().enumerate() {
        out.extend_from_slice(w.as_bytes());
        out.push(0);
        put_i64(&mut out, 100 - i as i64);
        out.push(0);
    }
    for (label, count) in LABELS {
        out.extend_from_slice(label.as_bytes());
        out.push(0);
        put_i64(&mut out, count);
        out.push(1);
    }
    if spec.quantized {
        for (row, bucket) in kept.iter().enumerate() {
            put_i32(&mut out, *bucket);
            put_i32(&mut out, row as i32);
        }
    }

    out.push(spec.quantized as u8);
    if spec.quantized {
        put_quant_matrix(&mut out, WORDS.len() + kept.len(), true, &mut rng);
    } else {
        let rows = WORDS.len() + spec.bucket as usize;
        put_i64(&mut out, rows as i64);
        put_i64(&mut out, DIM as i64);
        put_floats(&mut out, rows * DIM, &mut rng, 1.0);
    }
    out.push(spec.qout as u8);
    if spec.quantized && spec.qout {
        put_quant_matrix(&mut out, LABELS.len(), false, &mut rng);
    } else {
        put_i64(&mut out, LABELS.len() as i64);
        put_i64(&mut out, DIM as i64);
        put_floats(&mut out, LABELS.len() * DIM, &mut rng, 2.0);
    }
    out
}

fn texts() -> Vec<String> {
    [
        "the cat",
        "le chat",
        "der katze über",
        "猫 the cat 猫",
        "unknown words only here",
        "the the the cat cat",
        "",
        "über-straße ÄÖÜ",
        "le chat der katze the cat 猫 über",
        "x",
        "ab cd ef gh ij kl mn op",
        "__label__en the cat",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Orders ties by label so that the comparison does not depend on heap internals.
fn canonical(mut v: Vec<(String, f64)>) -> Vec<(String, f64)> {
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn check(name: &str, spec: Spec) {
    let dir = tempfile::tempdir().unwrap();
    for seed in [0x9E37_79B9_7F4A_7C15u64, 12345, 777] {
        let path = dir.path().join(format!("{name}-{seed}.bin"));
        std::fs::write(&path, build(spec, seed)).unwrap();
        let model = FastTextModel::load(&path).unwrap();
        let texts = texts();
        let reference = common::reference_predictions(&path, &texts, LABELS.len());
        for (text, want) in texts.iter().zip(reference) {
            let got: Vec<(String, f64)> = model
                .predict(text, LABELS.len(), 0.0)
                .into_iter()
                .map(|p| (model.labels()[p.label].clone(), p.prob as f64))
                .collect();
            let (got, want) = (canonical(got), canonical(want));
            assert_eq!(got.len(), want.len(), "{name} seed {seed} {text:?}: ours {got:?}, C++ {want:?}");
            for ((gl, gp), (wl, wp)) in got.iter().zip(&want) {
                assert!(gl == wl && (gp - wp).abs() <= 1e-4, "{name} seed {seed} {text:?}: ours {got:?}, C++ {want:?}");
            }
        }
    }
}

const BASE: Spec = Spec { loss: 1, word_ngrams: 1, minn: 2, maxn: 4, bucket: 101, quantized: false, qout: false };

#[test]
fn dense_hierarchical_softmax_with_word_bigrams() {
    check("hs-bigrams", Spec { word_ngrams: 2, ..BASE });
}

#[test]
fn dense_softmax_with_word_trigrams() {
    check("softmax", Spec { loss: 3, word_ngrams: 3, minn: 3, maxn: 6, ..BASE });
}

#[test]
fn dense_one_vs_all_and_negative_sampling() {
    check("ova", Spec { loss: 4, ..BASE });
    check("ns", Spec { loss: 2, word_ngrams: 2, ..BASE });
}

#[test]
fn words_only_model_without_subwords() {
    check("words-only", Spec { minn: 0, maxn: 0, ..BASE });
}

#[test]
fn quantized_pruned_input_with_quantized_output() {
    check("quantized-qout", Spec { quantized: true, qout: true, ..BASE });
    check("quantized-softmax", Spec { loss: 3, quantized: true, qout: true, word_ngrams: 2, ..BASE });
}

#[test]
fn qout_flag_is_ignored_without_quantized_input() {
    check("dense-qout-flag", Spec { qout: true, ..BASE });
}
