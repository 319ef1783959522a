//! TEMPORARY skeleton while the ABI is written; replaced in the foundation work.
pub use lrpo_core;
pub use schemars;
pub use serde_json;

/// A component a plugin provides: its config type, name and how to build it.
pub trait Component: Sized {
    type Config: serde::de::DeserializeOwned + schemars::JsonSchema;
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    fn new(instance: &str, config: Self::Config) -> lrpo_core::Result<Self>;
}

pub fn thread_budget() -> usize {
    1
}

#[macro_export]
macro_rules! export_plugin {
    ($($t:tt)*) => {};
}
