//! Parity of the tch model code with transformers on tiny random models of every supported
//! architecture (f32, max abs difference 1e-4), plus KV-cache and padding consistency.

use std::path::PathBuf;

use crate::common::{max_abs_diff, reference, script};
use lrpo_torch::{DecodeWeights, DecoderLm, Device, Encoder, Kind, KvCache};
use tch::Tensor;

const TOL: f64 = 1e-4;

fn tiny(arch: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(arch);
    lrpo_testkit::python_run(&[script("tiny_reference.py").as_ref(), arch.as_ref(), path.as_ref()]);
    (dir, path)
}

fn decoder_parity(arch: &str) {
    let (_keep, dir) = tiny(arch);
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    let refs = dir.join("reference.safetensors");
    let ids = reference(&refs, "input_ids");
    let expected = reference(&refs, "expected");
    let _g = tch::no_grad_guard();
    let logits = model.forward(&ids, None, None).unwrap();
    let diff = max_abs_diff(&logits, &expected);
    assert!(diff < TOL, "{arch}: full forward differs from transformers by {diff}");

    // Token by token through the KV cache gives the same logits as the full forward.
    let mut cache = KvCache::new();
    let t = ids.size()[1];
    let mut steps = vec![model.forward(&ids.narrow(1, 0, 5), None, Some(&mut cache)).unwrap()];
    for i in 5..t {
        steps.push(model.forward(&ids.narrow(1, i, 1), None, Some(&mut cache)).unwrap());
    }
    assert_eq!(cache.len(), t);
    let cached = Tensor::cat(&steps, 1);
    let diff = max_abs_diff(&cached, &expected);
    assert!(diff < TOL, "{arch}: KV-cache decoding differs from the full forward by {diff}");

    // The same with room reserved for 3 tokens: those are written in place, and once the room
    // is used up the cache grows by concatenation again.
    let mut cache = KvCache::new();
    let mut steps = vec![model.forward(&ids.narrow(1, 0, 5), None, Some(&mut cache)).unwrap()];
    cache.reserve(3);
    assert_eq!((cache.len(), cache.capacity()), (5, 8));
    for i in 5..t {
        steps.push(model.forward(&ids.narrow(1, i, 1), None, Some(&mut cache)).unwrap());
        assert_eq!(cache.capacity(), (i + 1).max(8), "{arch}: capacity after position {i}");
    }
    assert!(t > 8, "{arch}: the reference must outgrow the reserved room");
    let diff = max_abs_diff(&Tensor::cat(&steps, 1), &expected);
    assert!(diff < TOL, "{arch}: decoding into reserved room differs from the full forward by {diff}");

    // And growing by 2 positions whenever the room is full, as the sampler grows its cache.
    let mut cache = KvCache::new();
    let mut steps = vec![model.forward(&ids.narrow(1, 0, 5), None, Some(&mut cache)).unwrap()];
    for i in 5..t {
        if cache.capacity() == cache.len() {
            cache.reserve(2);
        }
        steps.push(model.forward(&ids.narrow(1, i, 1), None, Some(&mut cache)).unwrap());
        let expect = 7 + 2 * ((i - 5) / 2);
        assert_eq!(cache.capacity(), expect, "{arch}: capacity after position {i}");
    }
    let diff = max_abs_diff(&Tensor::cat(&steps, 1), &expected);
    assert!(diff < TOL, "{arch}: decoding into a cache grown in steps differs from the full forward by {diff}");

    decoding_with_packed_weights(arch, &model, &ids, &expected);

    // Per-token log-probs are the log-softmax of the logits at the previous position.
    let lp = model.token_logprobs(&ids, None, 7).unwrap();
    let full = expected.log_softmax(-1, Kind::Float).narrow(1, 0, t - 1);
    let want = full.gather(2, &ids.narrow(1, 1, t - 1).unsqueeze(-1), false).squeeze_dim(-1);
    let diff = max_abs_diff(&lp, &want);
    assert!(diff < TOL, "{arch}: token log-probs differ by {diff}");

    // A left-padded row scores its real tokens as the unpadded row does.
    let row = ids.narrow(0, 1, 1).narrow(1, 0, 10);
    let padded = Tensor::cat(&[&Tensor::zeros([1, 3], (Kind::Int64, Device::Cpu)), &row], 1);
    let mask = Tensor::cat(
        &[&Tensor::zeros([1, 3], (Kind::Int64, Device::Cpu)), &Tensor::ones([1, 10], (Kind::Int64, Device::Cpu))],
        1,
    );
    let plain = model.forward(&row, None, None).unwrap();
    let with_pad = model.forward(&padded, Some(&mask), None).unwrap().narrow(1, 3, 10);
    let diff = max_abs_diff(&plain, &with_pad);
    assert!(diff < TOL, "{arch}: left padding changes real tokens' logits by {diff}");

    // Half-precision weights give the same logits up to half-precision rounding.
    let scale = expected.abs().max().double_value(&[]);
    for kind in [Kind::BFloat16, Kind::Half] {
        let low = DecoderLm::from_dir(&dir, kind, Device::Cpu).unwrap();
        let logits = low.forward(&ids, None, None).unwrap();
        assert_eq!(logits.kind(), kind);
        let diff = max_abs_diff(&logits.to_kind(Kind::Float), &expected);
        assert!(diff < 0.05 * scale + 1e-2, "{arch} in {kind:?}: logits differ by {diff} (scale {scale})");
        // Decoding token by token (one query position: attention runs in f32 on the CPU)
        // stays as close, and in the model's dtype.
        let mut cache = KvCache::new();
        let mut steps = vec![low.forward(&ids.narrow(1, 0, 5), None, Some(&mut cache)).unwrap()];
        for i in 5..t {
            let step = low.forward(&ids.narrow(1, i, 1), None, Some(&mut cache)).unwrap();
            assert_eq!(step.kind(), kind);
            steps.push(step);
        }
        let decoded = Tensor::cat(&steps, 1).to_kind(Kind::Float);
        let diff = max_abs_diff(&decoded, &expected);
        assert!(diff < 0.05 * scale + 1e-2, "{arch} in {kind:?}: decoded logits differ by {diff} (scale {scale})");
    }
}

