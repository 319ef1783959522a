//! The component against a real server: what it sends, what it accepts, and every way an
//! answer or the server can go wrong.

use std::time::Duration;

use lrpo_core::{ComponentKind, Lang, LangPrediction, RewardInput, RewardModel};
use lrpo_reward_remote::RemoteReward;
use lrpo_sdk::Component;
use serde_json::{json, Value};

use crate::server::{ok, Reply, TestServer};

fn remote(config: Value) -> lrpo_core::Result<RemoteReward> {
    let config = lrpo_sdk::parse_config::<RemoteReward>(ComponentKind::RewardModel, "rm", &config.to_string())?;
    RemoteReward::new("rm", config)
}

/// Config for `server` with fast retries, plus `extra` keys.
fn config(server: &TestServer, extra: Value) -> Value {
    let mut c = json!({ "url": server.url, "timeout_s": 5.0, "backoff_s": 0.01, "max_backoff_s": 0.05 });
    c.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    c
}

/// Item `k`: its reference (the label) is the reward a labels-echoing server returns.
fn inputs(labels: &[&str]) -> Vec<RewardInput> {
    labels
        .iter()
        .enumerate()
        .map(|(k, label)| {
            let mut input = RewardInput::new(
                format!("answer {k}"),
                *label,
                Lang::new("de"),
                Lang::new("en"),
                LangPrediction { lang: Some(Lang::new("de")), prob: 0.9 },
            );
            input.prompt = format!("<|im_start|>user\nquestion {k}<|im_end|>\n<|im_start|>assistant\n");
            input.question = format!("question {k}");
            input.extra = json!({ "row": k }).to_string();
            input
        })
        .collect()
}

/// Answers each request with its labels read as numbers.
fn echo_labels(_: usize, seen: &crate::server::Seen) -> Reply {
    let rewards: Vec<f64> =
        seen.body["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().parse().unwrap()).collect();
    ok(&json!({ "rewards": rewards }).to_string())
}

fn error(reward: &mut RemoteReward, inputs: &[RewardInput]) -> String {
    reward.score(inputs).expect_err("the call must fail").to_string()
}

#[test]
fn a_good_answer_in_batches_with_the_openrlhf_fields() {
    let server = TestServer::start(echo_labels);
    // CARGO_PKG_NAME is set by cargo for every test process, so no test calls set_var (which
    // races with other threads reading the environment).
    let mut reward = remote(config(
        &server,
        json!({ "batch_size": 2, "api_key_env": "CARGO_PKG_NAME", "reward_range": [-1.0, 1.0] }),
    ))
    .unwrap();
    let batch = inputs(&["-1", "0", "1", "0.5", "-0.5"]);
    let out = reward.score(&batch).unwrap();
    let values: Vec<f64> = out.iter().map(|r| r.value).collect();
    assert_eq!(values, [0.0, 0.5, 1.0, 0.75, 0.25], "[-1, 1] mapped onto [0, 1]");
    assert!(out.iter().all(|r| r.gate == 1.0 && r.r_emb == r.value && r.raw_cosine.is_nan()));
    assert_eq!(out[0].detected, batch[0].detected);

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "5 items in requests of at most 2");
    assert_eq!(seen[0].path, "/get_reward");
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {}", env!("CARGO_PKG_NAME")).as_str()));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    let first = &seen[0].body;
    assert_eq!(
        first["query"],
        json!([format!("{}answer 0", batch[0].prompt), format!("{}answer 1", batch[1].prompt),]),
        "query = the prompt as the policy saw it, then the response"
    );
    assert_eq!(first["prompts"], json!([batch[0].prompt, batch[1].prompt]));
    assert_eq!(first["labels"], json!(["-1", "0"]));
    assert_eq!(seen[2].body["labels"], json!(["-0.5"]));
    assert!(first.get("extras").is_none(), "metadata only when asked for");
    assert!(reward.score(&[]).unwrap().is_empty());
    assert_eq!(server.seen().len(), 3, "an empty batch sends nothing");
}

#[test]
fn metadata_and_single_element_lists() {
    let server = TestServer::start(|_, seen| {
        let n = seen.body["labels"].as_array().unwrap().len();
        ok(&json!({ "scores": vec![[0.25]; n] }).to_string())
    });
    let extra = json!({ "send_metadata": true, "score_key": "scores", "query_key": "queries" });
    let mut reward = remote(config(&server, extra)).unwrap();
    let out = reward.score(&inputs(&["a", "b"])).unwrap();
    assert_eq!(out.iter().map(|r| r.value).collect::<Vec<_>>(), [0.25, 0.25]);
    let body = &server.seen()[0].body;
    assert!(body.get("query").is_none() && body["queries"].as_array().unwrap().len() == 2, "{body}");
    assert_eq!(body["questions"], json!(["question 0", "question 1"]));
    assert_eq!(body["target_langs"], json!(["de", "de"]));
    assert_eq!(body["reference_langs"], json!(["en", "en"]));
    assert_eq!(body["detected_langs"], json!(["de", "de"]));
    assert_eq!(body["extras"], json!([{ "row": 0 }, { "row": 1 }]));
    assert!(server.seen()[0].header("authorization").is_none(), "no key configured, none sent");
    let mut bad = inputs(&["a", "b"]);
    bad[1].extra = "{not json".into();
    let e = error(&mut reward, &bad);
    assert!(e.contains("reward input 1, extra"), "{e}");
    assert_eq!(server.seen().len(), 1, "nothing is sent for a batch that cannot be encoded");
}

