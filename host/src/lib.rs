//! The lrpo host runtime as a library; the `lrpo-host` binary is a thin shell over it.

pub mod data;
pub mod prompt;
