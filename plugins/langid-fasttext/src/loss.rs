//! Output layers: how the hidden vector becomes the k best labels (`Loss::predict` and
//! `HierarchicalSoftmaxLoss::predict` of the C++), with the C++'s float roundings.

use crate::args::LossKind;
use crate::matrix::OutputMatrix;

const SIGMOID_TABLE_SIZE: usize = 512;
const MAX_SIGMOID: f32 = 8.0;

/// `std_log` of the C++: the argument is a `real` (f32), the log is taken in double.
#[inline]
fn std_log(x: f32) -> f32 {
    (x as f64 + 1e-5).ln() as f32
}

/// The exact sigmoid the hierarchical-softmax search uses: `1. / (1 + std::exp(-f))`, where the
/// exponential is the float overload and the division is done in double.
#[inline]
fn hs_sigmoid(f: f32) -> f32 {
    (1.0f64 / (1.0f32 + (-f).exp()) as f64) as f32
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeNode {
    left: i32,
    right: i32,
    count: i64,
}

/// A scored candidate: log-probability and label id.
pub(crate) type Scored = (f32, usize);

/// The k best candidates seen so far, with the C++ heap's admission rule: a candidate below
/// the current k-th best is dropped, an equal one displaces the older.
struct TopK {
    k: usize,
    items: Vec<Scored>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK { k, items: Vec::with_capacity(k + 1) }
    }

    #[inline]
    fn worst(&self) -> f32 {
        self.items.iter().map(|s| s.0).fold(f32::INFINITY, f32::min)
    }

    #[inline]
    fn rejects(&self, score: f32) -> bool {
        self.items.len() == self.k && score < self.worst()
    }

    fn push(&mut self, item: Scored) {
        self.items.push(item);
        if self.items.len() > self.k {
            let worst = self.worst();
            let at = self.items.iter().position(|s| s.0 == worst).unwrap_or(0);
            self.items.remove(at);
        }
    }

    fn into_sorted(mut self) -> Vec<Scored> {
        self.items.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.items
    }
}

pub(crate) enum OutputLayer {
    /// Rows of the output matrix are the inner nodes of a Huffman tree over label counts.
    HierarchicalSoftmax {
        tree: Vec<TreeNode>,
        labels: usize,
    },
    Softmax,
    /// Independent sigmoids per label (negative sampling and one-vs-all).
    BinaryLogistic {
        sigmoid_table: Vec<f32>,
    },
}

impl OutputLayer {
    pub(crate) fn new(loss: LossKind, label_counts: &[i64]) -> Self {
        match loss {
            LossKind::HierarchicalSoftmax => {
                OutputLayer::HierarchicalSoftmax { tree: huffman_tree(label_counts), labels: label_counts.len() }
            }
            LossKind::Softmax => OutputLayer::Softmax,
            LossKind::NegativeSampling | LossKind::OneVsAll => {
                let table = (0..=SIGMOID_TABLE_SIZE)
                    .map(|i| {
                        let x = (i as f32 * 2.0 * MAX_SIGMOID) / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID;
                        (1.0f64 / (1.0f64 + (-x).exp() as f64)) as f32
                    })
                    .collect();
                OutputLayer::BinaryLogistic { sigmoid_table: table }
            }
        }
    }

    /// The k best labels with log-probabilities, best first; none below `threshold`.
    pub(crate) fn predict(
        &self,
        wo: &OutputMatrix,
        hidden: &[f32],
        k: usize,
        threshold: f32,
        scratch: &mut Vec<f32>,
    ) -> Vec<Scored> {
        let mut best = TopK::new(k);
        if k == 0 {
            return Vec::new();
        }
        match self {
            OutputLayer::HierarchicalSoftmax { tree, labels } => {
                tree_search(tree, *labels, wo, hidden, threshold, &mut best)
            }
            OutputLayer::Softmax => {
                let (rows, _) = wo.shape();
                scratch.clear();
                scratch.extend((0..rows).map(|i| wo.dot_row(hidden, i)));
                let max = scratch.iter().copied().fold(scratch[0], f32::max);
                let mut z = 0.0f32;
                for v in scratch.iter_mut() {
                    *v = ((*v - max) as f64).exp() as f32;
                    z += *v;
                }
                scratch.iter_mut().for_each(|v| *v /= z);
                k_best(scratch, threshold, &mut best);
            }
            OutputLayer::BinaryLogistic { sigmoid_table } => {
                let (rows, _) = wo.shape();
                scratch.clear();
                scratch.extend((0..rows).map(|i| table_sigmoid(sigmoid_table, wo.dot_row(hidden, i))));
                k_best(scratch, threshold, &mut best);
            }
        }
        best.into_sorted()
    }
}

