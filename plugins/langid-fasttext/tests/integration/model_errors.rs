//! Damaged model files give errors that name the file and the field, never a panic.

use crate::common;
use lrpo_core::Error;
use lrpo_langid_fasttext::FastTextModel;

fn real_model() -> Vec<u8> {
    std::fs::read(common::lid_model_path()).unwrap()
}

fn load_err(bytes: &[u8]) -> Error {
    FastTextModel::from_bytes(bytes, "lid.176.ftz").expect_err("damaged model must not load")
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = FastTextModel::load("/nonexistent/lid.176.ftz").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/lid.176.ftz"), "{err}");
}

#[test]
fn every_truncation_is_reported() {
    let bytes = real_model();
    let len = bytes.len();
    // every prefix through the header and dictionary start, then a spread over the rest
    let cuts = (0..600).chain((600..len).step_by(9973)).chain([len - 4, len - 1]);
    for cut in cuts {
        let err = load_err(&bytes[..cut]);
        let msg = err.to_string();
        assert!(matches!(err, Error::Input { .. }), "cut at {cut}: {err:?}");
        assert!(msg.contains("lid.176.ftz") && msg.contains("truncated"), "cut at {cut}: {msg}");
    }
}

#[test]
fn wrong_magic_and_version_are_named() {
    let mut bytes = real_model();
    bytes[0] ^= 0xFF;
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("not a fastText model") && msg.contains("magic"), "{msg}");

    let mut bytes = real_model();
    bytes[4..8].copy_from_slice(&13i32.to_le_bytes());
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("unsupported file version 13"), "{msg}");
}

#[test]
fn inconsistent_sizes_are_named() {
    // dict.size sits right after magic, version and the 56 bytes of args
    let mut bytes = real_model();
    bytes[64..68].copy_from_slice(&7000i32.to_le_bytes());
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("dict.size") && msg.contains("7000 entries"), "{msg}");

    // args.dim
    let mut bytes = real_model();
    bytes[8..12].copy_from_slice(&32i32.to_le_bytes());
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("quantizer") || msg.contains("dim"), "{msg}");

    // args.loss
    let mut bytes = real_model();
    bytes[32..36].copy_from_slice(&9i32.to_le_bytes());
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("args.loss") && msg.contains("unknown loss code 9"), "{msg}");
}

#[test]
fn huge_declared_sizes_fail_without_allocating() {
    // the reader runs on into the following bytes and stops at the first one that cannot be
    // an entry, long before the declared 2 billion
    let mut bytes = real_model();
    let size = 0x7FFF_0000i32;
    bytes[64..68].copy_from_slice(&size.to_le_bytes());
    bytes[72..76].copy_from_slice(&(size - 7235).to_le_bytes());
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("corrupt fastText model") && msg.contains("dict.entry[7411]"), "{msg}");

    // pruneidx_size just before the first entry
    let mut bytes = real_model();
    bytes[84..92].copy_from_slice(&(i64::MAX / 2).to_le_bytes());
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("dict.pruneidx") && msg.contains("truncated"), "{msg}");
}

#[test]
fn a_non_finite_weight_is_refused() {
    let mut bytes = real_model();
    let len = bytes.len();
    // the last float of the dense output matrix
    bytes[len - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let msg = load_err(&bytes).to_string();
    assert!(msg.contains("output.data") && msg.contains("NaN"), "{msg}");
}

#[test]
fn random_byte_damage_never_panics() {
    let original = real_model();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut loaded = 0;
    for _ in 0..100 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bytes = original.clone();
        // bias towards the header and dictionary, where a flipped byte changes structure
        let at =
            if state.is_multiple_of(2) { (state >> 8) as usize % 70_000 } else { (state >> 8) as usize % bytes.len() };
        bytes[at] ^= (state >> 32) as u8 | 1;
        if let Ok(model) = FastTextModel::from_bytes(&bytes, "damaged") {
            loaded += 1;
            for text in ["The quick brown fox", "敏捷的棕色狐狸", ""] {
                let _ = model.predict(text, 3, 0.0);
            }
        }
    }
    // most single-byte changes hit weights or strings and still load
    assert!(loaded > 0);
}
