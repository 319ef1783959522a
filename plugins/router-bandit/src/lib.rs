//! Language routers for lrpo (spec §3): the LRPO bandit (`lrpo-bandit`) and two A/B
//! baselines, `uniform` and `thompson`, all under the same group rules.
//!
//! ```
//! use lrpo_core::{Lang, RouteContext, RouteRequest, Router};
//! use lrpo_router_bandit::{BanditConfig, LrpoBandit};
//!
//! let config = BanditConfig { orig_lang_min: 2, ..Default::default() };
//! let mut router = LrpoBandit::new("doc", config).unwrap();
//! let request = RouteRequest {
//!     step: 1,
//!     n: 8,
//!     groups: vec![RouteContext {
//!         group_id: 1,
//!         topic: "General Knowledge".into(),
//!         region: None,
//!         orig_lang: Lang::new("ja"),
//!         fixed_lang: None,
//!     }],
//!     training: true,
//! };
//! let langs = router.route(&request).unwrap();
//! assert_eq!(langs[0].len(), 8);
//! assert_eq!(langs[0][..2], [Lang::new("ja"), Lang::new("ja")]);
//! ```

mod assign;
mod bandit;
mod config;
mod feedback;
mod log;
mod mix;
mod rng;
mod schedule;
mod state;
mod thompson;
mod uniform;
mod values;
mod win_probability;

pub use assign::{assign_languages, GroupRules};
pub use bandit::LrpoBandit;
pub use config::BanditConfig;
pub use feedback::GroupNorm;
pub use log::COMPOSED_PREFIX;
pub use schedule::Schedule;
pub use state::STATE_VERSION;
pub use thompson::{Posterior, ThompsonConfig, ThompsonRouter};
pub use uniform::{UniformConfig, UniformRouter};
pub use values::{effective, softmax, ValueTable};

/// Builds one of this crate's routers by component name from its JSON config table, as the
/// plugin factory does; used by the tests and benches.
pub fn router_from_json(
    component: &str,
    instance: &str,
    config: serde_json::Value,
) -> lrpo_core::Result<Box<dyn lrpo_core::Router>> {
    fn parse<C: serde::de::DeserializeOwned>(
        component: &str,
        instance: &str,
        config: serde_json::Value,
    ) -> lrpo_core::Result<C> {
        serde_json::from_value(config).map_err(|e| {
            lrpo_core::Error::config(format!("components.router.{instance}.config"), format!("{component}: {e}"))
        })
    }
    Ok(match component {
        LrpoBandit::NAME => Box::new(LrpoBandit::new(instance, parse(component, instance, config)?)?),
        UniformRouter::NAME => Box::new(UniformRouter::new(instance, parse(component, instance, config)?)?),
        ThompsonRouter::NAME => Box::new(ThompsonRouter::new(instance, parse(component, instance, config)?)?),
        other => {
            return Err(lrpo_core::Error::config(
                format!("components.router.{instance}.kind"),
                format!("unknown router `{other}` (this library has lrpo-bandit, uniform, thompson)"),
            ))
        }
    })
}

lrpo_sdk::export_plugin! {
    Router => LrpoBandit,
    Router => UniformRouter,
    Router => ThompsonRouter,
}
