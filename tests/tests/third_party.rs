//! The out-of-tree example plugin builds with cargo against lrpo-sdk alone and loads through
//! the real `lrpo-host` binary.

use lrpo_tests::*;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn third_party_router_builds_out_of_tree_and_loads() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("examples/third-party-router");
    // Its own target dir inside ours, so the build neither clashes with the workspace's
    // nor writes into the example's source tree.
    let target = target_dir().join("third-party");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(example.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "the example plugin failed to build");

    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(target.join("debug/libround_robin_router.so"), plugins.path().join("libround_robin_router.so"))
        .unwrap();
    let dir = plugins.path().to_str().unwrap();

    let out = run_host(&["plugins", "list", "--plugins", dir], plugins.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("round-robin-router 0.1.0 (ABI 2.1)"), "{text}");
    assert!(text.contains("router          round-robin"), "{text}");
    assert!(text.contains("config: keep_original, languages"), "{text}");

    let data = lrpo_testkit::repo_root().join("examples/data/prepared/train.parquet");
    let cfg = write_file(
        plugins.path(),
        "rr.toml",
        &format!(
            "[data]\ntrain_files = [\"{}\"]\ntrain_batch_size = 8\ngroup_size = 4\n\n[components.router.rr]\nplugin = \"round_robin_router\"\nkind = \"round-robin\"\nconfig = {{ languages = [\"en\", \"fr\"] }}\n",
            data.display()
        ),
    );
    // The router loads and answers; training then stops because this config names no other
    // component, and says which one to add.
    let out = run_host(&["--plugins", dir, "--config", cfg.to_str().unwrap()], plugins.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("router          rr = round_robin_router:round-robin (2 languages: en fr)"), "{err}");
    assert!(err.contains("config `components.language_id`: arm `main` has no language_id component"), "{err}");

    let bad = write_file(
        plugins.path(),
        "bad.toml",
        &format!(
            "[data]\ntrain_files = [\"{}\"]\ntrain_batch_size = 8\ngroup_size = 4\n\n[components.router.rr]\nplugin = \"round_robin_router\"\nkind = \"round-robin\"\nconfig = {{ languages = [] }}\n",
            data.display()
        ),
    );
    let out = run_host(&["--plugins", dir, "--config", bad.to_str().unwrap()], plugins.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("config `components.router.rr.config.languages`: must not be empty"),
        "{}",
        stderr(&out)
    );
}
