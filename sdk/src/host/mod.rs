//! The host half of the boundary: open a plugin library, check that it speaks this ABI, hand
//! it the log bridge and the thread budget, read its manifest, and build components from it.
//!
//! ```no_run
//! use lrpo_core::{ComponentKind, Router};
//! use lrpo_sdk::host::PluginLibrary;
//!
//! let lib = PluginLibrary::open("plugins/liblrpo_router_bandit.so".as_ref(), 2)?;
//! println!("{}", lib.manifest);
//! let any = lib.instantiate(ComponentKind::Router, "lrpo-bandit", "lrpo", "{}")?;
//! let router: Box<dyn Router> = any.try_into()?;
//! # Ok::<(), lrpo_core::Error>(())
//! ```
//!
//! What stays with the host is policy: where libraries are searched, which file names may be
//! opened, a pre-check of the file before the dynamic loader maps it, and which libtorch a
//! process may hold.

mod library;
mod log_bridge;
mod manifest;

pub use library::{set_world, HostWorld, PluginLibrary};
pub use log_bridge::filter_directives;
pub use manifest::{ComponentInfo, Manifest};
