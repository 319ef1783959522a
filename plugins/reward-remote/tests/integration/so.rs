//! The built library through the SDK's host half, as `lrpo-host` loads it, against the test
//! server.

use std::path::PathBuf;

use lrpo_core::{ComponentKind, Lang, LangPrediction, RewardInput, RewardModel};
use lrpo_sdk::host::PluginLibrary;
use serde_json::json;

use crate::server::{ok, TestServer};

/// The library cargo built for this very test run: `cargo test` compiles the crate's cdylib
/// next to the test executable in `target/<profile>/deps` (it copies it up to
/// `target/<profile>` only for `cargo build`, so that copy may be stale).
fn built_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe.parent().expect("target/<profile>/deps").join("liblrpo_reward_remote.so");
    assert!(path.is_file(), "{} is missing: run this test with `cargo test -p lrpo-reward-remote`", path.display());
    path
}

#[test]
fn the_shared_library_asks_the_server() {
    let server = TestServer::start(|_, _| ok(r#"{"rewards": [0.2, 0.9]}"#));
    let lib = PluginLibrary::open(&built_library(), 1).unwrap_or_else(|e| panic!("{e}"));
    let info = lib.manifest.component(ComponentKind::RewardModel, "remote").expect("`remote` in the manifest");
    let schema = info.config_schema.to_string();
    assert!(["url", "timeout_s", "max_retries", "api_key_env", "reward_range"].iter().all(|k| schema.contains(k)));

    let config = json!({ "url": server.url }).to_string();
    let any = lib.instantiate(ComponentKind::RewardModel, "remote", "rm", &config).unwrap_or_else(|e| panic!("{e}"));
    let mut reward = Box::<dyn RewardModel>::try_from(any).unwrap();
    let en = Lang::new("en");
    let inputs: Vec<RewardInput> = ["a", "b"]
        .iter()
        .map(|r| RewardInput::new(*r, "ref", en.clone(), en.clone(), LangPrediction::none()))
        .collect();
    let out = reward.score(&inputs).unwrap();
    assert_eq!(out.iter().map(|r| r.value).collect::<Vec<_>>(), [0.2, 0.9]);
    assert_eq!(server.seen()[0].body["query"], json!(["a", "b"]), "no prompt given: the query is the response");

    let Err(err) = lib.instantiate(ComponentKind::RewardModel, "remote", "rm", r#"{"url": "file:///etc/passwd"}"#)
    else {
        panic!("a file URL must be refused");
    };
    assert!(err.to_string().contains("components.reward_model.rm.config.url"), "{err}");
}
