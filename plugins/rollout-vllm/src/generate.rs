//! `generate` over `/v1/completions`: requests with the same prompt and settings become one
//! completion request with `n`, prompts go as token ids, and every choice must come back with
//! its token ids and sampler log-probs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use lrpo_core::{Error, FinishReason, GenerationRequest, GenerationResult, Result};
use serde_json::{json, Value};

use crate::client::Client;

/// vLLM takes a signed 64-bit seed and gives the `i`-th of `n` samples `seed + i`.
const SEED_MASK: u64 = (1 << 62) - 1;

/// Requests that share prompt and settings, sent as one completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Indices into the request batch, in batch order.
    pub members: Vec<usize>,
}

/// Groups identical requests (prompt, length, sampling, stops), first appearance first.
/// Requests with `max_new_tokens == 0` are left out: they need no server.
pub fn group_requests(requests: &[GenerationRequest]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        if r.max_new_tokens == 0 {
            continue;
        }
        // Everything but the seed decides the group; f32 bits so that equal settings match.
        let key = format!(
            "{}\u{0}{}\u{0}{:x}/{:x}/{}/{:x}\u{0}{:?}\u{0}{:?}",
            r.prompt,
            r.max_new_tokens,
            r.sampling.temperature.to_bits(),
            r.sampling.top_p.to_bits(),
            r.sampling.top_k,
            r.sampling.min_p.to_bits(),
            r.stop_strings,
            r.stop_token_ids
        );
        match index.get(&key) {
            Some(&g) => groups[g].members.push(i),
            None => {
                index.insert(key, groups.len());
                groups.push(Group { members: vec![i] });
            }
        }
    }
    groups
}

/// The completion request body for a group whose first request is `r`.
pub fn request_body(model: &str, prompt: &[u32], r: &GenerationRequest, n: usize, eos: &[u32]) -> Value {
    let mut stop_ids = r.stop_token_ids.clone();
    // The model's own end-of-sequence ids, explicitly: the sampler stops there too, whatever
    // the server's --generation-config says.
    for id in eos {
        if !stop_ids.contains(id) {
            stop_ids.push(*id);
        }
    }
    let s = &r.sampling;
    let mut body = json!({
        "model": model,
        "prompt": prompt,
        "n": n,
        "max_tokens": r.max_new_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "min_p": s.min_p,
        "seed": r.seed & SEED_MASK,
        "stop_token_ids": stop_ids,
        "logprobs": 0,
        "return_tokens_as_token_ids": true,
        "skip_special_tokens": true,
        // The server would otherwise take these from the model's generation_config.json.
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "ignore_eos": false,
        "stream": false,
    });
    if !r.stop_strings.is_empty() {
        body["stop"] = json!(r.stop_strings);
    }
    body
}

/// One choice of a completion response, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub text: String,
    pub finish: FinishReason,
}

