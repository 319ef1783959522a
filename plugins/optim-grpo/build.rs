//! tch links libtorch dynamically without an rpath; bake in the directory torch-sys found so the
//! plugin and its test binaries load without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not report DEP_TCH_LIBTORCH_LIB; build with LIBTORCH_USE_PYTORCH=1 and the project venv on PATH");
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", std::path::Path::new(&lib_dir).display());
}
