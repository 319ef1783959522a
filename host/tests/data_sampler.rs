//! The grouped batch sampler (spec §2.2): contiguity, determinism, epochs and resume.

use lrpo_core::Error;
use lrpo_host::data::{group_id, validate_train_batch_size, GroupedSampler, SampledBatch, SamplerState};
use std::collections::BTreeSet;

fn config_error(result: Result<impl std::fmt::Debug, Error>) -> (String, String) {
    match result {
        Err(Error::Config { key, message }) => (key, message),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn each_question_fills_n_contiguous_rows_with_one_group_id() {
    let mut sampler = GroupedSampler::new(100, 8, 64, 42).unwrap();
    assert_eq!(sampler.questions_per_batch(), 8);
    let batch = sampler.next_batch();
    assert_eq!(batch.rows.len(), 64);
    for group in batch.rows.chunks(8) {
        let first = group[0];
        for (copy, row) in group.iter().enumerate() {
            assert_eq!((row.question, row.copy, row.group_id), (first.question, copy, first.group_id));
        }
        assert_eq!(first.group_id, group_id(0, first.question));
    }
    let questions: Vec<usize> = batch.questions().map(|(q, _)| q).collect();
    assert_eq!(questions.len(), 8);
    assert_eq!(questions.iter().collect::<BTreeSet<_>>().len(), 8, "no question twice in a batch");
}

#[test]
fn an_epoch_visits_each_question_once_and_drops_the_partial_batch() {
    // 100 questions, 8 per batch: 12 batches (96 questions), the last 4 are dropped.
    let mut sampler = GroupedSampler::new(100, 4, 32, 3).unwrap();
    assert_eq!(sampler.steps_per_epoch(), 12);
    let mut seen = BTreeSet::new();
    for step in 0..12 {
        let batch = sampler.next_batch();
        assert_eq!((batch.epoch, batch.step_in_epoch), (0, step));
        for (q, _) in batch.questions() {
            assert!(seen.insert(q), "question {q} drawn twice in one epoch");
        }
    }
    assert_eq!(seen.len(), 96);
    let next = sampler.next_batch();
    assert_eq!((next.epoch, next.step_in_epoch), (1, 0));
    assert_eq!(sampler.state().epoch, 1);
}

#[test]
fn epochs_are_shuffled_differently_but_reproducibly() {
    let draw = |seed: u64| -> Vec<SampledBatch> {
        let mut sampler = GroupedSampler::new(50, 2, 20, seed).unwrap();
        (0..15).map(|_| sampler.next_batch()).collect()
    };
    let a = draw(42);
    assert_eq!(a, draw(42));
    assert_ne!(a, draw(43));
    // Epoch 0 and epoch 1 (5 steps each) use different orders.
    let order = |batches: &[SampledBatch]| -> Vec<usize> {
        batches.iter().flat_map(|b| b.questions().map(|(q, _)| q).collect::<Vec<_>>()).collect()
    };
    assert_ne!(order(&a[0..5]), order(&a[5..10]));
    // The same question gets a new group id in a new epoch.
    let q = a[0].rows[0].question;
    let later = a[5..10].iter().flat_map(|b| b.rows.iter()).find(|r| r.question == q).unwrap();
    assert_ne!(later.group_id, a[0].rows[0].group_id);
}

#[test]
fn a_restored_sampler_continues_exactly() {
    let mut original = GroupedSampler::new(30, 3, 12, 9).unwrap();
    for _ in 0..9 {
        original.next_batch();
    }
    let saved = serde_json::to_string(original.state()).unwrap();
    let expected: Vec<SampledBatch> = (0..10).map(|_| original.next_batch()).collect();

    let mut resumed = GroupedSampler::new(30, 3, 12, 9).unwrap();
    let state: SamplerState = serde_json::from_str(&saved).unwrap();
    resumed.restore(&state).unwrap();
    let got: Vec<SampledBatch> = (0..10).map(|_| resumed.next_batch()).collect();
    assert_eq!(got, expected);
}

#[test]
fn restore_refuses_a_state_from_other_settings() {
    let sampler = GroupedSampler::new(30, 3, 12, 9).unwrap();
    let mut other = GroupedSampler::new(31, 3, 12, 9).unwrap();
    match other.restore(sampler.state()) {
        Err(Error::State(message)) => assert!(message.contains("number of questions = 30"), "{message}"),
        r => panic!("expected a state error, got {r:?}"),
    }
    let mut same = GroupedSampler::new(30, 3, 12, 9).unwrap();
    let mut far = sampler.state().clone();
    far.position = 99;
    assert!(matches!(same.restore(&far), Err(Error::State(_))));
}

#[test]
fn batch_size_must_be_a_multiple_of_n() {
    validate_train_batch_size(2048, 8).unwrap();
    let (key, message) = config_error(validate_train_batch_size(2044, 8));
    assert_eq!(key, "data.train_batch_size");
    assert!(message.contains("not a multiple of the group size n = 8"), "{message}");
    assert!(message.contains("2040 or 2048"), "{message}");
    assert!(message.contains("counts rollouts"), "{message}");
    let (_, message) = config_error(validate_train_batch_size(5, 8));
    assert!(message.contains("e.g. 8"), "{message}");
    config_error(validate_train_batch_size(0, 8));
    config_error(validate_train_batch_size(8, 0));
    config_error(GroupedSampler::new(100, 8, 60, 42));
}

#[test]
fn too_few_questions_for_one_batch_is_a_config_error() {
    let (key, message) = config_error(GroupedSampler::new(10, 8, 2048, 42));
    assert_eq!(key, "data.train_batch_size");
    assert!(message.contains("256 questions") && message.contains("only 10"), "{message}");
}
