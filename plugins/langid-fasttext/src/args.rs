//! The training arguments stored at the head of a fastText model (`Args::load` in the C++).

use crate::reader::ByteReader;

/// File magic of every fastText model.
pub const FASTTEXT_MAGIC: i32 = 0x2F4F16BA;
/// The newest file version this reader knows (fastText 0.9.x writes 12).
pub const FASTTEXT_VERSION: i32 = 12;

/// Which output layer the model was trained with; it decides how scores become probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    HierarchicalSoftmax,
    NegativeSampling,
    Softmax,
    OneVsAll,
}

impl LossKind {
    fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(LossKind::HierarchicalSoftmax),
            2 => Some(LossKind::NegativeSampling),
            3 => Some(LossKind::Softmax),
            4 => Some(LossKind::OneVsAll),
            _ => None,
        }
    }
}

/// The arguments prediction depends on (the training-only ones are kept for completeness).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelArgs {
    pub dim: usize,
    pub ws: i32,
    pub epoch: i32,
    pub min_count: i32,
    pub neg: i32,
    pub word_ngrams: i32,
    pub loss: LossKind,
    /// 1 = cbow, 2 = skipgram, 3 = supervised; only supervised models can predict labels.
    pub model: i32,
    pub bucket: i32,
    pub minn: i32,
    pub maxn: i32,
    pub lr_update_rate: i32,
    pub t: f64,
}

const SUPERVISED: i32 = 3;

impl ModelArgs {
    pub(crate) fn read(r: &mut ByteReader<'_>) -> lrpo_core::Result<Self> {
        let magic = r.i32("magic")?;
        if magic != FASTTEXT_MAGIC {
            return Err(
                r.error("magic", format!("not a fastText model: magic {magic:#x}, expected {FASTTEXT_MAGIC:#x}"))
            );
        }
        let version = r.i32("version")?;
        if !(1..=FASTTEXT_VERSION).contains(&version) {
            return Err(r.error(
                "version",
                format!("unsupported file version {version} (this reader knows up to {FASTTEXT_VERSION})"),
            ));
        }
        let dim = r.count_i32("args.dim")?;
        let ws = r.i32("args.ws")?;
        let epoch = r.i32("args.epoch")?;
        let min_count = r.i32("args.minCount")?;
        let neg = r.i32("args.neg")?;
        let word_ngrams = r.i32("args.wordNgrams")?;
        let loss_code = r.i32("args.loss")?;
        let loss = LossKind::from_code(loss_code)
            .ok_or_else(|| r.error("args.loss", format!("unknown loss code {loss_code}")))?;
        let model = r.i32("args.model")?;
        let bucket = r.i32("args.bucket")?;
        let minn = r.i32("args.minn")?;
        let mut maxn = r.i32("args.maxn")?;
        let lr_update_rate = r.i32("args.lrUpdateRate")?;
        let t = r.f64("args.t")?;
        if dim == 0 {
            return Err(r.error("args.dim", "dimension is 0"));
        }
        if model != SUPERVISED {
            return Err(r.error(
                "args.model",
                format!("model type {model} is not a supervised classifier; only those predict labels"),
            ));
        }
        if bucket < 0 {
            return Err(r.error("args.bucket", format!("negative bucket count {bucket}")));
        }
        // Version-11 supervised models were trained without character n-grams; the C++ loader
        // forces maxn to 0 for them, and so must we to hash the same features.
        if version == 11 {
            maxn = 0;
        }
        Ok(ModelArgs {
            dim,
            ws,
            epoch,
            min_count,
            neg,
            word_ngrams,
            loss,
            model,
            bucket,
            minn,
            maxn,
            lr_update_rate,
            t,
        })
    }
}
