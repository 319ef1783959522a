//! Stratified train/test split (spec §1.2: 90/10 by language, shuffled, seed 42).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Splits item indices into (train, test) so that every label keeps its share of the test set.
///
/// Like the reference (HF `train_test_split(stratify_by_column=..)`, i.e. scikit-learn's
/// `StratifiedShuffleSplit`) the test set has `ceil(test_fraction * n)` items, shared between
/// labels in proportion to their counts with the leftover seats going to the largest remainders.
/// The permutation itself is ChaCha8 from `seed`, so it is stable across platforms but not
/// bit-identical to numpy's.
pub fn stratified_split<L: Ord + Clone>(labels: &[L], test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n = labels.len();
    let mut by_label: BTreeMap<L, Vec<usize>> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        by_label.entry(label.clone()).or_default().push(i);
    }
    let fraction = test_fraction.clamp(0.0, 1.0);
    let n_test = ((fraction * n as f64).ceil() as usize).min(n);

    // Largest-remainder apportionment of n_test seats over the labels.
    let mut seats: Vec<usize> = Vec::with_capacity(by_label.len());
    let mut remainders: Vec<(f64, usize)> = Vec::with_capacity(by_label.len());
    for (slot, members) in by_label.values().enumerate() {
        let exact = n_test as f64 * members.len() as f64 / n.max(1) as f64;
        seats.push(exact.floor() as usize);
        remainders.push((exact - exact.floor(), slot));
    }
    let leftover = n_test - seats.iter().sum::<usize>();
    // Stable sort: among equal remainders the label that sorts first gets the seat.
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0));
    for &(_, slot) in remainders.iter().take(leftover) {
        seats[slot] += 1;
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::with_capacity(n - n_test), Vec::with_capacity(n_test));
    for (members, k) in by_label.into_values().zip(seats) {
        let mut members = members;
        members.shuffle(&mut rng);
        let k = k.min(members.len());
        test.extend_from_slice(&members[..k]);
        train.extend_from_slice(&members[k..]);
    }
    train.shuffle(&mut rng);
    test.shuffle(&mut rng);
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_keeps_its_share() {
        let labels: Vec<&str> = [vec!["en"; 50], vec!["zh"; 30], vec!["ja"; 20]].concat();
        let (train, test) = stratified_split(&labels, 0.1, 42);
        assert_eq!(test.len(), 10);
        assert_eq!(train.len(), 90);
        let count = |l: &str| test.iter().filter(|&&i| labels[i] == l).count();
        assert_eq!((count("en"), count("zh"), count("ja")), (5, 3, 2));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let labels: Vec<u8> = (0..200).map(|i| (i % 3) as u8).collect();
        assert_eq!(stratified_split(&labels, 0.1, 42), stratified_split(&labels, 0.1, 42));
        assert_ne!(stratified_split(&labels, 0.1, 42).1, stratified_split(&labels, 0.1, 7).1);
    }

    #[test]
    fn leftover_seats_go_to_the_largest_remainders() {
        // 7 items, ceil(0.7) = 1 test seat: a (4/7 = 0.57) beats b (3/7 = 0.43).
        let labels = ["a", "a", "a", "a", "b", "b", "b"];
        let (_, test) = stratified_split(&labels, 0.1, 1);
        assert_eq!(test.len(), 1);
        assert_eq!(labels[test[0]], "a");
    }
}
