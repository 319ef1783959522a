//! Every way a plugin library can be wrong gives exit status 2 and a message naming the file
//! and the reason; a plugin panic is contained and reported.

use lrpo_core::{ComponentKind, Error, Lang, RouteContext, RouteRequest, Router};
use lrpo_host::config::InstanceConfig;
use lrpo_host::plugin::{open_library, Registry};
use lrpo_tests::*;

/// A run with one router instance and the bundled training data (data is read before any
/// plugin is built, so the loader's errors need a run whose data is fine).
fn config(dir: &std::path::Path, plugin: &str, kind: &str, extra: &str) -> std::path::PathBuf {
    let data = lrpo_testkit::repo_root().join("examples/data/prepared/train.parquet");
    write_file(
        dir,
        "run.toml",
        &format!(
            "[data]\ntrain_files = [\"{}\"]\ntrain_batch_size = 8\ngroup_size = 4\n\n[components.router.r]\nplugin = \"{plugin}\"\nkind = \"{kind}\"\n{extra}\n",
            data.display()
        ),
    )
}

fn train(plugins: &tempfile::TempDir, cfg: &std::path::Path) -> std::process::Output {
    run_host(
        &["--plugins", plugins.path().to_str().unwrap(), "--config", cfg.to_str().unwrap(), "train"],
        plugins.path(),
    )
}

#[test]
fn missing_library_lists_what_is_there() {
    let plugins = plugin_dir(&["lrpo_fixture_panic"]);
    let cfg = config(plugins.path(), "lrpo_nope", "x", "");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("plugin liblrpo_nope.so: file missing: searched"), "{err}");
    assert!(err.contains("libraries found there: lrpo_fixture_panic"), "{err}");
}

#[test]
fn not_a_shared_library() {
    let plugins = plugin_dir(&[]);
    write_file(plugins.path(), "liblrpo_text.so", "just some text, not ELF");
    let cfg = config(plugins.path(), "lrpo_text", "x", "");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("liblrpo_text.so: not a shared library (no ELF header)"), "{}", stderr(&out));
}

#[test]
fn truncated_library() {
    let plugins = plugin_dir(&[]);
    let bytes = std::fs::read(built_library("lrpo_fixture_panic")).unwrap();
    std::fs::write(plugins.path().join("liblrpo_cut.so"), &bytes[..4096]).unwrap();
    let cfg = config(plugins.path(), "lrpo_cut", "x", "");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("liblrpo_cut.so: truncated or corrupt shared library (4096 bytes)"), "{err}");
}

#[test]
fn shared_library_that_is_not_a_plugin() {
    let plugins = plugin_dir(&["lrpo_fixture_not_plugin"]);
    let cfg = config(plugins.path(), "lrpo_fixture_not_plugin", "x", "");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("liblrpo_fixture_not_plugin.so: a shared library, but not an lrpo plugin (no `lrpo_plugin_abi_version` symbol)"),
        "{err}"
    );
}

#[test]
fn incompatible_abi_major() {
    let plugins = plugin_dir(&["lrpo_fixture_abi_major"]);
    let cfg = config(plugins.path(), "lrpo_fixture_abi_major", "refuses", "");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("liblrpo_fixture_abi_major.so: built against lrpo-sdk ABI 99.0, this host speaks 2.1"),
        "{err}"
    );
}

#[test]
fn libtorch_version_mismatch() {
    let plugins = plugin_dir(&["lrpo_fixture_libtorch"]);
    let cfg = config(plugins.path(), "lrpo_fixture_libtorch", "refuses", "[plugins]\nlibtorch_version = \"2.13.0\"");
    // The [plugins] table must come before components in TOML; write it whole.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let (head, tail) = text.split_once("[components").unwrap();
    let (comp, plugins_tbl) = tail.split_once("[plugins]").unwrap();
    std::fs::write(&cfg, format!("{head}[plugins]{plugins_tbl}\n[components{comp}")).unwrap();
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("built against libtorch 0.0.1, but plugins.libtorch_version is 2.13.0"), "{err}");
}

