//! pyo3 links libpython (the `distributed` feature) but adds no rpath: bake in the directory of
//! the interpreter it was built for, so lrpo-host finds that libpython, not whichever one the
//! system has under the same name.

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    #[cfg(feature = "distributed")]
    if let Some(dir) = &pyo3_build_config::get().lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