/// Decoding through weights packed for MKL's small-row GEMM gives transformers' logits, and
/// after the weights change, the new model's logits once refreshed (the old ones until then).
fn decoding_with_packed_weights(arch: &str, model: &DecoderLm, ids: &Tensor, expected: &Tensor) {
    if !lrpo_torch::gemm::available() {
        eprintln!("{arch}: packed decoding skipped, this libtorch has no MKL packed GEMM");
        return;
    }
    let t = ids.size()[1];
    let decode = |model: &DecoderLm, packed: &DecodeWeights| {
        let mut cache = KvCache::new();
        let mut steps = Vec::new();
        for (start, len) in std::iter::once((0, 5)).chain((5..t).map(|i| (i, 1))) {
            let h =
                model.forward_hidden_with(&ids.narrow(1, start, len), None, Some(&mut cache), Some(packed)).unwrap();
            steps.push(model.project(&h, Some(packed)));
        }
        Tensor::cat(&steps, 1)
    };
    let mut packed = DecodeWeights::new(model, ids.size()[0]).expect("an f32 CPU model packs");
    let diff = max_abs_diff(&decode(model, &packed), expected);
    assert!(diff < TOL, "{arch}: decoding with packed weights differs from transformers by {diff}");

    // A policy update in place: every weight moves.
    let original: Vec<Tensor> = model.named_parameters().into_iter().map(|(_, w)| w.copy()).collect();
    for (_, mut w) in model.named_parameters() {
        let _ = w.g_mul_scalar_(1.1);
    }
    let updated = model.forward(ids, None, None).unwrap();
    let stale = max_abs_diff(&decode(model, &packed), &updated);
    assert!(stale > 100.0 * TOL, "{arch}: packed weights that were not refreshed must still be the old ones ({stale})");
    packed.refresh(model).expect("the same model repacks");
    let diff = max_abs_diff(&decode(model, &packed), &updated);
    assert!(diff < TOL, "{arch}: refreshed packed weights differ from the updated model by {diff}");
    for ((_, mut w), old) in model.named_parameters().into_iter().zip(original) {
        w.copy_(&old);
    }
}

