//! Weights out to a Hugging Face directory (`lrpo_sdk::hf`) from the tch model's own parameter
//! names: transformers loads the directory, and its logits equal lrpo's forward on the same
//! (changed, as after training) weights within 1e-4 in f32, for tied and untied embeddings.

use crate::common::{max_abs_diff, script};
use lrpo_core::DType;
use lrpo_sdk::hf::{copy_model_files, write_weights, WriteOptions};
use lrpo_torch::{DecoderLm, Device, Kind};
use serde::Deserialize;
use tch::Tensor;

#[derive(Deserialize)]
struct HfLogits {
    logits: Vec<f32>,
    shape: Vec<i64>,
    dtype: String,
}

fn export_matches_transformers(arch: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join(arch);
    lrpo_testkit::python_run(&[script("tiny_reference.py").as_ref(), arch.as_ref(), base.as_ref()]);
    let model = DecoderLm::from_dir(&base, Kind::Float, Device::Cpu).unwrap();
    // Move every weight, as training would, so a stale copy of the base would be caught.
    {
        let _g = tch::no_grad_guard();
        for (i, (_, p)) in model.named_parameters().iter().enumerate() {
            let _ = p.shallow_clone().g_add_(&(p.randn_like() * 0.02 * (1.0 + i as f64 / 10.0)));
        }
    }
    let ids = Tensor::from_slice(&[5i64, 9, 17, 33, 64, 100, 7, 8, 120, 4, 11, 12, 90, 91, 3, 6]).view([2, 8]);
    let ours = {
        let _g = tch::no_grad_guard();
        model.forward(&ids, None, None).unwrap()
    };
    let out = tmp.path().join("export");
    let weights = lrpo_torch::interop::export_weights(model.named_parameters()).unwrap();
    let names: Vec<String> = weights.tensors.iter().map(|t| t.name.clone()).collect();
    if arch == "llama-plain" {
        assert!(!names.iter().any(|n| n == "lm_head.weight"), "tied models keep one embedding: {names:?}");
    }
    write_weights(&weights, &out, &WriteOptions::default()).unwrap();
    copy_model_files(&base, &out, Some(DType::F32)).unwrap();
    let rows: Vec<Vec<i64>> = (0..2).map(|r| Vec::<i64>::try_from(ids.get(r)).unwrap()).collect();
    let hf: HfLogits = lrpo_testkit::python_json(
        &[script("hf_logits.py").as_ref(), out.as_ref()],
        &serde_json::json!({"input_ids": rows}),
    );
    assert_eq!(hf.dtype, "float32");
    let theirs = Tensor::from_slice(&hf.logits).view(hf.shape.as_slice());
    let diff = max_abs_diff(&ours, &theirs);
    assert!(diff < 1e-4, "{arch}: transformers on the export differs from lrpo's forward by {diff}");

    // A bf16 export loads as bf16 and stays within bf16 rounding of the f32 logits.
    let low = tmp.path().join("export-bf16");
    write_weights(&weights, &low, &WriteOptions { dtype: Some(DType::BF16), ..WriteOptions::default() }).unwrap();
    copy_model_files(&base, &low, Some(DType::BF16)).unwrap();
    let hf: HfLogits = lrpo_testkit::python_json(
        &[script("hf_logits.py").as_ref(), low.as_ref()],
        &serde_json::json!({"input_ids": rows}),
    );
    assert_eq!(hf.dtype, "bfloat16");
    let scale = ours.abs().max().double_value(&[]);
    let diff = max_abs_diff(&ours, &Tensor::from_slice(&hf.logits).view(hf.shape.as_slice()));
    assert!(diff < 0.05 * scale + 1e-2, "{arch} bf16 export: logits differ by {diff} (scale {scale})");
}

#[test]
fn a_tied_export_loads_in_transformers_with_lrpo_logits() {
    export_matches_transformers("llama-plain");
}

#[test]
fn an_untied_export_loads_in_transformers_with_lrpo_logits() {
    export_matches_transformers("llama");
}