#[test]
fn component_not_in_plugin_lists_what_is() {
    let plugins = plugin_dir(&["lrpo_fixture_panic"]);
    let cfg = config(plugins.path(), "lrpo_fixture_panic", "bandit", "");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "has no router component `bandit` (asked for by components.router.r); it provides: router `panicky`"
        ),
        "{err}"
    );
}

#[test]
fn constructor_error_names_the_key() {
    let plugins = plugin_dir(&["lrpo_fixture_ctor_fails"]);
    let cfg = config(plugins.path(), "lrpo_fixture_ctor_fails", "refuses", "config = { threshold = 7.5 }");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("config `components.router.r.config.threshold`: 7.5 is out of range"), "{err}");
}

#[test]
fn unknown_component_config_key_is_an_error() {
    let plugins = plugin_dir(&["lrpo_fixture_ctor_fails"]);
    let cfg = config(plugins.path(), "lrpo_fixture_ctor_fails", "refuses", "config = { treshold = 0.5 }");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("components.router.r.config"), "{err}");
    assert!(err.contains("unknown field `treshold`"), "{err}");
}

#[test]
fn panic_in_a_method_is_reported_and_the_host_survives() {
    // Through the binary: the panic happens at start-up (languages()), exit 1, message shown.
    let plugins = plugin_dir(&["lrpo_fixture_panic"]);
    let cfg = config(plugins.path(), "lrpo_fixture_panic", "panicky", "config = { panic_in = \"languages\" }");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "error: component `router `r` (lrpo-fixture-panic:panicky)` panicked: fixture panic in languages()"
        ),
        "{err}"
    );

    // In process: the panic becomes an error, the instance is poisoned, this process goes on.
    let mut reg = Registry::new(vec![plugins.path().to_path_buf()], 1, None);
    let inst =
        InstanceConfig { plugin: "lrpo_fixture_panic".into(), kind: "panicky".into(), config: Default::default() };
    let mut router = reg.instantiate(ComponentKind::Router, "r", &inst).and_then(Box::<dyn Router>::try_from).unwrap();
    let req = RouteRequest {
        step: 1,
        n: 2,
        training: true,
        groups: vec![RouteContext {
            group_id: 0,
            topic: "t".into(),
            region: None,
            orig_lang: Lang::new("en"),
            fixed_lang: None,
        }],
    };
    match router.route(&req) {
        Err(Error::Panic { message, .. }) => assert_eq!(message, "fixture panic in route()"),
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert!(matches!(router.route(&req), Err(Error::Poisoned { .. })));
    // A fresh instance from the same library still works until it panics itself.
    let other = reg.instantiate(ComponentKind::Router, "r2", &inst).and_then(Box::<dyn Router>::try_from).unwrap();
    assert_eq!(other.languages(), vec![Lang::new("en")]);
}

