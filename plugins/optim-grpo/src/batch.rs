//! Checks a [`TrainBatch`] and lays rows out as tensors: either prompt ++ response per row,
//! right-padded, with the flat positions whose hidden states predict each response token, or
//! each distinct prompt once with the responses that continue it (see [`Layout`]).
//!
//! Right padding needs no attention mask: under causal attention a padded tail cannot change
//! the states of the real tokens before it, so the model takes its fused causal path.

use lrpo_core::{Error, Result, TrainBatch, TrainSample};
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
    /// The model input.
    pub layout: Layout,
    /// `[b·R]` indices into the layout's flattened hidden states: the state that predicts each
    /// response token (padding slots point at state 0).
    pub state_index: Tensor,
    /// `[b·R]` the response tokens (0 in padding slots).
    pub targets: Tensor,
    /// `[b, R]` 1 for real response tokens.
    pub mask: Tensor,
    /// `[b, 1]` the rows' advantages.
    pub advantages: Tensor,
    /// R, the longest response of the micro-batch.
    pub response_len: usize,
}

/// The model input of a micro-batch.
#[derive(Debug)]
pub enum Layout {
    /// `[b, T]` prompt ++ response per row, right-padded.
    Rows { input_ids: Tensor },
    /// One row per distinct prompt: the prompt, then every response that continues it (without
    /// its last token, which predicts nothing), each at the positions after the prompt and
    /// attending to the prompt and to itself only. The rollouts of one question thus pay for
    /// their prompt once, forward and backward, and each weight meets one matrix of tokens.
    /// The same maths as `Rows` up to float rounding order.
    Shared {
        /// `[G, L]` token ids, right-padded.
        input_ids: Tensor,
        /// `[G, L]` RoPE positions.
        positions: Tensor,
        /// `[G, 1, L, L]` true where a query may attend to a key.
        attention_mask: Tensor,
    },
}

impl MicroBatch {
    /// Lays out `rows`; with `share_prompts`, rows whose prompts are identical token for token
    /// are packed behind one copy of it ([`Layout::Shared`]) when at least two rows share one.
    pub fn build(
        batch: &TrainBatch,
        rows: &[usize],
        advantages: &[f64],
        device: Device,
        share_prompts: bool,
    ) -> MicroBatch {
        let samples: Vec<_> = rows.iter().map(|&i| &batch.samples[i]).collect();
        let resp = samples.iter().map(|s| s.response_tokens.len()).max().unwrap_or(0);
        let b = samples.len();
        let mut targets = vec![0i64; b * resp];
        let mut mask = vec![0f32; b * resp];
        for (r, s) in samples.iter().enumerate() {
            for (j, &t) in s.response_tokens.iter().enumerate() {
                targets[r * resp + j] = i64::from(t);
                mask[r * resp + j] = 1.0;
            }
        }
        let mut prompts: Vec<&[u32]> = Vec::new();
        let prompt_of_row: Vec<usize> = samples
            .iter()
            .map(|s| {
                let p = s.prompt_tokens.as_slice();
                prompts.iter().position(|&q| q == p).unwrap_or_else(|| {
                    prompts.push(p);
                    prompts.len() - 1
                })
            })
            .collect();
        let (layout, state_index) = if share_prompts && prompts.len() < b {
            shared(&samples, &prompts, &prompt_of_row, resp, device)
        } else {
            per_row(&samples, resp, device)
        };
        let adv: Vec<f32> = rows.iter().map(|&i| advantages[i] as f32).collect();
        let (bi, ri) = (b as i64, resp as i64);
        MicroBatch {
            rows: rows.to_vec(),
            layout,
            state_index,
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

/// Whole micro-batches grouped into passes through the model: consecutive ones while their
/// tokens (prompt + response of every row) stay within `max_tokens`; 0 = one micro-batch a pass.
/// A micro-batch over the budget has a pass of its own.
pub fn passes<'a>(batch: &TrainBatch, micro: &[&'a [usize]], max_tokens: usize) -> Vec<Vec<&'a [usize]>> {
    let tokens = |rows: &[usize]| -> usize {
        rows.iter().map(|&i| batch.samples[i].prompt_tokens.len() + batch.samples[i].response_tokens.len()).sum()
    };
    let mut out: Vec<Vec<&[usize]>> = Vec::new();
    let mut used = 0;
    for &m in micro {
        let t = tokens(m);
        match out.last_mut() {
            Some(pass) if max_tokens > 0 && used + t <= max_tokens => {
                pass.push(m);
                used += t;
            }
            _ => {
                out.push(vec![m]);
                used = t;
            }
        }
    }
    out
}

