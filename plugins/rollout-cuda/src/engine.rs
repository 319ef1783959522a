//! Batched generation: identical prompts are prefilled once and their KV cache is shared by
//! every sample of the group; finished sequences leave the batch at once.

use std::collections::HashMap;

use lrpo_core::{Error, FinishReason, GenerationRequest, GenerationResult, Result};
use lrpo_torch::{DecodeWeights, DecoderLm, KvCache, TextTokenizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::sampling::{self, RowParams};
use crate::stop::{StopRule, Verdict};

fn torch(context: &'static str) -> impl Fn(tch::TchError) -> Error {
    move |e| Error::runtime(format!("sampler: {context}: {e}"))
}

/// Positions the KV cache grows by at a time while decoding (each growth copies it once).
const RESERVE_STEP: i64 = 128;

/// One sequence being generated.
struct Row {
    request: usize,
    /// Which prompt of the chunk.
    slot: usize,
    rule: StopRule,
    rng: ChaCha8Rng,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
}

/// A set of requests generated together: their distinct prompts and, per row, which prompt.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub prompts: Vec<Vec<u32>>,
    /// `(prompt slot, request index)` per row.
    pub rows: Vec<(usize, usize)>,
}

/// Packs requests into chunks of at most `max_rows` rows, keeping each group of identical
/// prompts together as far as the limit allows (a larger group is split across chunks).
pub(crate) fn plan_chunks(prompt_ids: &[Vec<u32>], wanted: &[usize], max_rows: usize) -> Vec<Chunk> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut slot_of: HashMap<&[u32], usize> = HashMap::new();
    for &r in wanted {
        let slot = *slot_of.entry(prompt_ids[r].as_slice()).or_insert_with(|| {
            groups.push((r, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(r);
    }
    let mut chunks = vec![Chunk::default()];
    for (first, members) in groups {
        for piece in members.chunks(max_rows.max(1)) {
            if chunks.last().is_some_and(|c| c.rows.len() + piece.len() > max_rows) {
                chunks.push(Chunk::default());
            }
            let chunk = chunks.last_mut().expect("one chunk at least");
            chunk.prompts.push(prompt_ids[first].clone());
            let slot = chunk.prompts.len() - 1;
            chunk.rows.extend(piece.iter().map(|&r| (slot, r)));
        }
    }
    chunks.retain(|c| !c.rows.is_empty());
    chunks
}

/// The model, its tokenizer (left padding) and the generation loop.
pub struct Generator {
    pub model: DecoderLm,
    pub tokenizer: TextTokenizer,
    pub max_batch_size: usize,
    /// The fused CUDA kernel, used instead of the libtorch ops when the model is on a GPU.
    pub fused: Option<crate::cuda::FusedSampler>,
    /// Decode f32 models on the CPU through weights packed for MKL's GEMM (`packed`); unset:
    /// where MKL is this process's f32 GEMM library ([`lrpo_torch::gemm::f32_gemm`]).
    pub pack_weights: Option<bool>,
    /// The model's weights packed for decoding steps (f32 on the CPU), packed again from the
    /// current weights at the start of every [`generate`](Self::generate) call, so a policy
    /// update is always seen; the buffers are kept between calls.
    packed: Option<DecodeWeights>,
}

impl Generator {
    pub fn new(
        model: DecoderLm,
        tokenizer: TextTokenizer,
        max_batch_size: usize,
        fused: Option<crate::cuda::FusedSampler>,
    ) -> Self {
        Generator { model, tokenizer, max_batch_size, fused, pack_weights: None, packed: None }
    }

    /// Logits `[B, V]` (f32) of the last position, without projecting the other positions.
    fn last_logits(&self, hidden: &Tensor) -> Tensor {
        self.model.project(&hidden.select(1, -1), self.packed.as_ref()).to_kind(Kind::Float)
    }

    /// Packs the current weights for decoding (see `packed`), into the old buffers when the
    /// model still fits them.
    fn pack(&mut self, rows: usize) {
        let mkl = lrpo_torch::gemm::f32_gemm() == lrpo_torch::gemm::F32Gemm::Mkl;
        if !self.pack_weights.unwrap_or(mkl) {
            self.packed = None;
            return;
        }
        let rows = rows as i64;
        if self.packed.as_mut().and_then(|p| p.refresh(&self.model)).is_none() {
            self.packed = DecodeWeights::new(&self.model, rows);
        }
    }

    pub fn generate(&mut self, requests: &[GenerationRequest]) -> Result<Vec<GenerationResult>> {
        let _no_grad = tch::no_grad_guard();
        let mut prompt_ids = Vec::with_capacity(requests.len());
        let mut encoded: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, r) in requests.iter().enumerate() {
            let what = format!("request {i}");
            sampling::check_params(&what, &r.sampling)?;
            let ids = match encoded.get(r.prompt.as_str()) {
                Some(ids) => ids.clone(),
                // The prompt is already chat-templated, so the template's own BOS is not doubled.
                None => self.tokenizer.encode(&r.prompt, false)?,
            };
            if ids.is_empty() {
                return Err(Error::input(format!("{what} prompt"), "the prompt encodes to no tokens"));
            }
            let limit = self.model.config.max_position_embeddings;
            if ids.len() + r.max_new_tokens as usize > limit {
                return Err(Error::input(
                    what.clone(),
                    format!(
                        "{} prompt tokens + max_new_tokens {} exceed the model's {limit} positions",
                        ids.len(),
                        r.max_new_tokens
                    ),
                ));
            }
            encoded.entry(r.prompt.as_str()).or_insert_with(|| ids.clone());
            prompt_ids.push(ids);
        }
        let mut results: Vec<Option<GenerationResult>> = vec![None; requests.len()];
        let mut wanted = Vec::new();
        for (i, r) in requests.iter().enumerate() {
            if r.max_new_tokens == 0 {
                results[i] = Some(GenerationResult {
                    prompt_tokens: prompt_ids[i].clone(),
                    response_tokens: vec![],
                    logprobs: vec![],
                    text: String::new(),
                    finish: FinishReason::Length,
                });
            } else {
                wanted.push(i);
            }
        }
        if !wanted.is_empty() {
            self.pack(wanted.len().min(self.max_batch_size));
        }
        for chunk in plan_chunks(&prompt_ids, &wanted, self.max_batch_size) {
            self.run_chunk(requests, &chunk, &mut results)?;
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.ok_or_else(|| Error::runtime(format!("sampler: request {i} produced no result"))))
            .collect()
    }

    fn run_chunk(
        &self,
        requests: &[GenerationRequest],
        chunk: &Chunk,
        results: &mut [Option<GenerationResult>],
    ) -> Result<()> {
        let batch = self.tokenizer.pad_batch(&chunk.prompts)?;
        let mut cache = KvCache::new();
        let hidden = self.model.forward_hidden(&batch.input_ids, Some(&batch.attention_mask), Some(&mut cache))?;
        // Each prompt was prefilled once; its cache rows are now copied out to its samples.
        let slots: Vec<i64> = chunk.rows.iter().map(|&(s, _)| s as i64).collect();
        let slots = Tensor::from_slice(&slots).to_device(self.model.device());
        cache.select_rows(&slots);
        // Room for the next tokens, so that decoding writes them in place; in steps of at most
        // RESERVE_STEP positions, so that a long max_new_tokens does not hold memory for rows
        // that stop early.
        let longest = chunk.rows.iter().map(|&(_, r)| requests[r].max_new_tokens as i64).max().unwrap_or(0);
        cache.reserve(longest.min(RESERVE_STEP));
        let mut logits = self.last_logits(&hidden).index_select(0, &slots);
        let mut rows: Vec<Row> = chunk
            .rows
            .iter()
            .map(|&(slot, r)| {
                let req = &requests[r];
                let mut stop_ids = self.tokenizer.stop_ids.clone();
                stop_ids.extend(&req.stop_token_ids);
                Row {
                    request: r,
                    slot,
                    rule: StopRule {
                        stop_ids,
                        stop_strings: req.stop_strings.clone(),
                        max_new_tokens: req.max_new_tokens as usize,
                    },
                    rng: ChaCha8Rng::seed_from_u64(req.seed),
                    tokens: Vec::new(),
                    logprobs: Vec::new(),
                }
            })
            .collect();
        loop {
            let mut params = RowParams::default();
            let mut uniforms = Vec::with_capacity(rows.len());
            for row in rows.iter_mut() {
                params.push(&requests[row.request].sampling);
                uniforms.push(row.rng.gen::<f32>());
            }
            let (tokens, logprobs) = match &self.fused {
                Some(fused) => {
                    let tokens = fused.pick(&logits, &params, &uniforms)?;
                    let logprobs = sampling::sampler_logprobs(&logits, &params, &tokens);
                    (tokens, logprobs)
                }
                None => sampling::sample(&logits, &params, &uniforms)?,
            };
            let tokens: Vec<i64> =
                Vec::<i64>::try_from(&tokens.to_device(tch::Device::Cpu)).map_err(torch("reading tokens"))?;
            let logprobs: Vec<f32> =
                Vec::<f32>::try_from(&logprobs.to_device(tch::Device::Cpu)).map_err(torch("reading log-probs"))?;
            let mut keep = Vec::with_capacity(rows.len());
            let mut next = Vec::with_capacity(rows.len());
            let mut still = Vec::with_capacity(rows.len());
            for (i, mut row) in rows.into_iter().enumerate() {
                row.tokens.push(tokens[i] as u32);
                row.logprobs.push(logprobs[i]);
                let verdict = row.rule.judge(&row.tokens, |t| self.tokenizer.decode(t, true))?;
                let (finish, text) = match verdict {
                    Verdict::Running => {
                        keep.push(i as i64);
                        next.push(tokens[i]);
                        still.push(row);
                        continue;
                    }
                    Verdict::Done(finish) => (finish, self.tokenizer.decode(&row.tokens, true)?),
                    Verdict::StopString { text } => (FinishReason::Stop, text),
                };
                results[row.request] = Some(GenerationResult {
                    prompt_tokens: chunk.prompts[row.slot].clone(),
                    response_tokens: row.tokens,
                    logprobs: row.logprobs,
                    text,
                    finish,
                });
            }
            rows = still;
            if rows.is_empty() {
                return Ok(());
            }
            if keep.len() < tokens.len() {
                cache.select_rows(&Tensor::from_slice(&keep).to_device(self.model.device()));
            }
            if cache.capacity() == cache.len() {
                cache.reserve(RESERVE_STEP);
            }
            let input = Tensor::from_slice(&next).view([-1, 1]);
            let hidden = self.model.forward_hidden_with(&input, None, Some(&mut cache), self.packed.as_ref())?;
            logits = self.last_logits(&hidden);
        }
    }
}
