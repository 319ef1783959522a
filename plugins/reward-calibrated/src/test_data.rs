//! Shared fixtures for the unit tests: the real data next to the repository.

use std::path::PathBuf;

use crate::pair_stats::PairStats;

/// `../shared/data` seen from the repository root.
pub fn shared_data() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(dir.is_dir(), "{} is missing (the shared real data)", dir.display());
    dir
}

/// The reference's table (spec §9).
pub fn shipped_stats() -> PairStats {
    PairStats::from_csv_path(&shared_data().join("lrpo_pair_stats.csv")).unwrap()
}
