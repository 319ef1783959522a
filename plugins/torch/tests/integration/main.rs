//! The integration tests of lrpo-torch, one module per former test file. One binary rather than
//! one per file: each test binary links libtorch, which makes the build slow and target/ large.

mod common;
mod device;
mod e5;
mod export;
mod interop;
mod parity_tiny;
mod smollm2;
