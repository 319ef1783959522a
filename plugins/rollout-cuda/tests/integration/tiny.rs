//! The sampler on a tiny random Llama (no set-up needed): batching, prefix sharing, seeds,
//! stop rules, log-probs and weight reloads.

use crate::common::*;
use lrpo_core::{FinishReason, RolloutEngine, SamplingParams};
use lrpo_torch::{DecoderLm, Device, Kind};
use tch::Tensor;

const PROMPTS: [&str; 3] = ["w1 w2 w3", "w7", "w4 w4 w9 w12 w20 w3 w1"];

fn tiny() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny");
    write_tiny_llama(&dir, 7);
    (tmp, dir)
}

fn hot(temperature: f32) -> SamplingParams {
    SamplingParams { temperature, ..Default::default() }
}

#[test]
fn batched_greedy_equals_full_forward_argmax() {
    let (_tmp, dir) = tiny();
    let mut s = sampler(&dir, 64);
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    let lengths = [12u32, 5, 9];
    let reqs: Vec<_> = PROMPTS.iter().zip(lengths).map(|(p, n)| request(p, n, SamplingParams::greedy(), 0)).collect();
    let out = s.generate(&reqs).unwrap();
    for (i, r) in out.iter().enumerate() {
        let prompt = s.generator().tokenizer.encode(PROMPTS[i], false).unwrap();
        assert_eq!(r.prompt_tokens, prompt);
        let want = full_forward_greedy(&model, &prompt, lengths[i] as usize, &[TINY_EOS]);
        assert_eq!(r.response_tokens, want, "prompt {i}");
        assert_eq!(r.logprobs.len(), want.len());
        let finish = if want.last() == Some(&TINY_EOS) { FinishReason::Stop } else { FinishReason::Length };
        assert_eq!(r.finish, finish, "prompt {i}");
        assert_eq!(r.text, s.generator().tokenizer.decode(&want, true).unwrap());
    }
}

#[test]
fn decoding_with_and_without_packed_weights_agrees() {
    let (_tmp, dir) = tiny();
    let config = |pack: bool| lrpo_rollout_cuda::SamplerConfig {
        model_dir: Some(dir.clone()),
        dtype: "f32".into(),
        device: "cpu".into(),
        pack_weights: Some(pack),
        ..Default::default()
    };
    let mut packed = lrpo_rollout_cuda::Sampler::from_config(config(true)).unwrap();
    let mut plain = lrpo_rollout_cuda::Sampler::from_config(config(false)).unwrap();
    let reqs: Vec<_> = PROMPTS
        .iter()
        .enumerate()
        .flat_map(|(i, p)| (0..3).map(move |k| request(p, 10, hot(1.0), (10 * i + k) as u64)))
        .collect();
    let (a, b) = (packed.generate(&reqs).unwrap(), plain.generate(&reqs).unwrap());
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert_eq!(a.response_tokens, b.response_tokens, "request {i}");
        for (x, y) in a.logprobs.iter().zip(&b.logprobs) {
            assert!((x - y).abs() < 1e-4, "request {i}: log-prob {x} against {y}");
        }
    }
}

#[test]
fn groups_share_a_prefill_and_match_solo_runs() {
    let (_tmp, dir) = tiny();
    // max_batch_size 3 splits the 4-sample group across passes.
    let mut s = sampler(&dir, 3);
    let mut reqs = Vec::new();
    for k in 0..4u64 {
        reqs.push(request(PROMPTS[0], 6 + k as u32, hot(1.0), 100 + k));
        reqs.push(request(
            PROMPTS[2],
            10,
            SamplingParams { temperature: 0.8, top_k: 5, top_p: 0.9, min_p: 0.05 },
            200 + k,
        ));
    }
    reqs.push(request(PROMPTS[1], 7, SamplingParams::greedy(), 1));
    let together = s.generate(&reqs).unwrap();
    for (i, req) in reqs.iter().enumerate() {
        let solo = s.generate(std::slice::from_ref(req)).unwrap().remove(0);
        assert_eq!(together[i].response_tokens, solo.response_tokens, "request {i}");
        assert_eq!(together[i].finish, solo.finish, "request {i}");
        for (a, b) in together[i].logprobs.iter().zip(&solo.logprobs) {
            assert!((a - b).abs() < 1e-4, "request {i}: log-prob {a} vs {b}");
        }
    }
    // Same prompt, different seeds: the group's samples are not copies of each other.
    let distinct: std::collections::HashSet<_> = (0..4).map(|k| together[2 * k + 1].response_tokens.clone()).collect();
    assert!(distinct.len() > 1, "four seeds gave one sample");
}

