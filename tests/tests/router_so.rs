//! The router test vectors (spec TV-1..TV-6, TV-11) and the router contract, run against
//! routers built from the dlopened `liblrpo_router_bandit.so` through the real loader.

use lrpo_core::{ComponentKind, Result, Router};
use lrpo_host::config::InstanceConfig;
use lrpo_host::plugin::Registry;
use lrpo_router_conformance::{check_all, check_router_contract};
use lrpo_tests::*;
use std::cell::RefCell;

fn registry(dir: &std::path::Path) -> RefCell<Registry> {
    RefCell::new(Registry::new(vec![dir.to_path_buf()], 1, None))
}

fn make<'a>(reg: &'a RefCell<Registry>, kind: &'a str) -> impl Fn(serde_json::Value) -> Result<Box<dyn Router>> + 'a {
    move |config| {
        let table: toml::Table = serde_json::from_value(config).expect("config is a JSON object");
        let inst = InstanceConfig { plugin: "lrpo_router_bandit".into(), kind: kind.into(), config: table };
        reg.borrow_mut().instantiate(ComponentKind::Router, "conformance", &inst).and_then(Box::<dyn Router>::try_from)
    }
}

#[test]
fn test_vectors_pass_through_the_loaded_library() {
    let plugins = plugin_dir(&["lrpo_router_bandit"]);
    let reg = registry(plugins.path());
    check_all(&make(&reg, "lrpo-bandit")).unwrap();
}

#[test]
fn every_router_keeps_the_contract_through_the_loaded_library() {
    let plugins = plugin_dir(&["lrpo_router_bandit"]);
    let reg = registry(plugins.path());
    for kind in ["lrpo-bandit", "uniform", "thompson"] {
        check_router_contract(&make(&reg, kind), serde_json::json!({ "seed": 3, "orig_lang_min": 2 }))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn plugins_list_shows_the_three_routers_with_schemas() {
    let plugins = plugin_dir(&["lrpo_router_bandit"]);
    let out = run_host(&["plugins", "list", "--plugins", plugins.path().to_str().unwrap()], plugins.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for name in ["lrpo-bandit", "uniform", "thompson"] {
        assert!(text.contains(&format!("router          {name}")), "{text}");
    }
    assert!(text.contains("update_every"), "{text}");
}
