//! The root module every plugin exports, its manifest, and the component registry behind it.

use crate::collective::FfiWorld;
use crate::language_id::{FfiLanguageIdBox, GuestLanguageId};
use crate::optimizer::{FfiOptimizerBox, GuestOptimizer};
use crate::reward_model::{FfiRewardModelBox, GuestRewardModel};
use crate::rollout_engine::{FfiRolloutEngineBox, GuestRolloutEngine};
use crate::router::{FfiRouterBox, GuestRouter};
use crate::{guard, AnyComponent, Component, FfiError};
use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RErr, ROk, ROption, RResult, RStr, RString, RVec};
use abi_stable::StableAbi;
use lrpo_core::{ComponentKind, Error, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The plugin ABI version. A host loads plugins with the same major and a minor no newer
/// than its own; new component kinds are appended fields, so they bump the minor only.
/// 2.1: `set_world` (data-parallel runs).
pub const ABI_MAJOR: u16 = 2;
pub const ABI_MINOR: u16 = 1;

/// What the host tells a plugin once, before any factory call.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct HostContext {
    pub log: extern "C" fn(level: u8, target: RStr<'_>, message: RStr<'_>),
    /// `RUST_LOG`-style directives the plugin's log filter uses.
    pub log_filter: RString,
    /// Threads this plugin may use for its own pools.
    pub threads: u32,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiComponentInfo {
    pub kind: u8,
    pub name: RString,
    pub description: RString,
    /// JSON schema of the component's config table.
    pub config_schema: RString,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiManifest {
    pub plugin_name: RString,
    pub plugin_version: RString,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub libtorch_version: ROption<RString>,
    pub components: RVec<FfiComponentInfo>,
}

/// The root module. One factory per component kind, because each returns its kind's own FFI
/// object; a new kind is a new field appended after the last, so plugins built before it keep
/// loading (abi_stable prefix types). The host reaches these only through
/// `lrpo_sdk::host::PluginLibrary::instantiate`.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    pub manifest: extern "C" fn() -> FfiManifest,
    pub init: extern "C" fn(ctx: HostContext),
    pub new_router:
        extern "C" fn(component: RStr<'_>, instance: RStr<'_>, config: RStr<'_>) -> RResult<FfiRouterBox, FfiError>,
    pub new_language_id:
        extern "C" fn(component: RStr<'_>, instance: RStr<'_>, config: RStr<'_>) -> RResult<FfiLanguageIdBox, FfiError>,
    pub new_reward_model: extern "C" fn(
        component: RStr<'_>,
        instance: RStr<'_>,
        config: RStr<'_>,
    ) -> RResult<FfiRewardModelBox, FfiError>,
    pub new_rollout_engine: extern "C" fn(
        component: RStr<'_>,
        instance: RStr<'_>,
        config: RStr<'_>,
    ) -> RResult<FfiRolloutEngineBox, FfiError>,
    #[sabi(last_prefix_field)]
    pub new_optimizer:
        extern "C" fn(component: RStr<'_>, instance: RStr<'_>, config: RStr<'_>) -> RResult<FfiOptimizerBox, FfiError>,
    /// ABI 2.1. The ranks of a data-parallel run, before any factory call; never called in a
    /// single-process run. Plugins built against 2.0 lack it.
    #[sabi(missing_field(option))]
    pub set_world: extern "C" fn(world: FfiWorld),
}

impl RootModule for PluginModRef {
    abi_stable::declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "lrpo_plugin";
    const NAME: &'static str = "lrpo_plugin";
    // abi_stable's own version check mirrors ABI_MAJOR.ABI_MINOR; the host checks the
    // exported `lrpo_plugin_abi_version` symbol first, for a clearer message.
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
}

/// One component a plugin crate registered through `export_plugin!`.
pub struct Registration {
    pub kind: ComponentKind,
    pub name: &'static str,
    pub description: &'static str,
    pub schema: fn() -> String,
    /// Builds the component from (instance name, config JSON).
    pub factory: fn(&str, &str) -> Result<AnyComponent>,
}

inventory::collect!(Registration);

/// Parses the config JSON into the component's config type; errors name the instance.
pub fn parse_config<T: Component>(kind: ComponentKind, instance: &str, json: &str) -> Result<T::Config> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let root = format!("components.{}.{instance}.config", kind.key());
        // The field the error is about (`delay_ms`, `encoder.model_dir`); `.` is the table itself.
        let key = match e.path().to_string() {
            p if p == "." => root,
            p => format!("{root}.{p}"),
        };
        // serde_json's position is in the JSON the host made from TOML: no use to the user.
        let inner = e.into_inner().to_string();
        let inner = inner.split(" at line ").next().unwrap_or(&inner).to_string();
        Error::Config { key, message: format!("{} `{}`: {inner}", kind.key(), T::NAME) }
    })
}

pub fn schema_json<T: Component>() -> String {
    serde_json::to_string(&schemars::schema_for!(T::Config)).unwrap_or_else(|_| "{}".into())
}

struct PluginInfo {
    name: &'static str,
    version: &'static str,
    libtorch: Option<&'static str>,
}

static PLUGIN: OnceLock<PluginInfo> = OnceLock::new();
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads the host allows this plugin; all cores when no host said otherwise (tests).
pub fn thread_budget() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
}