#[test]
fn plugins_list_shows_every_fixture_and_flags_bad_ones() {
    let plugins = plugin_dir(&[
        "lrpo_fixture_panic",
        "lrpo_fixture_ctor_fails",
        "lrpo_fixture_abi_major",
        "lrpo_fixture_not_plugin",
        "lrpo_fixture_libtorch",
    ]);
    let out = run_host(&["plugins", "list", "--plugins", plugins.path().to_str().unwrap()], plugins.path());
    assert_eq!(out.status.code(), Some(2), "a bad library makes the listing exit 2");
    let text = stdout(&out);
    assert!(text.contains("lrpo-fixture-panic 0.1.0 (ABI 2.1)"), "{text}");
    assert!(text.contains("router          panicky              test fixture: panics inside a method"), "{text}");
    assert!(text.contains("config: panic_in"), "{text}");
    assert!(text.contains("lrpo-fixture-libtorch 0.1.0 (ABI 2.1, libtorch 0.0.1)"), "{text}");
    assert!(text.contains("error: plugin"), "{text}");
    assert!(text.contains("ABI 99.0"), "{text}");

    let out = run_host(&["plugins", "list", "--json", "--plugins", plugins.path().to_str().unwrap()], plugins.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = json.as_array().unwrap();
    assert_eq!(entries.len(), 5);
    let panic = entries.iter().find(|e| e["path"].as_str().unwrap().ends_with("liblrpo_fixture_panic.so")).unwrap();
    assert_eq!(panic["manifest"]["components"][0]["config_schema"]["properties"]["panic_in"]["type"], "string");
}

#[test]
fn open_library_reads_the_manifest() {
    let p = open_library(&built_library("lrpo_fixture_panic"), 1).unwrap();
    assert_eq!(p.manifest.plugin_name, "lrpo-fixture-panic");
    assert_eq!(p.manifest.abi, "2.1");
    assert_eq!(p.manifest.components.len(), 1);
}

#[test]
fn plugin_names_cannot_reach_outside_the_plugin_dirs() {
    let plugins = plugin_dir(&["lrpo_fixture_panic"]);
    // `lib` + name + `.so` under a plugin dir once reached /evil.so through the `lib/` folder.
    std::fs::create_dir(plugins.path().join("lib")).unwrap();
    for (name, why) in [
        ("/../../../evil", "is not a path to a `.so` file"),
        ("../lrpo_fixture_panic", "is not a path to a `.so` file"),
        ("./lib/../liblrpo_fixture_panic.so", "may not contain `..`"),
        ("..hidden", "is not a library name"),
        ("", "is not a library name"),
    ] {
        let cfg = config(plugins.path(), name, "panicky", "");
        let out = train(&plugins, &cfg);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("config `components.router.r.plugin`") && err.contains(why), "{name}: {err}");
    }
    // A path given on purpose loads that file.
    let path = built_library("lrpo_fixture_panic");
    let cfg = config(plugins.path(), path.to_str().unwrap(), "panicky", "");
    let out = train(&plugins, &cfg);
    let err = stderr(&out);
    assert!(err.contains(&format!("router          r = {}:panicky (1 languages: en)", path.display())), "{err}");
    assert!(err.contains("has no language_id component"), "{err}");
}

#[test]
fn upper_case_environment_overrides_apply_and_bad_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let show = |var: &str, value: &str| {
        std::process::Command::new(host_binary())
            .args(["config", "show"])
            .current_dir(dir.path())
            .env(var, value)
            .output()
            .unwrap()
    };
    let out = show("LRPO_TRAINER__TOTAL_STEPS", "7");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("total_steps = 7"), "{}", stdout(&out));
    let out = show("LRPO_trainer__save_freq", "3");
    assert!(stdout(&out).contains("save_freq = 3"), "{}", stdout(&out));
    let out = show("LRPO_DATA__GROUP_SIZE", "x");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("config `data.group_size`"), "{}", stderr(&out));
}

#[test]
fn a_library_with_a_zeroed_dynamic_section_is_refused_without_a_crash() {
    let plugins = plugin_dir(&[]);
    let mut bytes = std::fs::read(built_library("lrpo_fixture_panic")).unwrap();
    let (offset, size) = lrpo_host::plugin::dynamic_section(&bytes).expect("a shared library has one");
    bytes[offset..offset + size].fill(0);
    std::fs::write(plugins.path().join("liblrpo_zeroed.so"), &bytes).unwrap();
    let cfg = config(plugins.path(), "lrpo_zeroed", "panicky", "");
    let out = train(&plugins, &cfg);
    assert_eq!(out.status.code(), Some(2), "exit 2, not a signal: {}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("liblrpo_zeroed.so: corrupt shared library: its dynamic section has no string or symbol table"),
        "{}",
        stderr(&out)
    );
    let out = run_host(&["plugins", "list", "--plugins", plugins.path().to_str().unwrap()], plugins.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_run_name_cannot_leave_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["../../x", "a/b", ".."] {
        let out = run_host(&["config", "show", "--set", &format!("run.name={name}")], dir.path());
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stdout(&out));
        assert!(stderr(&out).contains("config `run.name`"), "{name}: {}", stderr(&out));
    }
}
