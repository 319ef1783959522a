//! The integration tests of lrpo-optim-grpo, one module per former test file. One binary rather
//! than one per file: each test binary links libtorch, which makes the build slow and target/
//! large.

mod common;
mod parity;
mod precision;
mod state;
