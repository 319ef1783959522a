//! Per-token log-probs of a micro-batch's response tokens under a model, through either layout
//! of [`MicroBatch`].

use lrpo_core::{Error, Result};
use lrpo_torch::{Checkpoint, DecoderLm};
use tch::{Kind, Tensor};

use crate::batch::{Layout, MicroBatch};

/// Per-token log-probs of a micro-batch's response tokens `[b, R]`, the logits `[b·R, V]` they
/// came from, and, when `checkpointed`, what the backward pass must finish through the blocks.
///
/// Gradient checkpointing needs [`Layout::Rows`] (its recomputation runs one row per response).
pub fn score(
    model: &DecoderLm,
    mb: &MicroBatch,
    temperature: f64,
    checkpointed: bool,
) -> Result<(Tensor, Tensor, Option<Checkpoint>)> {
    let (hidden, checkpoint) = match (&mb.layout, checkpointed) {
        (Layout::Rows { input_ids }, true) => {
            let (hidden, checkpoint) = model.forward_hidden_checkpointed(input_ids, None)?;
            (hidden, Some(checkpoint))
        }
        (Layout::Rows { input_ids }, false) => (model.forward_hidden(input_ids, None, None)?, None),
        (Layout::Shared { .. }, true) => {
            return Err(Error::runtime("gradient checkpointing needs micro-batches of one row per response"));
        }
        (Layout::Shared { input_ids, positions, attention_mask }, false) => {
            (model.forward_hidden_packed(input_ids, positions, attention_mask)?, None)
        }
    };
    let states = hidden.reshape([-1, model.config.hidden_size]).index_select(0, &mb.state_index);
    let mut logits = lrpo_torch::gemm::linear(&states, &output_weight(model)?, None).to_kind(Kind::Float);
    if temperature != 1.0 {
        logits /= temperature;
    }
    let picked = logits.gather(1, &mb.targets.unsqueeze(1), false).squeeze_dim(1);
    let logp = picked - logits.logsumexp([-1i64].as_slice(), false);
    Ok((logp.view([mb.rows.len() as i64, mb.response_len as i64]), logits, checkpoint))
}

/// The vocabulary projection; lrpo-torch keeps it private, so find it by its HF name.
fn output_weight(model: &DecoderLm) -> Result<Tensor> {
    let name = if model.config.tie_word_embeddings { "model.embed_tokens.weight" } else { "lm_head.weight" };
    model
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::runtime(format!("decoder has no `{name}` parameter")))
}