#[test]
fn seeds_repeat_and_logprobs_are_the_tempered_log_softmax() {
    let (_tmp, dir) = tiny();
    let mut s = sampler(&dir, 8);
    let reqs: Vec<_> = PROMPTS.iter().enumerate().map(|(i, p)| request(p, 16, hot(0.7), 42 + i as u64)).collect();
    let a = s.generate(&reqs).unwrap();
    let b = s.generate(&reqs).unwrap();
    assert_eq!(a, b, "a rerun with the same seeds differs");
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    let _g = tch::no_grad_guard();
    for r in &a {
        let seq: Vec<i64> = r.prompt_tokens.iter().chain(&r.response_tokens).map(|&t| i64::from(t)).collect();
        let logits = model.forward(&Tensor::from_slice(&seq).view([1, -1]), None, None).unwrap().squeeze_dim(0);
        let p = r.prompt_tokens.len() as i64;
        let n = r.response_tokens.len() as i64;
        let lp = (logits.narrow(0, p - 1, n) / 0.7).log_softmax(-1, Kind::Float);
        let ids: Vec<i64> = r.response_tokens.iter().map(|&t| i64::from(t)).collect();
        let want = lp.gather(1, &Tensor::from_slice(&ids).unsqueeze(1), false).squeeze_dim(1);
        let want: Vec<f32> = Vec::try_from(&want).unwrap();
        for (j, (got, want)) in r.logprobs.iter().zip(&want).enumerate() {
            assert!((got - want).abs() < 1e-4, "token {j}: log-prob {got}, full forward {want}");
        }
    }
}

#[test]
fn stop_ids_stop_strings_and_lengths() {
    let (_tmp, dir) = tiny();
    let mut s = sampler(&dir, 8);
    let free = s.generate(&[request(PROMPTS[2], 12, SamplingParams::greedy(), 0)]).unwrap().remove(0);
    let toks = free.response_tokens.clone();
    assert!(toks.len() >= 4 && !toks[..4].contains(&TINY_EOS), "greedy run too short to test stops: {toks:?}");
    let word3 = s.generator().tokenizer.decode(&toks[2..3], true).unwrap();

    let mut by_id = request(PROMPTS[2], 12, SamplingParams::greedy(), 0);
    by_id.stop_token_ids = vec![toks[2]];
    let mut by_string = request(PROMPTS[2], 12, SamplingParams::greedy(), 0);
    by_string.stop_strings = vec![format!(" {word3}")];
    let short = request(PROMPTS[2], 2, SamplingParams::greedy(), 0);
    let none = request(PROMPTS[2], 0, SamplingParams::greedy(), 0);
    let out = s.generate(&[by_id, by_string, short, none]).unwrap();

    let first = toks.iter().position(|&t| t == toks[2]).unwrap();
    assert_eq!(out[0].response_tokens, toks[..=first].to_vec());
    assert_eq!(out[0].finish, FinishReason::Stop);
    assert_eq!(out[1].response_tokens, toks[..3].to_vec(), "tokens up to the one completing the stop string");
    assert_eq!(out[1].finish, FinishReason::Stop);
    let full = s.generator().tokenizer.decode(&toks[..3], true).unwrap();
    assert_eq!(out[1].text, full[..full.find(&format!(" {word3}")).unwrap()]);
    assert_eq!(out[2].response_tokens, toks[..2].to_vec());
    assert_eq!(out[2].finish, FinishReason::Length);
    assert!(out[3].response_tokens.is_empty() && out[3].finish == FinishReason::Length);
}

