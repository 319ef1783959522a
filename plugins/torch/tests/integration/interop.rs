//! WeightSet export without copies, and checked import.

use lrpo_core::{weight_set_from_f32, DType, Device as ViewDevice};
use lrpo_torch::interop::{export_weights, import_weights};
use lrpo_torch::{Device, Kind};
use tch::Tensor;

fn named() -> Vec<(String, Tensor)> {
    vec![
        ("a".to_string(), Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3])),
        ("b".to_string(), Tensor::ones([4], (Kind::BFloat16, Device::Cpu))),
    ]
}

#[test]
fn export_shares_memory_and_outlives_the_source() {
    let tensors = named();
    let ptr_a = tensors[0].1.data_ptr() as usize;
    let set = export_weights(tensors.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect()).unwrap();
    drop(tensors); // the set's owner keeps the storage alive
    let a = set.get("a").unwrap();
    assert_eq!(a.data as usize, ptr_a, "export must not copy");
    assert_eq!(
        (a.dtype, a.shape.clone(), a.strides.clone(), a.device),
        (DType::F32, vec![2, 3], vec![3, 1], ViewDevice::Cpu)
    );
    let bytes = unsafe { a.cpu_bytes() }.unwrap();
    assert_eq!(f32::from_le_bytes(bytes[20..24].try_into().unwrap()), 5.0);
    assert_eq!(set.get("b").unwrap().dtype, DType::BF16);
}

#[test]
fn import_copies_into_parameters() {
    let params = vec![("w".to_string(), Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)))];
    let set = weight_set_from_f32(vec![("w".into(), vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])]);
    import_weights(&params, &set).unwrap();
    assert_eq!(params[0].1.sum(Kind::Float).double_value(&[]), 10.0);
}

#[test]
fn import_rejects_wrong_shape_dtype_or_names_and_leaves_model_untouched() {
    let params = vec![
        ("w".to_string(), Tensor::zeros([2, 2], (Kind::Float, Device::Cpu))),
        ("v".to_string(), Tensor::zeros([3], (Kind::Float, Device::Cpu))),
    ];
    let wrong_shape =
        weight_set_from_f32(vec![("w".into(), vec![4], vec![1.0; 4]), ("v".into(), vec![3], vec![1.0; 3])]);
    let err = import_weights(&params, &wrong_shape).unwrap_err().to_string();
    assert!(err.contains("`w`") && err.contains("shape"), "{err}");
    assert_eq!(params[1].1.sum(Kind::Float).double_value(&[]), 0.0, "nothing copied on error");

    let missing = weight_set_from_f32(vec![("w".into(), vec![2, 2], vec![1.0; 4])]);
    assert!(import_weights(&params, &missing).unwrap_err().to_string().contains("`v`"));

    let half = vec![("w".to_string(), Tensor::zeros([2, 2], (Kind::Half, Device::Cpu)))];
    let f32_set = weight_set_from_f32(vec![("w".into(), vec![2, 2], vec![1.0; 4])]);
    assert!(import_weights(&half, &f32_set).unwrap_err().to_string().contains("dtype"));

    let extra = weight_set_from_f32(vec![
        ("w".into(), vec![2, 2], vec![1.0; 4]),
        ("v".into(), vec![3], vec![1.0; 3]),
        ("z".into(), vec![1], vec![0.0]),
    ]);
    assert!(import_weights(&params, &extra).unwrap_err().to_string().contains("`z`"));
}