fn encoder_parity(arch: &str) {
    let (_keep, dir) = tiny(arch);
    let model = Encoder::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    let refs = dir.join("reference.safetensors");
    let ids = reference(&refs, "input_ids");
    let mask = reference(&refs, "attention_mask");
    let expected = reference(&refs, "expected");
    let _g = tch::no_grad_guard();
    let out = model.forward(&ids, &mask).unwrap();
    // Padding positions' states are unspecified; compare real tokens only.
    let m = mask.to_kind(Kind::Float).unsqueeze(-1);
    let diff = max_abs_diff(&(&out.hidden * &m), &(&expected * &m));
    assert!(diff < TOL, "{arch}: hidden states differ from transformers by {diff}");
    // Mean pooling of the padded row equals pooling its unpadded prefix.
    let pooled = out.mean_pool();
    let real = mask.get(1).sum(Kind::Int64).int64_value(&[]);
    let want = expected.get(1).narrow(0, 0, real).mean_dim([0i64].as_slice(), false, Kind::Float);
    let diff = max_abs_diff(&pooled.get(1), &want);
    assert!(diff < TOL, "{arch}: mean pooling differs by {diff}");
}

#[test]
fn llama_with_llama3_rope_scaling_matches_transformers() {
    decoder_parity("llama");
}

#[test]
fn llama_tied_embeddings_matches_transformers() {
    decoder_parity("llama-plain");
}

#[test]
fn qwen2_matches_transformers() {
    decoder_parity("qwen2");
}

#[test]
fn qwen3_matches_transformers() {
    decoder_parity("qwen3");
}

#[test]
fn bert_matches_transformers() {
    encoder_parity("bert");
}

#[test]
fn xlm_roberta_matches_transformers() {
    encoder_parity("xlm-roberta");
}

#[test]
fn modernbert_matches_transformers() {
    encoder_parity("modernbert");
}

#[test]
fn gradients_flow_from_token_logprobs_to_every_weight() {
    let (_keep, dir) = tiny("qwen3");
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    model.set_trainable(true);
    let ids = reference(&dir.join("reference.safetensors"), "input_ids");
    let mask = Tensor::ones(ids.size(), (Kind::Int64, Device::Cpu));
    let lp = model.token_logprobs(&ids, Some(&mask), 16).unwrap();
    assert!(lp.requires_grad());
    lp.mean(Kind::Float).backward();
    for (name, p) in model.named_parameters() {
        let g = p.grad();
        assert!(g.defined(), "{name} got no gradient");
        assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0, "{name} has an all-zero gradient");
    }
}

/// A loss over every position's next-token log-prob, from final hidden states.
fn lm_loss(model: &DecoderLm, hidden: &Tensor, ids: &Tensor) -> Tensor {
    let head = if model.config.tie_word_embeddings { "model.embed_tokens.weight" } else { "lm_head.weight" };
    let (_, w) = model.named_parameters().into_iter().find(|(n, _)| n == head).unwrap();
    let t = ids.size()[1];
    let logp = hidden.narrow(1, 0, t - 1).linear::<Tensor>(&w, None).log_softmax(-1, Kind::Float);
    logp.gather(2, &ids.narrow(1, 1, t - 1).unsqueeze(-1), false).mean(Kind::Float)
}

fn grads(model: &DecoderLm) -> Vec<(String, Tensor)> {
    model.named_parameters().into_iter().map(|(n, p)| (n, p.grad().copy())).collect()
}

