//! Bakes the libtorch location into this crate's binaries and exposes it to the code.
//!
//! tch links libtorch dynamically but adds no rpath, so test binaries and `lrpo-import` would
//! need LD_LIBRARY_PATH. torch-sys (`links = "tch"`) tells its direct dependents where it found
//! libtorch through `DEP_TCH_LIBTORCH_LIB`; we read that rather than asking python again, so the
//! rpath always matches the library that was actually linked.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not report DEP_TCH_LIBTORCH_LIB; build with LIBTORCH_USE_PYTORCH=1 and the project venv on PATH");
    };
    let lib_dir = Path::new(&lib_dir);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!("cargo:rustc-env=LRPO_LIBTORCH_LIB_DIR={}", lib_dir.display());
    println!("cargo:rustc-env=LRPO_LIBTORCH_VERSION={}", torch_version(lib_dir));
}

/// The version of the libtorch at `lib_dir`: a pip wheel keeps it in `torch/version.py`
/// next to `torch/lib`, a standalone libtorch in `build-version` at its root.
fn torch_version(lib_dir: &Path) -> String {
    let root = lib_dir.parent().unwrap_or(lib_dir);
    let version_py = root.join("version.py");
    println!("cargo:rerun-if-changed={}", version_py.display());
    if let Ok(text) = std::fs::read_to_string(&version_py) {
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("__version__") {
                let v = rest.trim_start_matches([' ', '=', ':']).trim_start_matches("str").trim();
                let v = v.trim_matches(|c| c == '\'' || c == '"' || c == ' ');
                // The local part (`+cu130`) names the wheel's build, not the torch release.
                let v = v.split('+').next().unwrap_or(v);
                if !v.is_empty() {
                    return v.to_string();
                }
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(root.join("build-version")) {
        return text.trim().to_string();
    }
    "unknown".to_string()
}
