//! The lrpo host runtime as a library; the `lrpo-host` binary is a thin shell over it.
//! The host never links a plugin crate: it meets plugins only through `lrpo-sdk`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod dist;
pub mod eval;
pub mod export;
pub mod plugin;
pub mod prompt;
pub mod report;
pub mod train;