/// The `n` choices of a response in index order; anything missing or inconsistent is an error
/// naming what (never a silent zero).
pub fn parse_choices(response: &Value, n: usize, max_tokens: u32) -> std::result::Result<Vec<Choice>, String> {
    let choices = response.get("choices").and_then(Value::as_array).ok_or("no `choices` array in the response")?;
    if choices.len() != n {
        return Err(format!("{} choices for n = {n}", choices.len()));
    }
    let mut out: Vec<Option<Choice>> = vec![None; n];
    for (pos, c) in choices.iter().enumerate() {
        let at = |what: &str| format!("choices[{pos}]: {what}");
        let index = c.get("index").and_then(Value::as_u64).ok_or_else(|| at("no `index`"))? as usize;
        if index >= n || out[index].is_some() {
            return Err(at(&format!("index {index} is out of range or repeated")));
        }
        let lp = c.get("logprobs").filter(|v| !v.is_null()).ok_or_else(|| at("no `logprobs` (logprobs: 0 asked)"))?;
        let tokens = lp.get("tokens").and_then(Value::as_array).ok_or_else(|| at("no `logprobs.tokens`"))?;
        let values =
            lp.get("token_logprobs").and_then(Value::as_array).ok_or_else(|| at("no `logprobs.token_logprobs`"))?;
        if tokens.len() != values.len() {
            return Err(at(&format!("{} tokens but {} log-probs", tokens.len(), values.len())));
        }
        if tokens.len() > max_tokens as usize {
            return Err(at(&format!("{} tokens for max_tokens = {max_tokens}", tokens.len())));
        }
        let tokens = tokens
            .iter()
            .enumerate()
            .map(|(t, v)| {
                v.as_str()
                    .and_then(|s| s.strip_prefix("token_id:"))
                    .and_then(|s| s.parse::<u32>().ok())
                    .ok_or_else(|| at(&format!("token {t} is {v}, not `token_id:N` (return_tokens_as_token_ids)")))
            })
            .collect::<std::result::Result<Vec<u32>, String>>()?;
        let logprobs = values
            .iter()
            .enumerate()
            .map(|(t, v)| match v.as_f64() {
                // bf16 rounding may put a certain token a hair above 0.
                Some(x) if x.is_finite() && x <= 1e-3 => Ok(x.min(0.0) as f32),
                _ => Err(at(&format!("log-prob {t} is {v}, not a finite log-probability"))),
            })
            .collect::<std::result::Result<Vec<f32>, String>>()?;
        if let Some(ids) = c.get("token_ids").and_then(Value::as_array) {
            let ids: Vec<u64> = ids.iter().filter_map(Value::as_u64).collect();
            if ids.len() != tokens.len() || ids.iter().zip(&tokens).any(|(&a, &b)| a != u64::from(b)) {
                return Err(at("`token_ids` disagree with `logprobs.tokens`"));
            }
        }
        let finish = match c.get("finish_reason").and_then(Value::as_str) {
            Some("stop") => FinishReason::Stop,
            Some("length") => FinishReason::Length,
            other => return Err(at(&format!("finish_reason {other:?} (an aborted or paused request?)"))),
        };
        let text = c.get("text").and_then(Value::as_str).ok_or_else(|| at("no `text`"))?.to_string();
        out[index] = Some(Choice { tokens, logprobs, text, finish });
    }
    Ok(out.into_iter().map(|c| c.expect("every index was filled once")).collect())
}