#[test]
fn a_wrong_count_is_an_error_naming_the_url() {
    let server = TestServer::start(|_, _| ok(r#"{"rewards": [0.5, 0.5]}"#));
    let mut reward = remote(config(&server, json!({}))).unwrap();
    let e = error(&mut reward, &inputs(&["1", "1", "1"]));
    assert!(e.contains(&server.url) && e.contains("2 entries for the 3 items sent"), "{e}");
    assert_eq!(server.seen().len(), 1, "a bad answer is not retried");
}

#[test]
fn nan_and_out_of_range_rewards_name_the_item() {
    // What Python's json.dumps writes for float('nan').
    let server = TestServer::start(|_, _| ok(r#"{"rewards": [0.5, NaN, 0.1]}"#));
    let mut reward = remote(config(&server, json!({ "batch_size": 3 }))).unwrap();
    let e = error(&mut reward, &inputs(&["1", "1", "1", "1", "1", "1"]));
    assert!(e.contains(&server.url) && e.contains("item 1: the reward is NaN"), "{e}");

    let server = TestServer::start(echo_labels);
    let mut reward = remote(config(&server, json!({ "batch_size": 2 }))).unwrap();
    let e = error(&mut reward, &inputs(&["0.5", "0.5", "0.5", "1.5"]));
    assert!(e.contains(&server.url) && e.contains("item 3: the reward 1.5 is outside reward_range [0, 1]"), "{e}");
    let mut clipped = remote(config(&server, json!({ "clip_to_range": true }))).unwrap();
    let out = clipped.score(&inputs(&["1.5", "-3", "0.5"])).unwrap();
    assert_eq!(out.iter().map(|r| r.value).collect::<Vec<_>>(), [1.0, 0.0, 0.5]);
}

#[test]
fn a_500_is_retried_until_the_server_answers() {
    let server = TestServer::start(|n, seen| {
        if n == 0 {
            Reply::Body(500, r#"{"detail": "model still loading"}"#.into())
        } else {
            echo_labels(n, seen)
        }
    });
    let mut reward = remote(config(&server, json!({ "max_retries": 2 }))).unwrap();
    let out = reward.score(&inputs(&["0.25", "0.75"])).unwrap();
    assert_eq!(out.iter().map(|r| r.value).collect::<Vec<_>>(), [0.25, 0.75]);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the retry sends the same request");
}

#[test]
fn retries_are_bounded_and_a_4xx_is_final() {
    let server = TestServer::start(|_, _| Reply::Body(503, r#"{"detail": "overloaded"}"#.into()));
    let mut reward = remote(config(&server, json!({ "max_retries": 2 }))).unwrap();
    let e = error(&mut reward, &inputs(&["1"]));
    assert!(e.contains(&server.url) && e.contains("status 503") && e.contains("overloaded"), "{e}");
    assert!(e.contains("gave up after 3 attempt(s)"), "{e}");
    assert_eq!(server.seen().len(), 3);

    // A server that echoes the key in its error page: the error must not repeat it.
    let server = TestServer::start(|_, seen| {
        let auth = seen.header("authorization").unwrap_or("").to_string();
        Reply::Body(401, json!({ "detail": format!("bad credentials: {auth}") }).to_string())
    });
    let mut reward = remote(config(&server, json!({ "api_key_env": "CARGO_PKG_NAME" }))).unwrap();
    let e = error(&mut reward, &inputs(&["1"]));
    assert!(e.contains("status 401") && e.contains("<redacted>"), "{e}");
    assert!(!e.contains(env!("CARGO_PKG_NAME")), "the key leaked into the error: {e}");
    assert!(!format!("{reward:?}").contains(env!("CARGO_PKG_NAME")), "the key leaked into Debug");
    assert_eq!(server.seen().len(), 1, "a 401 is not retried");
}

#[test]
fn a_slow_server_times_out_and_is_retried() {
    let server = TestServer::start(|n, seen| Reply::After(Duration::from_secs(5), Box::new(echo_labels(n, seen))));
    let mut reward = remote(config(&server, json!({ "timeout_s": 0.3, "max_retries": 1 }))).unwrap();
    let e = error(&mut reward, &inputs(&["1"]));
    assert!(e.contains(&server.url) && e.contains("timeout_s") && e.contains("2 attempt(s)"), "{e}");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_refused_connection_is_retried_then_reported() {
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/get_reward");
    let mut reward = remote(json!({ "url": url, "max_retries": 2, "backoff_s": 0.01 })).unwrap();
    let e = error(&mut reward, &inputs(&["1"]));
    assert!(e.contains(&url) && e.contains("connection refused") && e.contains("3 attempt(s)"), "{e}");
}

#[test]
fn config_errors_name_the_key() {
    let e = remote(json!({ "url": "ftp://127.0.0.1/get_reward" })).unwrap_err().to_string();
    assert!(e.contains("url") && e.contains("ftp://"), "{e}");
    let e = remote(json!({ "api_key_env": "LRPO_REMOTE_TEST_UNSET_VARIABLE" })).unwrap_err().to_string();
    assert!(e.contains("api_key_env") && e.contains("LRPO_REMOTE_TEST_UNSET_VARIABLE"), "{e}");
    let e = remote(json!({ "batch": 4 })).unwrap_err().to_string();
    assert!(e.contains("components.reward_model.rm.config") && e.contains("batch"), "{e}");
    let e = remote(json!({ "reward_range": [1.0, 0.0] })).unwrap_err().to_string();
    assert!(e.contains("reward_range"), "{e}");
}