#[test]
fn load_weights_changes_outputs_and_rejects_mismatches() {
    let (tmp, dir) = tiny();
    let other = tmp.path().join("other");
    write_tiny_llama(&other, 99);
    let mut s = sampler(&dir, 8);
    let reqs: Vec<_> = PROMPTS.iter().map(|p| request(p, 10, SamplingParams::greedy(), 0)).collect();
    let before = s.generate(&reqs).unwrap();
    let new_model = DecoderLm::from_dir(&other, Kind::Float, Device::Cpu).unwrap();
    let want_after = sampler(&other, 8).generate(&reqs).unwrap();
    assert_ne!(before, want_after, "the two random models agree; the reload test would prove nothing");

    // A wrong shape, an unknown name, a missing weight and a wrong dtype are all refused, by name,
    // and leave the policy untouched.
    let params = new_model.named_parameters();
    let mut wrong_shape = params.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect::<Vec<_>>();
    wrong_shape[3].1 = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    let mut extra = params.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect::<Vec<_>>();
    extra.push(("model.layers.9.mlp.up_proj.weight".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu))));
    let missing = params[1..].iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect::<Vec<_>>();
    let doubles = params.iter().map(|(n, t)| (n.clone(), t.to_kind(Kind::Double))).collect::<Vec<_>>();
    let cases = [
        (wrong_shape, params[3].0.clone()),
        (extra, "model.layers.9.mlp.up_proj.weight".to_string()),
        (missing, params[0].0.clone()),
        (doubles, params[0].0.clone()),
    ];
    for (set, name) in cases {
        let set = lrpo_torch::interop::export_weights(set).unwrap();
        let err = s.load_weights(&set).unwrap_err().to_string();
        assert!(err.contains(&name), "error `{err}` does not name `{name}`");
        assert_eq!(s.generate(&reqs).unwrap(), before, "a refused set changed the policy ({err})");
    }

    let set = lrpo_torch::interop::export_weights(params).unwrap();
    s.load_weights(&set).unwrap();
    drop(set);
    let after = s.generate(&reqs).unwrap();
    assert_eq!(after, want_after);
}

#[test]
fn bad_requests_and_configs_name_the_field() {
    let (_tmp, dir) = tiny();
    let mut s = sampler(&dir, 8);
    let bad = [
        (SamplingParams { temperature: -1.0, ..Default::default() }, "sampling.temperature"),
        (SamplingParams { top_p: 0.0, ..Default::default() }, "sampling.top_p"),
        (SamplingParams { min_p: 1.5, ..Default::default() }, "sampling.min_p"),
    ];
    for (params, field) in bad {
        let reqs = [request("w1", 3, SamplingParams::greedy(), 0), request("w1", 3, params, 0)];
        let err = s.generate(&reqs).unwrap_err().to_string();
        assert!(err.contains("request 1") && err.contains(field), "{err}");
    }
    let err = s.generate(&[request("", 3, SamplingParams::greedy(), 0)]).unwrap_err().to_string();
    assert!(err.contains("request 0 prompt"), "{err}");
    let err = s.generate(&[request("w1", 300, SamplingParams::greedy(), 0)]).unwrap_err().to_string();
    assert!(err.contains("256 positions"), "{err}");

    let cfg: Result<lrpo_rollout_cuda::SamplerConfig, _> = serde_json::from_str(r#"{"max_batch": 3}"#);
    assert!(cfg.unwrap_err().to_string().contains("max_batch"));
    let cfg: lrpo_rollout_cuda::SamplerConfig = serde_json::from_str("{}").unwrap();
    assert_eq!((cfg.dtype.as_str(), cfg.device.as_str(), cfg.max_batch_size), ("f32", "auto", 64));
    let bad_dir = lrpo_rollout_cuda::SamplerConfig { model_dir: Some(dir.join("nowhere")), ..cfg };
    let err = lrpo_rollout_cuda::Sampler::from_config(bad_dir).err().expect("missing model dir").to_string();
    assert!(err.contains("model_dir") && err.contains("nowhere"), "{err}");
}
