//! Bakes the libtorch location in as rpath, so the cdylib, tests and bench run without
//! LD_LIBRARY_PATH. torch-sys reports it to direct dependents as `DEP_TCH_LIBTORCH_LIB`.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not report DEP_TCH_LIBTORCH_LIB; build with LIBTORCH_USE_PYTORCH=1 and the project venv on PATH");
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", std::path::Path::new(&lib_dir).display());
}
