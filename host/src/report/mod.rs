//! Reports over finished (or running) run directories.

pub mod ab;
mod ab_plots;
mod run;
mod stats;
mod svg;

pub use ab::{ab_report, AbReport, ArmSummary};
pub use ab_plots::write_ab_plots;
pub use run::write_report;
pub use stats::{bootstrap_mean_ci, paired_bootstrap_diff, Interval};