/// Prompt ++ response per row, right-padded, and where each response token's state is.
fn per_row(samples: &[&TrainSample], resp: usize, device: Device) -> (Layout, Tensor) {
    let seq = samples.iter().map(|s| s.prompt_tokens.len() + s.response_tokens.len()).max().unwrap_or(0);
    let b = samples.len();
    let mut ids = vec![0i64; b * seq];
    let mut state_index = vec![0i64; b * resp];
    for (r, s) in samples.iter().enumerate() {
        let p = s.prompt_tokens.len();
        for (j, &t) in s.prompt_tokens.iter().chain(&s.response_tokens).enumerate() {
            ids[r * seq + j] = i64::from(t);
        }
        for j in 0..s.response_tokens.len() {
            state_index[r * resp + j] = (r * seq + p - 1 + j) as i64;
        }
    }
    let input_ids = Tensor::from_slice(&ids).view([b as i64, seq as i64]).to_device(device);
    (Layout::Rows { input_ids }, Tensor::from_slice(&state_index).to_device(device))
}

/// One row per distinct prompt: the prompt, then each of its rows' responses but the last
/// token; with the positions, the mask and where each response token's state is.
fn shared(
    samples: &[&TrainSample],
    prompts: &[&[u32]],
    prompt_of_row: &[usize],
    resp: usize,
    device: Device,
) -> (Layout, Tensor) {
    // Per packed row: tokens, RoPE positions and a segment id per token (0: the prompt,
    // 1 + r: row r's response, -1: padding).
    let mut packed: Vec<(Vec<i64>, Vec<i64>, Vec<i64>)> = prompts
        .iter()
        .map(|p| (p.iter().map(|&t| i64::from(t)).collect(), (0..p.len() as i64).collect(), vec![0; p.len()]))
        .collect();
    let mut state_index = vec![0i64; samples.len() * resp];
    for (r, s) in samples.iter().enumerate() {
        let g = prompt_of_row[r];
        let (ids, pos, seg) = &mut packed[g];
        let (p, start) = (prompts[g].len(), ids.len());
        let inputs = &s.response_tokens[..s.response_tokens.len().saturating_sub(1)];
        ids.extend(inputs.iter().map(|&t| i64::from(t)));
        pos.extend((0..inputs.len()).map(|j| (p + j) as i64));
        seg.extend(std::iter::repeat_n(1 + r as i64, inputs.len()));
        for j in 0..s.response_tokens.len() {
            // Token 0 is predicted by the prompt's last state, token j by response token j - 1.
            let local = if j == 0 { p - 1 } else { start + j - 1 };
            state_index[r * resp + j] = local as i64;
        }
    }
    let len = packed.iter().map(|(ids, _, _)| ids.len()).max().unwrap_or(0);
    for (r, &g) in prompt_of_row.iter().enumerate() {
        for v in &mut state_index[r * resp..(r + 1) * resp] {
            *v += (g * len) as i64;
        }
    }
    let mut flat = (Vec::new(), Vec::new(), Vec::new());
    for (ids, pos, seg) in &packed {
        let pad = len - ids.len();
        flat.0.extend(ids.iter().copied().chain(std::iter::repeat_n(0, pad)));
        flat.1.extend(pos.iter().copied().chain(std::iter::repeat_n(0, pad)));
        flat.2.extend(seg.iter().copied().chain(std::iter::repeat_n(-1, pad)));
    }
    let shape = [prompts.len() as i64, len as i64];
    let tensor = |v: &[i64]| Tensor::from_slice(v).view(shape).to_device(device);
    let seg = tensor(&flat.2);
    // A query sees the keys at or before it that are its prompt's or its own segment's (a
    // padding query: padding, itself included, so no query is left without a key).
    let order = Tensor::arange(len as i64, (Kind::Int64, device));
    let causal = order.view([1, 1, -1]).le_tensor(&order.view([1, -1, 1]));
    let (query, key) = (seg.unsqueeze(2), seg.unsqueeze(1));
    let visible = key.eq_tensor(&query).logical_or(&key.eq(0).logical_and(&query.ge(0)));
    let attention_mask = causal.logical_and(&visible).unsqueeze(1);
    let layout = Layout::Shared { input_ids: tensor(&flat.0), positions: tensor(&flat.1), attention_mask };
    (layout, Tensor::from_slice(&state_index).to_device(device))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(prompt: &[u32], response: &[u32]) -> TrainSample {
        TrainSample {
            group_id: 0,
            prompt_tokens: prompt.to_vec(),
            response_tokens: response.to_vec(),
            sampler_logprobs: vec![-1.0; response.len()],
            reward: 1.0,
        }
    }

    fn values(t: &Tensor) -> Vec<i64> {
        Vec::try_from(t.reshape([-1])).unwrap()
    }

    #[test]
    fn row_layout_points_each_response_token_at_the_state_before_it() {
        let batch = TrainBatch { step: 0, samples: vec![sample(&[5, 6, 7], &[8, 9]), sample(&[1], &[2, 3, 4])] };
        // Distinct prompts: one row each even when sharing is allowed.
        let mb = MicroBatch::build(&batch, &[0, 1], &[0.5, -0.5], Device::Cpu, true);
        let Layout::Rows { input_ids } = &mb.layout else { panic!("{:?}", mb.layout) };
        assert_eq!(input_ids.size(), [2, 5]);
        assert_eq!(values(&mb.state_index), vec![2, 3, 0, 5, 6, 7]);
        assert_eq!(values(&mb.targets), vec![8, 9, 0, 2, 3, 4]);
        assert_eq!(values(input_ids), vec![5, 6, 7, 8, 9, 1, 2, 3, 4, 0]);
        let rows = mb.split_rows(&mb.grid(&[vec![1.0, 2.0], vec![3.0, 4.0, 5.0]], Device::Cpu), |i| {
            batch.samples[i].response_tokens.len()
        });
        assert_eq!(rows, vec![(0, vec![1.0, 2.0]), (1, vec![3.0, 4.0, 5.0])]);
    }

    #[test]
    fn rows_of_one_prompt_follow_one_copy_of_it_and_see_only_it_and_themselves() {
        let samples = vec![sample(&[5, 6, 7], &[8, 9]), sample(&[1], &[2, 3, 4]), sample(&[5, 6, 7], &[10, 11, 12])];
        let batch = TrainBatch { step: 0, samples };
        let mb = MicroBatch::build(&batch, &[0, 1, 2], &[0.0; 3], Device::Cpu, true);
        let Layout::Shared { input_ids, positions, attention_mask } = &mb.layout else { panic!("{:?}", mb.layout) };
        // Row 0: prompt [5 6 7], row 0's response but its last token [8], row 2's [10 11].
        // Row 1: prompt [1], response [2 3], padding.
        assert_eq!(input_ids.size(), [2, 6]);
        assert_eq!(values(input_ids), vec![5, 6, 7, 8, 10, 11, 1, 2, 3, 0, 0, 0]);
        assert_eq!(values(positions), vec![0, 1, 2, 3, 3, 4, 0, 1, 2, 0, 0, 0]);
        // Token 0 of each response is predicted by its prompt's last state (2, and 6 + 0).
        assert_eq!(values(&mb.state_index), vec![2, 3, 0, 6, 7, 8, 2, 4, 5]);
        assert_eq!(values(&mb.targets), vec![8, 9, 0, 2, 3, 4, 10, 11, 12]);
        let mask: Vec<bool> = Vec::try_from(attention_mask.reshape([-1])).unwrap();
        let row = |g: usize, q: usize| -> String {
            (0..6).map(|k| if mask[g * 36 + q * 6 + k] { '1' } else { '.' }).collect()
        };
        assert_eq!(attention_mask.size(), [2, 1, 6, 6]);
        let first: Vec<String> = (0..6).map(|q| row(0, q)).collect();
        assert_eq!(first, ["1.....", "11....", "111...", "1111..", "111.1.", "111.11"]);
        let second: Vec<String> = (0..6).map(|q| row(1, q)).collect();
        assert_eq!(second, ["1.....", "11....", "111...", "...1..", "...11.", "...111"]);
        // Sharing off: one row each.
        let mb = MicroBatch::build(&batch, &[0, 2], &[0.0; 3], Device::Cpu, false);
        assert!(matches!(mb.layout, Layout::Rows { .. }));
    }

    #[test]
    fn micro_batches_are_combined_into_passes_within_the_token_budget() {
        // Rows of 3 + 2 = 5 tokens; micro-batches of 2 rows (10 tokens) and a last one of 1.
        let batch = TrainBatch { step: 0, samples: (0..5).map(|_| sample(&[1, 2, 3], &[4, 5])).collect() };
        let rows: Vec<usize> = (0..5).collect();
        let micro: Vec<&[usize]> = rows.chunks(2).collect();
        let lens = |p: Vec<Vec<&[usize]>>| -> Vec<Vec<usize>> {
            p.iter().map(|pass| pass.iter().map(|m| m.len()).collect()).collect()
        };
        assert_eq!(lens(passes(&batch, &micro, 0)), vec![vec![2], vec![2], vec![1]]);
        assert_eq!(lens(passes(&batch, &micro, 20)), vec![vec![2, 2], vec![1]]);
        assert_eq!(lens(passes(&batch, &micro, 25)), vec![vec![2, 2, 1]]);
        // Over the budget on its own: still one pass, never split.
        assert_eq!(lens(passes(&batch, &micro, 4)), vec![vec![2], vec![2], vec![1]]);
        assert_eq!(passes(&batch, &micro, 20)[0].concat(), vec![0, 1, 2, 3]);
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
