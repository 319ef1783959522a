//! The integration tests of lrpo-reward-rule, one binary (as every plugin crate has): the four
//! modes on GSM8K- and MATH-style texts written for these tests, and the built `.so` loaded
//! through the SDK's host half as `lrpo-host` loads it.

mod modes;
mod plugin;