/// Called by `export_plugin!`'s root-module function.
#[doc(hidden)]
pub fn root_module(name: &'static str, version: &'static str, libtorch: Option<&'static str>) -> PluginModRef {
    let _ = PLUGIN.set(PluginInfo { name, version, libtorch });
    PluginMod {
        manifest,
        init,
        new_router,
        new_language_id,
        new_reward_model,
        new_rollout_engine,
        new_optimizer,
        set_world,
    }
    .leak_into_prefix()
}

extern "C" fn manifest() -> FfiManifest {
    let info = PLUGIN.get();
    let mut components: Vec<FfiComponentInfo> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| FfiComponentInfo {
            kind: r.kind as u8,
            name: r.name.into(),
            description: r.description.into(),
            config_schema: (r.schema)().into(),
        })
        .collect();
    components.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    FfiManifest {
        plugin_name: info.map_or("?", |i| i.name).into(),
        plugin_version: info.map_or("?", |i| i.version).into(),
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        libtorch_version: info.and_then(|i| i.libtorch).map(RString::from).into(),
        components: components.into(),
    }
}

extern "C" fn init(ctx: HostContext) {
    THREADS.store(ctx.threads.max(1) as usize, Ordering::Relaxed);
    crate::log::install(ctx.log, ctx.log_filter.as_str());
}

extern "C" fn set_world(world: FfiWorld) {
    crate::collective::install(world);
}

fn plugin_name() -> &'static str {
    PLUGIN.get().map_or("?", |i| i.name)
}

/// Finds the registration and runs its constructor with panics contained.
fn build(kind: ComponentKind, component: &str, instance: &str, config: &str, label: &str) -> Result<AnyComponent> {
    let found = inventory::iter::<Registration>.into_iter().find(|r| r.kind == kind && r.name == component);
    let Some(reg) = found else {
        let have: Vec<&str> =
            inventory::iter::<Registration>.into_iter().filter(|r| r.kind == kind).map(|r| r.name).collect();
        let have = if have.is_empty() { "none".to_string() } else { have.join(", ") };
        return Err(Error::Plugin {
            plugin: plugin_name().into(),
            message: format!("has no {kind} component `{component}` (its {kind} components: {have})"),
        });
    };
    match catch_unwind(AssertUnwindSafe(|| (reg.factory)(instance, config))) {
        Ok(r) => r,
        Err(p) => Err(Error::Panic { component: label.to_string(), message: guard::panic_message(&*p) }),
    }
}

/// The body of every factory: build, take the kind's trait object out of the enum, wrap it in
/// the guest adapter that contains its panics.
fn guest<T, F>(
    kind: ComponentKind,
    c: RStr<'_>,
    i: RStr<'_>,
    cfg: RStr<'_>,
    wrap: fn(T, &str) -> F,
) -> RResult<F, FfiError>
where
    T: TryFrom<AnyComponent, Error = Error>,
{
    let label = format!("{kind} `{i}` ({}:{c})", plugin_name());
    match build(kind, c.as_str(), i.as_str(), cfg.as_str(), &label).and_then(T::try_from) {
        Ok(v) => ROk(wrap(v, &label)),
        Err(e) => RErr(e.into()),
    }
}

extern "C" fn new_router(c: RStr<'_>, i: RStr<'_>, cfg: RStr<'_>) -> RResult<FfiRouterBox, FfiError> {
    guest(ComponentKind::Router, c, i, cfg, GuestRouter::boxed)
}
extern "C" fn new_language_id(c: RStr<'_>, i: RStr<'_>, cfg: RStr<'_>) -> RResult<FfiLanguageIdBox, FfiError> {
    guest(ComponentKind::LanguageId, c, i, cfg, GuestLanguageId::boxed)
}
extern "C" fn new_reward_model(c: RStr<'_>, i: RStr<'_>, cfg: RStr<'_>) -> RResult<FfiRewardModelBox, FfiError> {
    guest(ComponentKind::RewardModel, c, i, cfg, GuestRewardModel::boxed)
}
extern "C" fn new_rollout_engine(c: RStr<'_>, i: RStr<'_>, cfg: RStr<'_>) -> RResult<FfiRolloutEngineBox, FfiError> {
    guest(ComponentKind::RolloutEngine, c, i, cfg, GuestRolloutEngine::boxed)
}
extern "C" fn new_optimizer(c: RStr<'_>, i: RStr<'_>, cfg: RStr<'_>) -> RResult<FfiOptimizerBox, FfiError> {
    guest(ComponentKind::Optimizer, c, i, cfg, GuestOptimizer::boxed)
}
