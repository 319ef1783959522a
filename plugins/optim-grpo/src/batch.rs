//! Checks a [`TrainBatch`] and lays rows out as tensors: prompt ++ response, right-padded, and
//! the flat positions whose hidden states predict each response token.
//!
//! Right padding needs no attention mask: under causal attention a padded tail cannot change
//! the states of the real tokens before it, so the model takes its fused causal path.

use lrpo_core::{Error, Result, TrainBatch};
use tch::{Device, Kind, Tensor};

/// Validates every sample against the vocabulary; errors name the step, sample and field.
pub fn validate(batch: &TrainBatch, vocab: i64) -> Result<()> {
    let at = |i: usize, field: &str| format!("train batch (step {}) samples[{i}].{field}", batch.step);
    if batch.samples.is_empty() {
        return Err(Error::input(format!("train batch (step {})", batch.step), "no samples"));
    }
    for (i, s) in batch.samples.iter().enumerate() {
        if s.prompt_tokens.is_empty() {
            return Err(Error::input(
                at(i, "prompt_tokens"),
                "empty; the first response token needs a prompt token before it",
            ));
        }
        if s.response_tokens.is_empty() {
            return Err(Error::input(at(i, "response_tokens"), "empty response"));
        }
        if s.sampler_logprobs.len() != s.response_tokens.len() {
            return Err(Error::input(
                at(i, "sampler_logprobs"),
                format!("{} values for {} response tokens", s.sampler_logprobs.len(), s.response_tokens.len()),
            ));
        }
        if !s.reward.is_finite() {
            return Err(Error::input(at(i, "reward"), format!("not finite: {}", s.reward)));
        }
        for (field, tokens) in [("prompt_tokens", &s.prompt_tokens), ("response_tokens", &s.response_tokens)] {
            if let Some((j, t)) = tokens.iter().enumerate().find(|(_, &t)| i64::from(t) >= vocab) {
                return Err(Error::input(
                    format!("{}[{j}]", at(i, field)),
                    format!("token id {t} outside vocabulary 0..{vocab}"),
                ));
            }
        }
    }
    Ok(())
}

/// Rows of one forward/backward, as tensors on the model's device.
#[derive(Debug)]
pub struct MicroBatch {
    /// Indices of the rows in the batch.
    pub rows: Vec<usize>,
    /// `[b, T]` prompt ++ response, right-padded.
    pub input_ids: Tensor,
    /// `[b·R]` indices into the flattened `[b·T]` hidden states: the position before each
    /// response token (padding slots point at position 0 of their row).
    pub positions: Tensor,
    /// `[b·R]` the response tokens (0 in padding slots).
    pub targets: Tensor,
    /// `[b, R]` 1 for real response tokens.
    pub mask: Tensor,
    /// `[b, 1]` the rows' advantages.
    pub advantages: Tensor,
    /// R, the longest response of the micro-batch.
    pub response_len: usize,
}

impl MicroBatch {
    pub fn build(batch: &TrainBatch, rows: &[usize], advantages: &[f64], device: Device) -> MicroBatch {
        let samples: Vec<_> = rows.iter().map(|&i| &batch.samples[i]).collect();
        let seq = samples.iter().map(|s| s.prompt_tokens.len() + s.response_tokens.len()).max().unwrap_or(0);
        let resp = samples.iter().map(|s| s.response_tokens.len()).max().unwrap_or(0);
        let b = samples.len();
        let mut ids = vec![0i64; b * seq];
        let mut positions = vec![0i64; b * resp];
        let mut targets = vec![0i64; b * resp];
        let mut mask = vec![0f32; b * resp];
        for (r, s) in samples.iter().enumerate() {
            let p = s.prompt_tokens.len();
            for (j, &t) in s.prompt_tokens.iter().chain(&s.response_tokens).enumerate() {
                ids[r * seq + j] = i64::from(t);
            }
            for (j, &t) in s.response_tokens.iter().enumerate() {
                positions[r * resp + j] = (r * seq + p - 1 + j) as i64;
                targets[r * resp + j] = i64::from(t);
                mask[r * resp + j] = 1.0;
            }
            for j in s.response_tokens.len()..resp {
                positions[r * resp + j] = (r * seq) as i64;
            }
        }
        let adv: Vec<f32> = rows.iter().map(|&i| advantages[i] as f32).collect();
        let (bi, si, ri) = (b as i64, seq as i64, resp as i64);
        MicroBatch {
            rows: rows.to_vec(),
            input_ids: Tensor::from_slice(&ids).view([bi, si]).to_device(device),
            positions: Tensor::from_slice(&positions).to_device(device),
            targets: Tensor::from_slice(&targets).to_device(device),
            mask: Tensor::from_slice(&mask).view([bi, ri]).to_device(device),
            advantages: Tensor::from_slice(&adv).view([bi, 1]).to_device(device),
            response_len: resp,
        }
    }