fn checkpointed_gradients_equal_plain(arch: &str) {
    let (_keep, dir) = tiny(arch);
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    model.set_trainable(true);
    let ids = reference(&dir.join("reference.safetensors"), "input_ids");
    // Left padding on the first row, so the mask path is covered too.
    let mask = Tensor::ones(ids.size(), (Kind::Int64, Device::Cpu));
    let _ = mask.get(0).narrow(0, 0, 2).fill_(0);

    let hidden = model.forward_hidden(&ids, Some(&mask), None).unwrap();
    let plain_loss = lm_loss(&model, &hidden, &ids);
    plain_loss.backward();
    let plain = grads(&model);
    for (_, p) in model.named_parameters() {
        let _ = p.grad().zero_();
    }

    let (hidden, checkpoint) = model.forward_hidden_checkpointed(&ids, Some(&mask)).unwrap();
    let loss = lm_loss(&model, &hidden, &ids);
    assert_eq!(loss.double_value(&[]), plain_loss.double_value(&[]), "the checkpointed forward computes the same loss");
    loss.backward();
    checkpoint.backward(&model).unwrap();
    for ((name, want), (_, got)) in plain.iter().zip(grads(&model)) {
        let scale = want.abs().max().double_value(&[]).max(1e-12);
        let diff = (&got - want).abs().max().double_value(&[]);
        assert!(diff <= 1e-5 * scale, "{arch} {name}: checkpointed gradient differs by {diff:e} (scale {scale:e})");
        assert!(scale > 1e-12, "{arch} {name}: no gradient");
    }
}

#[test]
fn checkpointed_gradients_equal_plain_ones_tied_llama() {
    checkpointed_gradients_equal_plain("llama-plain");
}

#[test]
fn checkpointed_gradients_equal_plain_ones_qwen3() {
    checkpointed_gradients_equal_plain("qwen3");
}

#[test]
fn checkpointed_backward_without_a_loss_backward_is_an_error() {
    let (_keep, dir) = tiny("llama");
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    model.set_trainable(true);
    let ids = reference(&dir.join("reference.safetensors"), "input_ids");
    let (_hidden, checkpoint) = model.forward_hidden_checkpointed(&ids, None).unwrap();
    let err = checkpoint.backward(&model).unwrap_err().to_string();
    assert!(err.contains("loss.backward()"), "{err}");
}

/// CUDA against transformers' CPU reference, in f32 and bf16, forward and KV-cache decoding.
#[test]
#[ignore = "needs a CUDA device; scripts/gpu-check.sh runs it with --include-ignored"]
fn cuda_decoders_match_the_cpu_reference() {
    assert!(tch::Cuda::is_available(), "no CUDA device visible to libtorch");
    let gpu = Device::Cuda(0);
    for arch in ["llama", "qwen2", "qwen3"] {
        let (_keep, dir) = tiny(arch);
        let refs = dir.join("reference.safetensors");
        let ids = reference(&refs, "input_ids");
        let expected = reference(&refs, "expected");
        let _g = tch::no_grad_guard();
        let model = DecoderLm::from_dir(&dir, Kind::Float, gpu).unwrap();
        let logits = model.forward(&ids.to_device(gpu), None, None).unwrap().to_device(Device::Cpu);
        let diff = max_abs_diff(&logits, &expected);
        // TF32 matmuls would exceed this; libtorch keeps them off unless asked.
        assert!(diff < TOL, "{arch} on CUDA: full forward differs from transformers by {diff}");
        let mut cache = KvCache::new();
        let t = ids.size()[1];
        let ids_gpu = ids.to_device(gpu);
        let mut steps = vec![model.forward(&ids_gpu.narrow(1, 0, 5), None, Some(&mut cache)).unwrap()];
        for i in 5..t {
            steps.push(model.forward(&ids_gpu.narrow(1, i, 1), None, Some(&mut cache)).unwrap());
        }
        let diff = max_abs_diff(&Tensor::cat(&steps, 1).to_device(Device::Cpu), &expected);
        assert!(diff < TOL, "{arch} on CUDA: KV-cache decoding differs by {diff}");
        let scale = expected.abs().max().double_value(&[]);
        let low = DecoderLm::from_dir(&dir, Kind::BFloat16, gpu).unwrap();
        let logits = low.forward(&ids_gpu, None, None).unwrap().to_kind(Kind::Float).to_device(Device::Cpu);
        let diff = max_abs_diff(&logits, &expected);
        assert!(diff < 0.05 * scale + 1e-2, "{arch} on CUDA in bf16: logits differ by {diff} (scale {scale})");
    }
}