/// Runs every group against the server, up to `concurrency` at once; results in batch order.
pub fn run(
    client: &Client,
    model: &str,
    requests: &[GenerationRequest],
    prompts: &[Vec<u32>],
    eos: &[u32],
    concurrency: usize,
) -> Result<Vec<GenerationResult>> {
    let mut results: Vec<Option<GenerationResult>> = requests
        .iter()
        .zip(prompts)
        .map(|(r, p)| {
            (r.max_new_tokens == 0).then(|| GenerationResult {
                prompt_tokens: p.clone(),
                response_tokens: vec![],
                logprobs: vec![],
                text: String::new(),
                finish: FinishReason::Length,
            })
        })
        .collect();
    let groups = group_requests(requests);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, Result<Vec<Choice>>)>> = Mutex::new(Vec::new());
    let path = "/v1/completions";
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(groups.len()) {
            scope.spawn(|| loop {
                // Once one group failed the batch fails; nothing new is sent.
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let g = next.fetch_add(1, Ordering::Relaxed);
                let Some(group) = groups.get(g) else { return };
                let first = &requests[group.members[0]];
                // vLLM refuses n > 1 for greedy requests; their samples are one sample anyway.
                let n = if first.sampling.temperature == 0.0 { 1 } else { group.members.len() };
                let body = request_body(model, &prompts[group.members[0]], first, n, eos);
                let outcome = client.post(path, &body).and_then(|response| {
                    parse_choices(&response, n, first.max_new_tokens).map_err(|why| {
                        Error::runtime(format!("vllm: POST {}: malformed response: {why}", client.url(path)))
                    })
                });
                if outcome.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                done.lock().unwrap_or_else(|p| p.into_inner()).push((g, outcome));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    // The first failing group in batch order, so a rerun reports the same error.
    done.sort_by_key(|(g, _)| *g);
    for (g, outcome) in done {
        let choices = outcome?;
        let members = &groups[g].members;
        for (k, &i) in members.iter().enumerate() {
            let c = &choices[if choices.len() == 1 { 0 } else { k }];
            results[i] = Some(GenerationResult {
                prompt_tokens: prompts[i].clone(),
                response_tokens: c.tokens.clone(),
                logprobs: c.logprobs.clone(),
                text: c.text.clone(),
                finish: c.finish,
            });
        }
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| Error::runtime(format!("vllm: request {i} got no result"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::SamplingParams;

    fn req(prompt: &str, seed: u64) -> GenerationRequest {
        GenerationRequest {
            prompt: prompt.into(),
            max_new_tokens: 4,
            sampling: SamplingParams::default(),
            seed,
            stop_strings: vec![],
            stop_token_ids: vec![],
        }
    }

    #[test]
    fn identical_requests_form_one_group_whatever_their_seed() {
        let mut greedy = req("a", 9);
        greedy.sampling = SamplingParams::greedy();
        let mut empty = req("a", 1);
        empty.max_new_tokens = 0;
        let batch = vec![req("a", 1), req("b", 2), req("a", 3), greedy, empty, req("b", 5)];
        let groups = group_requests(&batch);
        let members: Vec<Vec<usize>> = groups.into_iter().map(|g| g.members).collect();
        assert_eq!(members, vec![vec![0, 2], vec![1, 5], vec![3]]);
    }

    #[test]
    fn the_body_asks_for_token_ids_and_logprobs() {
        let mut r = req("a", u64::MAX);
        r.stop_strings = vec!["\n\n".into()];
        r.stop_token_ids = vec![7];
        r.sampling.top_k = 20;
        let body = request_body("m", &[1, 2, 3], &r, 4, &[2, 7]);
        assert_eq!(body["prompt"], json!([1, 2, 3]));
        assert_eq!(body["n"], 4);
        assert_eq!(body["logprobs"], 0);
        assert_eq!(body["return_tokens_as_token_ids"], true);
        assert_eq!(body["stop_token_ids"], json!([7, 2]));
        assert_eq!(body["stop"], json!(["\n\n"]));
        assert_eq!(body["top_k"], 20);
        assert!(body["seed"].as_u64().unwrap() < (1 << 62), "seed + n must fit vLLM's int64");
    }

    fn choice(index: u64, tokens: &[&str], logprobs: Value, finish: &str) -> Value {
        json!({ "index": index, "text": "t", "finish_reason": finish,
                "logprobs": { "tokens": tokens, "token_logprobs": logprobs } })
    }

    #[test]
    fn choices_are_put_in_index_order() {
        let response = json!({ "choices": [
            choice(1, &["token_id:5"], json!([-0.5]), "length"),
            choice(0, &["token_id:2"], json!([0.0001]), "stop"),
        ]});
        let c = parse_choices(&response, 2, 4).unwrap();
        assert_eq!(c[0].tokens, vec![2]);
        assert_eq!(c[0].logprobs, vec![0.0]);
        assert_eq!(c[0].finish, FinishReason::Stop);
        assert_eq!(c[1].tokens, vec![5]);
        assert_eq!(c[1].finish, FinishReason::Length);
    }

    #[test]
    fn malformed_responses_are_errors() {
        let ok = |c: Value| json!({ "choices": [c] });
        let cases = [
            (json!({ "choices": [] }), "0 choices for n = 1"),
            (json!({}), "no `choices`"),
            (ok(json!({ "index": 0, "text": "", "finish_reason": "stop" })), "no `logprobs`"),
            (ok(choice(0, &["token_id:1", "token_id:2"], json!([-1.0]), "stop")), "2 tokens but 1 log-probs"),
            (ok(choice(0, &["hello"], json!([-1.0]), "stop")), "not `token_id:N`"),
            (ok(choice(0, &["token_id:1"], json!([null]), "stop")), "log-prob 0 is null"),
            (ok(choice(0, &["token_id:1"], json!([-1.0]), "abort")), "finish_reason Some(\"abort\")"),
            (ok(choice(3, &["token_id:1"], json!([-1.0]), "stop")), "index 3 is out of range"),
            (ok(choice(0, &["token_id:1"; 5], json!(vec![-1.0; 5]), "stop")), "5 tokens for max_tokens = 4"),
        ];
        for (response, want) in cases {
            let e = parse_choices(&response, 1, 4).unwrap_err();
            assert!(e.contains(want), "{e} lacks {want}");
        }
    }
}
