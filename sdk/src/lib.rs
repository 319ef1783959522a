//! The lrpo plugin ABI.
//!
//! A plugin crate (`crate-type = ["cdylib", "rlib"]`) implements an `lrpo_core` trait, says how
//! to build it with [`Component`], and exports everything with one macro:
//!
//! ```no_run
//! use lrpo_sdk::prelude::*;
//!
//! /// Answers every question in its own language.
//! pub struct Monolingual;
//!
//! #[derive(serde::Deserialize, lrpo_sdk::schemars::JsonSchema, Default)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct Config {}
//!
//! impl Router for Monolingual {
//!     fn languages(&self) -> Vec<Lang> { lrpo_sdk::lrpo_core::default_languages() }
//!     fn route(&mut self, r: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
//!         Ok(r.groups.iter().map(|g| vec![g.orig_lang.clone(); r.n]).collect())
//!     }
//!     fn update(&mut self, _: u64, _: &[RouteFeedback]) -> Result<RouterUpdate> { Ok(RouterUpdate::default()) }
//!     fn save_state(&self) -> Result<Vec<u8>> { Ok(vec![]) }
//!     fn load_state(&mut self, _: &[u8]) -> Result<()> { Ok(()) }
//! }
//!
//! impl Component for Monolingual {
//!     type Config = Config;
//!     const NAME: &'static str = "monolingual";
//!     const DESCRIPTION: &'static str = "every copy keeps the question's language";
//!     fn new(_instance: &str, _config: Config) -> Result<Self> { Ok(Monolingual) }
//! }
//!
//! lrpo_sdk::export_plugin! { Router => Monolingual }
//! ```
//!
//! Layers: `lrpo-core` holds the plain traits; this crate holds both halves of the boundary:
//! their FFI twins (`FfiRouter`, ...), the guest adapters that wrap a core impl inside the
//! plugin (`GuestRouter`, ...), and in [`host`] everything a host needs to open a plugin
//! library and build components from it, returned as [`AnyComponent`]. It is the only crate
//! that names `abi_stable`.
//!
//! A new component kind is a `ComponentKind` variant, an `AnyComponent` variant, its FFI trait
//! with guest and host adapters, and a factory field appended to the root module; every other
//! place that must handle it is an exhaustive `match` the compiler points at.

// abi_stable's derive and sabi_trait expansions trip these two lints; the types they
// flag are abi_stable's own FFI-safe wrappers.
#![allow(non_local_definitions, improper_ctypes_definitions)]

#[cfg(feature = "chat")]
pub mod chat;
pub mod collective;
mod component;
mod error;
mod guard;
#[cfg(feature = "hf")]
pub mod hf;
pub mod host;
pub mod language_id;
pub mod log;
mod module;
pub mod optimizer;
pub mod reward_model;
pub mod rollout_engine;
pub mod router;
pub mod schema;
pub mod types;
pub mod weights;

pub use component::AnyComponent;
pub use error::FfiError;
pub use module::{
    parse_config, root_module, schema_json, thread_budget, FfiComponentInfo, FfiManifest, HostContext, PluginMod,
    PluginModRef, Registration, ABI_MAJOR, ABI_MINOR,
};

pub use abi_stable;
pub use inventory;
pub use lrpo_core;
pub use schemars;
pub use serde;
pub use serde_json;

/// Name of the symbol every plugin exports with its ABI version (`major << 16 | minor`).
pub const ABI_SYMBOL: &str = "lrpo_plugin_abi_version";

/// Everything a plugin author usually needs.
pub mod prelude {
    pub use crate::{export_plugin, thread_budget, Component};
    pub use lrpo_core::*;
}

/// A component a plugin provides: its config type, its name in configs, and its constructor.
pub trait Component: Sized + 'static {
    /// The component's config table. Use `#[serde(default, deny_unknown_fields)]` so an empty
    /// table works and a typo is an error that names the field.
    type Config: serde::de::DeserializeOwned + schemars::JsonSchema;
    const NAME: &'static str;
    /// One line for `lrpo-host plugins list`.
    const DESCRIPTION: &'static str;
    fn new(instance: &str, config: Self::Config) -> lrpo_core::Result<Self>;
}

/// Registers a plugin's components and exports its root module.
///
/// ```ignore
/// lrpo_sdk::export_plugin! {
///     Router => LrpoBandit,
///     Router => UniformRouter,
/// }
/// // tch plugins name the libtorch they were built against:
/// lrpo_sdk::export_plugin! { libtorch = lrpo_torch::LIBTORCH_VERSION; Optimizer => Grpo }
/// ```
#[macro_export]
macro_rules! export_plugin {
    (libtorch = $lt:expr; $($kind:ident => $ty:ty),* $(,)?) => {
        $crate::export_plugin!(@impl ($crate::ABI_MAJOR, $crate::ABI_MINOR), Some($lt), [$($kind => $ty),*]);
    };
    // Only for test fixtures that pose as a plugin built against another ABI.
    (@abi_version = ($maj:expr, $min:expr); $($kind:ident => $ty:ty),* $(,)?) => {
        $crate::export_plugin!(@impl ($maj, $min), None, [$($kind => $ty),*]);
    };
    (@impl ($maj:expr, $min:expr), $lt:expr, [$($kind:ident => $ty:ty),*]) => {
        $(
            $crate::inventory::submit! {
                $crate::Registration {
                    kind: $crate::lrpo_core::ComponentKind::$kind,
                    name: <$ty as $crate::Component>::NAME,
                    description: <$ty as $crate::Component>::DESCRIPTION,
                    schema: $crate::schema_json::<$ty>,
                    factory: {
                        fn factory(instance: &str, config: &str) -> $crate::lrpo_core::Result<$crate::AnyComponent> {
                            let kind = $crate::lrpo_core::ComponentKind::$kind;
                            let config = $crate::parse_config::<$ty>(kind, instance, config)?;
                            let component: Box<dyn $crate::lrpo_core::$kind> =
                                Box::new(<$ty as $crate::Component>::new(instance, config)?);
                            Ok(component.into())
                        }
                        factory
                    },
                }
            }
        )*

        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn lrpo_plugin_abi_version() -> u32 {
            (($maj as u32) << 16) | ($min as u32)
        }

        #[doc(hidden)]
        pub fn __lrpo_root_module() -> $crate::PluginModRef {
            $crate::root_module(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), $lt)
        }

        // What abi_stable's `#[export_root_module]` generates, written out so that a plugin
        // needs no direct dependency on abi_stable. The symbol name is checked by a test.
        #[doc(hidden)]
        #[no_mangle]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi_stable::library::LibHeader = {
            extern "C" fn erased() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(__lrpo_root_module)
            }
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginModRef>(
                    erased,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
    ($($kind:ident => $ty:ty),* $(,)?) => {
        $crate::export_plugin!(@impl ($crate::ABI_MAJOR, $crate::ABI_MINOR), None, [$($kind => $ty),*]);
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        let src = include_str!("lib.rs");
        let name = abi_stable::library::ROOT_MODULE_LOADER_NAME;
        assert!(src.contains(&format!("pub static {name}:")), "export_plugin! must export `{name}`");
    }
}
