//! tch links libtorch dynamically without an rpath; bake in the directory torch-sys linked
//! against so the cdylib, the tests and `lrpo-calibrate` load without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) => println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}"),
        Err(_) => panic!("torch-sys did not report DEP_TCH_LIBTORCH_LIB; build with LIBTORCH_USE_PYTORCH=1 and the project venv on PATH"),
    }
}
