//! The integration tests of lrpo-reward-calibrated, one module per former test file. One binary
//! rather than one per file: each test binary links libtorch, which makes the build slow and
//! target/ large.

mod calibrate;
mod common;
mod component;
mod diagonal;
mod similarity;
