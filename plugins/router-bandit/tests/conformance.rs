//! The shared behavioural suite against directly constructed routers (the lead's integration
//! tests run the same functions against the dlopened `.so`).

use lrpo_router_bandit::router_from_json;
use lrpo_router_conformance::{check_all, check_router_contract};
use serde_json::{json, Value};

fn bandit(config: Value) -> lrpo_core::Result<Box<dyn lrpo_core::Router>> {
    router_from_json("lrpo-bandit", "test", config)
}

#[test]
fn bandit_passes_every_test_vector() {
    if let Err(failures) = check_all(&bandit) {
        panic!("{failures}");
    }
}

fn with_logs(mut config: Value) -> Value {
    config["log_every"] = json!(1);
    config["update_every"] = json!(4);
    config
}

#[test]
fn every_router_keeps_the_group_rules_and_resumes_exactly() {
    for (component, config) in [
        ("lrpo-bandit", with_logs(lrpo_router_conformance::workload::bench_config())),
        ("lrpo-bandit", json!({ "aggregate_non_regional": true, "epsilon": 0.1, "update_every": 4 })),
        ("uniform", json!({})),
        ("thompson", json!({ "log_every": 1, "update_every": 4 })),
    ] {
        let make = |c: Value| router_from_json(component, "test", c);
        if let Err(failures) = check_router_contract(&make, config.clone()) {
            panic!("{component} with {config}: {failures}");
        }
    }
}

/// The same vectors through the SDK's FFI adapters (guest → ABI types → host), in process.
#[test]
fn bandit_passes_every_test_vector_through_the_ffi_adapters() {
    let through_ffi = |config: Value| -> lrpo_core::Result<Box<dyn lrpo_core::Router>> {
        let inner = router_from_json("lrpo-bandit", "ffi", config)?;
        let guest = lrpo_sdk::router::GuestRouter::boxed(inner, "router `ffi` (lrpo-bandit)");
        Ok(Box::new(lrpo_sdk::router::HostRouter::new(guest)?))
    };
    if let Err(failures) = check_all(&through_ffi) {
        panic!("{failures}");
    }
}

#[test]
fn conformance_detects_a_wrong_router() {
    // A uniform router is not the bandit: the vectors must notice.
    let wrong = |c: Value| {
        let mut c = c;
        let map = c.as_object_mut().expect("object config");
        map.retain(|k, _| matches!(k.as_str(), "orig_lang_min" | "seed"));
        router_from_json("uniform", "test", c)
    };
    assert!(check_all(&wrong).is_err());
}

#[test]
fn unknown_component_and_bad_config_are_config_errors() {
    let err = router_from_json("epsilon-greedy", "r1", json!({})).err().unwrap().to_string();
    assert!(err.contains("components.router.r1.kind") && err.contains("unknown router"), "{err}");
    let err = router_from_json("lrpo-bandit", "r1", json!({ "alpah": 1 })).err().unwrap().to_string();
    assert!(err.contains("components.router.r1.config") && err.contains("alpah"), "{err}");
    let err = router_from_json("lrpo-bandit", "r1", json!({ "topic_mixes": { "China": "zh:six" } }))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("topic_mixes.China"), "{err}");
}

#[test]
fn config_schemas_name_every_key() {
    use lrpo_router_bandit::{LrpoBandit, ThompsonRouter, UniformRouter};
    let keys = |schema: String| -> Vec<String> {
        let v: Value = serde_json::from_str(&schema).expect("schema is JSON");
        v["properties"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    };
    let bandit = keys(lrpo_sdk::schema_json::<LrpoBandit>());
    for key in [
        "alpha",
        "update_every",
        "temperature_decay",
        "epsilon_min",
        "orig_lang_min",
        "group_norm",
        "log_max_keys",
        "topic_mixes",
        "region_mixes",
        "extra_languages",
        "regional_topic",
        "aggregate_non_regional",
        "seed",
        "enabled",
    ] {
        assert!(bandit.iter().any(|k| k == key), "lrpo-bandit schema lacks `{key}`: {bandit:?}");
    }
    let uniform = keys(lrpo_sdk::schema_json::<UniformRouter>());
    assert_eq!(uniform.len(), 4, "{uniform:?}");
    assert!(uniform.iter().any(|k| k == "log_every"), "{uniform:?}");
    assert!(keys(lrpo_sdk::schema_json::<ThompsonRouter>()).iter().any(|k| k == "noise_std"));
}
