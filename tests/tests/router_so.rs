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

#[test]
fn every_router_reports_its_distributions_through_the_loaded_library() {
    use lrpo_core::{Lang, RouteContext, RouteFeedback, RouteRequest};
    use lrpo_host::train::router_log;
    let plugins = plugin_dir(&["lrpo_router_bandit"]);
    let reg = registry(plugins.path());
    for kind in ["lrpo-bandit", "uniform", "thompson"] {
        let mut router = make(&reg, kind)(serde_json::json!({ "seed": 3, "log_every": 1 })).unwrap();
        let ctx = |g: u64, topic: &str| RouteContext {
            group_id: g,
            topic: topic.into(),
            region: Some("China".into()),
            orig_lang: Lang::new("zh"),
            fixed_lang: None,
        };
        let request = RouteRequest {
            step: 1,
            n: 4,
            training: true,
            groups: vec![ctx(0, "Regional Knowledge"), ctx(1, "Chat / Conversational")],
        };
        let picks = router.route(&request).unwrap();
        let feedback: Vec<RouteFeedback> = request
            .groups
            .iter()
            .zip(&picks)
            .flat_map(|(g, langs)| {
                langs.iter().enumerate().map(|(i, l)| RouteFeedback {
                    topic: g.topic.clone(),
                    region: g.region.clone(),
                    lang: l.clone(),
                    reward: i as f64 / 4.0,
                })
            })
            .collect();
        let report = router
            .update(1, &feedback)
            .unwrap()
            .report
            .unwrap_or_else(|| panic!("{kind}: no report with log_every = 1"));
        assert_eq!(report.languages, router.languages(), "{kind}");
        assert!(report.contexts.iter().any(|c| c.key == "topic:Chat / Conversational"), "{kind}: {report:?}");
        for c in &report.contexts {
            assert_eq!(c.probs.len(), report.languages.len(), "{kind} {}", c.key);
            assert!((c.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{kind} {}: {:?}", c.key, c.probs);
        }
        let (step, back) = router_log::parse_line(&router_log::log_line(1, &report)).unwrap();
        assert_eq!(step, 1);
        assert_eq!(back.contexts.len(), report.contexts.len(), "{kind}");
        assert!(router_log::console_line(&report).is_some(), "{kind}");
    }
}
