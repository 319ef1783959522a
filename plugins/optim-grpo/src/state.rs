//! Checkpoint bytes: one safetensors blob with the policy weights (`param/NAME`), the AdamW
//! moments (`exp_avg/NAME`, `exp_avg_sq/NAME`) and, in its metadata, the step counters, the
//! shuffle RNG and the f16 loss scale, so that a resumed run takes the same next update bit for
//! bit. Under mixed precision `param/NAME` holds the fp32 master weights, so the layout is the
//! same in every `dtype`: a bf16 run's checkpoint loads into an f32 optimizer (for an export
//! at full precision) and back.

use std::collections::HashMap;

use lrpo_core::{Error, Result};
use rand_chacha::ChaCha8Rng;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::grpo::Grpo;
use crate::precision::LossScale;

const FORMAT: &str = "lrpo-optim-grpo/1";
const META_KEY: &str = "lrpo_optim_grpo";

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    steps_done: u64,
    adam_steps: Vec<u64>,
    rng_seed: [u8; 32],
    rng_stream: u64,
    /// u128 as a decimal string: JSON numbers cannot carry it exactly.
    rng_word_pos: String,
    /// f16 only; absent in checkpoints of other dtypes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    loss_scale: Option<LossScale>,
}

fn st_dtype(kind: Kind) -> Result<Dtype> {
    match kind {
        Kind::Float => Ok(Dtype::F32),
        Kind::BFloat16 => Ok(Dtype::BF16),
        Kind::Half => Ok(Dtype::F16),
        Kind::Double => Ok(Dtype::F64),
        other => Err(Error::State(format!("cannot checkpoint a {other:?} tensor"))),
    }
}

/// Host bytes of a tensor, row-major.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Bytes {
    fn of(t: &Tensor) -> Result<Bytes> {
        let t = t.detach().to_device(Device::Cpu).contiguous();
        let numel = t.numel();
        let dtype = st_dtype(t.kind())?;
        let mut data = vec![0u8; numel * dtype.bitsize() / 8];
        t.f_copy_data_u8(&mut data, numel).map_err(|e| Error::State(format!("reading a tensor: {e}")))?;
        Ok(Bytes { dtype, shape: t.size().iter().map(|&d| d as usize).collect(), data })
    }
}

impl safetensors::View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

impl Grpo {
    pub fn save(&self) -> Result<Vec<u8>> {
        let mut named: Vec<(String, Bytes)> = Vec::with_capacity(self.params.len() * 3);
        for ((name, p), m) in self.master_weights().iter().zip(&self.optimizer.moments) {
            named.push((format!("param/{name}"), Bytes::of(p)?));
            named.push((format!("exp_avg/{name}"), Bytes::of(&m.exp_avg)?));
            named.push((format!("exp_avg_sq/{name}"), Bytes::of(&m.exp_avg_sq)?));
        }
        let meta = Meta {
            format: FORMAT.into(),
            steps_done: self.steps_done,
            adam_steps: self.optimizer.moments.iter().map(|m| m.step).collect(),
            rng_seed: self.rng.get_seed(),
            rng_stream: self.rng.get_stream(),
            rng_word_pos: self.rng.get_word_pos().to_string(),
            loss_scale: self.masters.as_ref().and_then(|m| m.loss_scale),
        };
        let meta_json = serde_json::to_string(&meta).map_err(|e| Error::State(e.to_string()))?;
        let info = HashMap::from([(META_KEY.to_string(), meta_json)]);
        safetensors::serialize(named.iter().map(|(n, b)| (n.as_str(), b)), Some(info))
            .map_err(|e| Error::State(format!("writing the checkpoint: {e}")))
    }

    pub fn load(&mut self, bytes: &[u8]) -> Result<()> {
        let (_, metadata) =
            SafeTensors::read_metadata(bytes).map_err(|e| Error::State(format!("not a grpo checkpoint: {e}")))?;
        let meta_json = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| Error::State(format!("checkpoint metadata has no `{META_KEY}` entry")))?;
        let meta: Meta = serde_json::from_str(meta_json)
            .map_err(|e| Error::State(format!("checkpoint metadata `{META_KEY}`: {e}")))?;
        if meta.format != FORMAT {
            return Err(Error::State(format!("checkpoint format `{}`, expected `{FORMAT}`", meta.format)));
        }
        if meta.adam_steps.len() != self.params.len() {
            return Err(Error::State(format!(
                "checkpoint has {} optimizer entries, the model {} parameters",
                meta.adam_steps.len(),
                self.params.len()
            )));
        }
        let word_pos: u128 =
            meta.rng_word_pos.parse().map_err(|e| Error::State(format!("checkpoint rng_word_pos: {e}")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::State(format!("checkpoint tensors: {e}")))?;
        // Check and convert everything before touching the model, so a bad checkpoint leaves
        // the optimizer as it was.
        let mut staged: Vec<[Tensor; 3]> = Vec::with_capacity(self.params.len());
        let masters = self.master_weights();
        for ((name, p), m) in masters.iter().zip(&self.optimizer.moments) {
            let mut three = Vec::with_capacity(3);
            for (prefix, like) in [("param", p), ("exp_avg", &m.exp_avg), ("exp_avg_sq", &m.exp_avg_sq)] {
                let key = format!("{prefix}/{name}");
                let view = st.tensor(&key).map_err(|_| Error::State(format!("checkpoint lacks tensor `{key}`")))?;
                let want = st_dtype(like.kind())?;
                let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
                if view.dtype() != want || shape != like.size() {
                    return Err(Error::State(format!(
                        "checkpoint tensor `{key}` is {:?} {shape:?}, the model has {want:?} {:?}",
                        view.dtype(),
                        like.size()
                    )));
                }
                let t = Tensor::f_from_data_size(view.data(), &shape, like.kind())
                    .map_err(|e| Error::State(format!("`{key}`: {e}")))?;
                three.push(t);
            }
            let [a, b, c]: [Tensor; 3] =
                three.try_into().map_err(|_| Error::State("internal: tensor triple".into()))?;
            staged.push([a, b, c]);
        }
        let _guard = tch::no_grad_guard();
        for (((_, p), m), [param, exp_avg, exp_avg_sq]) in
            masters.iter().zip(self.optimizer.moments.iter_mut()).zip(staged)
        {
            p.shallow_clone().f_copy_(&param).map_err(|e| Error::State(e.to_string()))?;
            m.exp_avg.f_copy_(&exp_avg).map_err(|e| Error::State(e.to_string()))?;
            m.exp_avg_sq.f_copy_(&exp_avg_sq).map_err(|e| Error::State(e.to_string()))?;
        }
        for (m, step) in self.optimizer.moments.iter_mut().zip(meta.adam_steps) {
            m.step = step;
        }
        if let Some(m) = &mut self.masters {
            m.publish(&self.params)?;
            if let (Some(scale), Some(saved)) = (m.loss_scale.as_mut(), meta.loss_scale) {
                *scale = saved;
            }
        }
        self.steps_done = meta.steps_done;
        let mut rng: ChaCha8Rng = rand::SeedableRng::from_seed(meta.rng_seed);
        rng.set_stream(meta.rng_stream);
        rng.set_word_pos(word_pos);
        self.rng = rng;
        Ok(())
    }
}
