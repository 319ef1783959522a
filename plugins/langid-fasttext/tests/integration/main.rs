//! The integration tests of lrpo-langid-fasttext, one module per former test file. One binary
//! rather than one per file: each links the whole crate and lrpo-sdk again, so fewer binaries
//! mean a faster build and a smaller target/ (the tch crates' tests share this layout).

mod common;
mod component;
mod model_errors;
mod normalisation_parity;
mod reference_parity;
mod synthetic_models;
