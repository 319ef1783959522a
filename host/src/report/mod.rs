//! Reports over finished (or running) run directories.

pub mod ab;
mod stats;

pub use ab::{ab_report, AbReport, ArmSummary};
pub use stats::{bootstrap_mean_ci, paired_bootstrap_diff, Interval};
