//! A decoder's linear weights packed for decoding steps on the CPU ([`crate::gemm`]).

use tch::{Device, Kind, Tensor};

use super::DecoderLm;
use crate::gemm::{self, PackedWeight};

/// Every linear weight of a [`DecoderLm`] and its output projection, packed for MKL's GEMM on
/// few rows (f32 on the CPU only).
///
/// A snapshot: after the model's weights change (a policy update), call
/// [`refresh`](Self::refresh) before the next step, or the steps compute with the old weights.
/// The sampler refreshes at the start of every generation call; packing SmolLM2-135M takes
/// about a tenth of a second, a decoding step of 16-32 rows a fifth.
#[derive(Debug)]
pub struct DecodeWeights {
    /// Per block, in `Block::linears` order.
    blocks: Vec<Vec<PackedWeight>>,
    head: PackedWeight,
    rows: i64,
}

impl DecodeWeights {
    /// Packs `model`'s weights for steps of about `rows` rows; `None` where the packed GEMM
    /// does not apply (not an f32 model on the CPU, or no MKL in this libtorch).
    pub fn new(model: &DecoderLm, rows: i64) -> Option<Self> {
        if model.kind != Kind::Float || model.device != Device::Cpu || !gemm::available() {
            return None;
        }
        let blocks = model
            .blocks
            .iter()
            .map(|blk| blk.linears().iter().map(|l| PackedWeight::new(&l.w, rows)).collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>()?;
        let head = PackedWeight::new(model.output_weight(), rows)?;
        Some(DecodeWeights { blocks, head, rows })
    }

    /// Packs `model`'s current weights into the same buffers. `None` when `model` is not the
    /// one these were packed from (another shape); then build anew with [`new`](Self::new).
    pub fn refresh(&mut self, model: &DecoderLm) -> Option<()> {
        if model.blocks.len() != self.blocks.len() {
            return None;
        }
        for (blk, packed) in model.blocks.iter().zip(self.blocks.iter_mut()) {
            for (l, p) in blk.linears().iter().zip(packed.iter_mut()) {
                p.repack(&l.w, self.rows)?;
            }
        }
        self.head.repack(model.output_weight(), self.rows)
    }

    pub(super) fn block(&self, i: usize) -> &[PackedWeight] {
        &self.blocks[i]
    }

    pub(super) fn head(&self) -> &PackedWeight {
        &self.head
    }
}

/// Whether a product of `x` with the weight `w` may take the packed path: f32 CPU inputs of at
/// most [`gemm::MAX_ROWS`] rows, with no gradient to track.
pub(super) fn applies(x: &Tensor, w: &Tensor) -> bool {
    let width = x.size().last().copied().unwrap_or(0).max(1);
    x.kind() == Kind::Float
        && x.device() == Device::Cpu
        && !x.requires_grad()
        && !w.requires_grad()
        && x.numel() as i64 / width <= gemm::MAX_ROWS
}