fn table_sigmoid(table: &[f32], x: f32) -> f32 {
    if x < -MAX_SIGMOID {
        0.0
    } else if x > MAX_SIGMOID {
        1.0
    } else {
        let i = ((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID / 2.0) as usize;
        table[i.min(SIGMOID_TABLE_SIZE)]
    }
}

/// `Loss::findKBest`.
fn k_best(probs: &[f32], threshold: f32, best: &mut TopK) {
    for (i, &p) in probs.iter().enumerate() {
        if p < threshold || best.rejects(std_log(p)) {
            continue;
        }
        best.push((std_log(p), i));
    }
}

/// `HierarchicalSoftmaxLoss::buildTree`: labels are sorted by decreasing count, so leaves
/// are consumed from the last label upwards, merged with the inner nodes in creation order.
fn huffman_tree(counts: &[i64]) -> Vec<TreeNode> {
    let osz = counts.len();
    let mut tree = vec![TreeNode { left: -1, right: -1, count: 1_000_000_000_000_000 }; 2 * osz - 1];
    for (node, &c) in tree.iter_mut().zip(counts) {
        node.count = c;
    }
    let mut leaf = osz as i64 - 1;
    let mut node = osz;
    for i in osz..2 * osz - 1 {
        let mut pick = [0usize; 2];
        for slot in &mut pick {
            if leaf >= 0 && tree[leaf as usize].count < tree[node].count {
                *slot = leaf as usize;
                leaf -= 1;
            } else {
                *slot = node;
                node += 1;
            }
        }
        tree[i].left = pick[0] as i32;
        tree[i].right = pick[1] as i32;
        tree[i].count = tree[pick[0]].count.wrapping_add(tree[pick[1]].count);
    }
    tree
}

/// Depth-first search from the root, left before right, pruning by the threshold and by the
/// current k-th best. An explicit stack keeps a deep (skewed) tree from overflowing the
/// thread's stack; the visiting order, and so the pruning, is the recursive one.
fn tree_search(tree: &[TreeNode], osz: usize, wo: &OutputMatrix, hidden: &[f32], threshold: f32, best: &mut TopK) {
    let floor = std_log(threshold);
    let mut stack: Vec<(usize, f32)> = vec![(2 * osz - 2, 0.0)];
    while let Some((node, score)) = stack.pop() {
        if score < floor || best.rejects(score) {
            continue;
        }
        let TreeNode { left, right, .. } = tree[node];
        if left == -1 && right == -1 {
            best.push((score, node));
            continue;
        }
        let f = hs_sigmoid(wo.dot_row(hidden, node - osz));
        stack.push((right as usize, score + std_log(f)));
        stack.push((left as usize, score + std_log((1.0f64 - f as f64) as f32)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_tree_merges_smallest_first() {
        // counts sorted decreasing, as in a fastText dictionary
        let tree = huffman_tree(&[5, 3, 2, 1]);
        assert_eq!(tree.len(), 7);
        // first inner node joins the two rarest labels (3: count 1, 2: count 2)
        assert_eq!((tree[4].left, tree[4].right, tree[4].count), (3, 2, 3));
        assert_eq!((tree[5].left, tree[5].right, tree[5].count), (4, 1, 6));
        assert_eq!((tree[6].left, tree[6].right, tree[6].count), (0, 5, 11));
    }

    #[test]
    fn single_label_tree_is_a_leaf() {
        let tree = huffman_tree(&[9]);
        assert_eq!(tree.len(), 1);
        assert_eq!((tree[0].left, tree[0].right), (-1, -1));
    }

    #[test]
    fn top_k_keeps_the_best_and_prefers_the_newer_on_ties() {
        let mut best = TopK::new(2);
        for item in [(-3.0, 0), (-1.0, 1), (-2.0, 2), (-2.0, 3), (-5.0, 4)] {
            if !best.rejects(item.0) {
                best.push(item);
            }
        }
        assert_eq!(best.into_sorted(), vec![(-1.0, 1), (-2.0, 3)]);
    }

    #[test]
    fn sigmoid_table_matches_the_formula_at_its_knots() {
        let OutputLayer::BinaryLogistic { sigmoid_table } = OutputLayer::new(LossKind::OneVsAll, &[1]) else {
            unreachable!()
        };
        assert_eq!(sigmoid_table.len(), 513);
        assert!((table_sigmoid(&sigmoid_table, 0.0) - 0.5).abs() < 1e-6);
        assert_eq!(table_sigmoid(&sigmoid_table, 9.0), 1.0);
        assert_eq!(table_sigmoid(&sigmoid_table, -9.0), 0.0);
    }
}
