//! The grouped batch sampler (spec §2.2): each question's n rollouts are contiguous rows with
//! one group id, questions are shuffled per epoch, and the trailing partial batch is dropped.

use lrpo_core::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Checks `data.train_batch_size` against the group size `n`. The batch size counts rollouts
/// (rows), not prompts as in upstream verl, so it must be a positive multiple of `n`.
pub fn validate_train_batch_size(train_batch_size: usize, n: usize) -> Result<()> {
    const KEY: &str = "data.train_batch_size";
    if n == 0 {
        return Err(Error::config(KEY, "the group size n (rollouts per question) must be at least 1"));
    }
    if train_batch_size == 0 {
        return Err(Error::config(KEY, format!("must be at least n = {n} (it counts rollouts, n per question)")));
    }
    if !train_batch_size.is_multiple_of(n) {
        let below = train_batch_size / n * n;
        let above = below + n;
        let nearest = if below == 0 { format!("{above}") } else { format!("{below} or {above}") };
        return Err(Error::config(
            KEY,
            format!(
                "{train_batch_size} is not a multiple of the group size n = {n}: the batch counts rollouts \
                 (n per question), so set it to a multiple of {n}, e.g. {nearest}"
            ),
        ));
    }
    Ok(())
}

/// Where the sampler is, plus what it was built with; saved in checkpoints so that a resumed
/// run draws the same batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    pub epoch: u64,
    /// Batches already drawn in `epoch`.
    pub position: usize,
    pub seed: u64,
    pub num_questions: usize,
    pub n: usize,
    pub train_batch_size: usize,
}

/// One row of a batch: copy `copy` of question `question`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampledRow {
    /// Index into the question list the sampler was built for.
    pub question: usize,
    pub copy: usize,
    /// Shared by the question's n rows (verl's `uid`).
    pub group_id: u64,
}

/// One training batch of `train_batch_size` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampledBatch {
    pub epoch: u64,
    /// 0-based batch number within the epoch.
    pub step_in_epoch: usize,
    pub rows: Vec<SampledRow>,
}

impl SampledBatch {
    /// The batch's questions in order, one per group (every n-th row).
    pub fn questions(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.rows.iter().filter(|r| r.copy == 0).map(|r| (r.question, r.group_id))
    }
}

/// Group id of a question in an epoch: the epoch in the high 32 bits, the question index in the
/// low 32. It is a pure function of (epoch, question), so it is unique within a run, the same
/// after a resume, and readable in logs.
pub fn group_id(epoch: u64, question: usize) -> u64 {
    (epoch << 32) | (question as u64 & 0xFFFF_FFFF)
}

/// Draws grouped batches over `num_questions` questions, epoch after epoch.
#[derive(Debug, Clone)]
pub struct GroupedSampler {
    state: SamplerState,
    /// The current epoch's question order.
    order: Vec<usize>,
}

impl GroupedSampler {
    /// A sampler at epoch 0, position 0. Fails when `train_batch_size` is not a multiple of `n`
    /// or when there are fewer questions than one batch needs.
    pub fn new(num_questions: usize, n: usize, train_batch_size: usize, seed: u64) -> Result<GroupedSampler> {
        validate_train_batch_size(train_batch_size, n)?;
        let per_batch = train_batch_size / n;
        if u32::try_from(num_questions).is_err() {
            return Err(Error::config("data.train_files", format!("{num_questions} questions is more than 2^32")));
        }
        if num_questions < per_batch {
            return Err(Error::config(
                "data.train_batch_size",
                format!(
                    "one batch needs {per_batch} questions ({train_batch_size} rollouts / n = {n}) but the training \
                     data has only {num_questions}; lower the batch size or add data"
                ),
            ));
        }
        let state = SamplerState { epoch: 0, position: 0, seed, num_questions, n, train_batch_size };
        let order = epoch_order(&state);
        Ok(GroupedSampler { state, order })
    }

    pub fn questions_per_batch(&self) -> usize {
        self.state.train_batch_size / self.state.n
    }

    /// floor(#questions / questions per batch): the partial batch at the end is dropped.
    pub fn steps_per_epoch(&self) -> usize {
        self.state.num_questions / self.questions_per_batch()
    }

    /// The next batch; after the last full batch of an epoch the next epoch starts, reshuffled.
    pub fn next_batch(&mut self) -> SampledBatch {
        if self.state.position >= self.steps_per_epoch() {
            self.state.epoch += 1;
            self.state.position = 0;
            self.order = epoch_order(&self.state);
        }
        let per_batch = self.questions_per_batch();
        let start = self.state.position * per_batch;
        let epoch = self.state.epoch;
        let rows = self.order[start..start + per_batch]
            .iter()
            .flat_map(|&question| {
                let group_id = group_id(epoch, question);
                (0..self.state.n).map(move |copy| SampledRow { question, copy, group_id })
            })
            .collect();
        let batch = SampledBatch { epoch, step_in_epoch: self.state.position, rows };
        self.state.position += 1;
        batch
    }

    /// The cursor to store in a checkpoint.
    pub fn state(&self) -> &SamplerState {
        &self.state
    }

    /// Moves the cursor to a checkpointed state. The state must come from a sampler with the same
    /// data size, group size, batch size and seed, or the resumed batches would differ.
    pub fn restore(&mut self, state: &SamplerState) -> Result<()> {
        let mine = &self.state;
        let mismatch = [
            ("seed", mine.seed as u128, state.seed as u128),
            ("number of questions", mine.num_questions as u128, state.num_questions as u128),
            ("n", mine.n as u128, state.n as u128),
            ("train_batch_size", mine.train_batch_size as u128, state.train_batch_size as u128),
        ]
        .into_iter()
        .find(|(_, now, saved)| now != saved);
        if let Some((what, now, saved)) = mismatch {
            return Err(Error::State(format!(
                "sampler checkpoint was made with {what} = {saved}, this run has {now}; resume with the same data and \
                 batch settings"
            )));
        }
        if state.position > self.steps_per_epoch() {
            return Err(Error::State(format!(
                "sampler checkpoint position {} is past the {} batches of an epoch",
                state.position,
                self.steps_per_epoch()
            )));
        }
        self.state = state.clone();
        self.order = epoch_order(&self.state);
        Ok(())
    }
}

/// The question order of `state.epoch`: a ChaCha8 shuffle seeded with `seed + epoch`, as the
/// reference seeds its generator with `data.seed + epoch`.
fn epoch_order(state: &SamplerState) -> Vec<usize> {
    let mut order: Vec<usize> = (0..state.num_questions).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(state.seed.wrapping_add(state.epoch));
    order.shuffle(&mut rng);
    order
}