    /// A `[b, R]` f32 grid of per-row values (one per response token), zero in padding slots.
    pub fn grid(&self, per_row: &[Vec<f32>], device: Device) -> Tensor {
        let resp = self.response_len;
        let mut out = vec![0f32; self.rows.len() * resp];
        for (r, &i) in self.rows.iter().enumerate() {
            out[r * resp..r * resp + per_row[i].len()].copy_from_slice(&per_row[i]);
        }
        Tensor::from_slice(&out).view([self.rows.len() as i64, resp as i64]).to_device(device)
    }

    /// The inverse of [`grid`](Self::grid): each row's real entries of a `[b, R]` tensor.
    pub fn split_rows(&self, grid: &Tensor, lengths: impl Fn(usize) -> usize) -> Vec<(usize, Vec<f32>)> {
        let flat: Vec<f32> =
            Vec::try_from(grid.to_kind(Kind::Float).to_device(Device::Cpu).reshape([-1])).unwrap_or_default();
        let resp = self.response_len;
        self.rows.iter().enumerate().map(|(r, &i)| (i, flat[r * resp..r * resp + lengths(i)].to_vec())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::TrainSample;

    fn sample(prompt: &[u32], response: &[u32]) -> TrainSample {
        TrainSample {
            group_id: 0,
            prompt_tokens: prompt.to_vec(),
            response_tokens: response.to_vec(),
            sampler_logprobs: vec![-1.0; response.len()],
            reward: 1.0,
        }
    }

    #[test]
    fn layout_points_each_response_token_at_the_state_before_it() {
        let batch = TrainBatch { step: 0, samples: vec![sample(&[5, 6, 7], &[8, 9]), sample(&[1], &[2, 3, 4])] };
        let mb = MicroBatch::build(&batch, &[0, 1], &[0.5, -0.5], Device::Cpu);
        assert_eq!(mb.input_ids.size(), [2, 5]);
        let pos: Vec<i64> = Vec::try_from(&mb.positions).unwrap();
        assert_eq!(pos, vec![2, 3, 0, 5, 6, 7]);
        let tg: Vec<i64> = Vec::try_from(&mb.targets).unwrap();
        assert_eq!(tg, vec![8, 9, 0, 2, 3, 4]);
        let ids: Vec<i64> = Vec::try_from(mb.input_ids.reshape([-1])).unwrap();
        assert_eq!(ids, vec![5, 6, 7, 8, 9, 1, 2, 3, 4, 0]);
        let rows = mb.split_rows(&mb.grid(&[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], Device::Cpu), |i| {
            batch.samples[i].response_tokens.len()
        });
        assert_eq!(rows, vec![(0, vec![1.0, 2.0]), (1, vec![3.0, 4.0, 5.0])]);
    }

    #[test]
    fn bad_samples_are_named() {
        let mut batch = TrainBatch { step: 3, samples: vec![sample(&[1], &[2])] };
        batch.samples[0].sampler_logprobs.clear();
        let e = validate(&batch, 10).unwrap_err().to_string();
        assert!(e.contains("step 3") && e.contains("samples[0].sampler_logprobs"), "{e}");
        let batch = TrainBatch { step: 0, samples: vec![sample(&[1, 12], &[2])] };
        let e = validate(&batch, 10).unwrap_err().to_string();
        assert!(e.contains("samples[0].prompt_tokens[1]") && e.contains("12"), "{e}");
        let batch = TrainBatch { step: 0, samples: vec![sample(&[1], &[])] };
        assert!(validate(&batch, 10).unwrap_err().to_string().contains("response_tokens"));
        assert!(validate(&TrainBatch::default(), 10).is_err());
    }
}
