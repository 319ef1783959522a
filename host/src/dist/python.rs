//! PyTorch's process group, driven from Rust through an interpreter embedded in lrpo-host.
//!
//! Why this route (docs/architecture.md, "Distributed training"): tch has no distributed
//! bindings, and the torch wheel ships gloo's process group compiled but not its headers, so a
//! C++ shim could not build one. The venv's `torch.distributed` is PyTorch's own gloo and NCCL;
//! it runs in this process on the same libtorch the tch plugins link (the same files, loaded
//! once), and takes the components' buffers without a copy (process_group.py).

use lrpo_core::{Error, Result};
use lrpo_sdk::collective::FfiBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyModule};
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::OnceLock;

static MODULE: OnceLock<Py<PyModule>> = OnceLock::new();

/// The venv whose torch runs the collectives: `VIRTUAL_ENV` (an activated venv, or the one
/// scripts/env.sh names), else the project venv this binary was built with.
fn venv() -> Option<PathBuf> {
    std::env::var_os("VIRTUAL_ENV")
        .map(PathBuf::from)
        .or_else(|| option_env!("LRPO_VENV_PYTHON").and_then(|p| PathBuf::from(p).parent()?.parent().map(Into::into)))
}

fn python_error(what: &str, e: PyErr) -> Error {
    Python::with_gil(|py| {
        let kind = e.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "error".into());
        // torch's messages carry C++ frames after the first lines; the first lines say it.
        let text = e.value(py).to_string();
        let text: String = text.lines().take(3).collect::<Vec<_>>().join(" ");
        Error::runtime(format!("{what}: {kind}: {text}"))
    })
}

/// A collective that failed: almost always because another rank ended (its own error, a kill)
/// or stopped answering, which that rank's log explains.
fn collective_error(what: &str, e: PyErr) -> Error {
    match python_error(&format!("{what} with the other ranks"), e) {
        Error::Runtime(m) => Error::runtime(format!("{m} (another rank ended or stopped answering: its log says why)")),
        other => other,
    }
}

fn module() -> Result<&'static Py<PyModule>> {
    MODULE.get().ok_or_else(|| Error::runtime("the process group is not initialised"))
}

/// Starts the interpreter, puts the venv's packages on its path and imports torch.
fn load() -> Result<Py<PyModule>> {
    pyo3::prepare_freethreaded_python();
    Python::with_gil(|py| {
        let venv = venv();
        if let Some(venv) = &venv {
            let site = py.import("site").and_then(|site| {
                let sys = py.import("sys")?;
                let (major, minor): (u32, u32) =
                    sys.getattr("version_info")?.extract::<(u32, u32, u32, String, u32)>().map(|v| (v.0, v.1))?;
                let dir = venv.join(format!("lib/python{major}.{minor}/site-packages"));
                site.call_method1("addsitedir", (dir.display().to_string(),))?;
                Ok(())
            });
            site.map_err(|e| python_error("setting up the venv's packages", e))?;
        }
        let code = CString::new(include_str!("process_group.py")).expect("no NUL in the module");
        PyModule::from_code(py, &code, c"lrpo_process_group.py", c"lrpo_process_group").map(Bound::unbind).map_err(
            |e| {
                let at = venv.map_or("no venv (set VIRTUAL_ENV)".to_string(), |v| v.display().to_string());
                match python_error("importing torch.distributed", e) {
                    Error::Runtime(m) => Error::config(
                        "VIRTUAL_ENV",
                        format!("{m}; a data-parallel run needs torch in the project venv ({at})"),
                    ),
                    other => other,
                }
            },
        )
    })
}

/// Joins the process group; returns (rank, size) as torch.distributed sees them.
pub fn init(backend: &str, timeout_s: u64, device: usize) -> Result<(usize, usize)> {
    let module = load()?;
    let got = Python::with_gil(|py| {
        module.bind(py).getattr("init")?.call1((backend, timeout_s, device))?.extract::<(usize, usize)>()
    })
    .map_err(|e| python_error(&format!("joining the {backend} process group"), e))?;
    let _ = MODULE.set(module);
    Ok(got)
}

pub fn all_reduce_sum(buffer: FfiBuffer) -> Result<()> {
    let module = module()?;
    Python::with_gil(|py| {
        module.bind(py).getattr("all_reduce_sum")?.call1((
            buffer.ptr,
            buffer.len,
            buffer.element as u8,
            buffer.device,
        ))?;
        Ok(())
    })
    .map_err(|e| collective_error("all-reduce", e))
}

/// Every rank's `data`, in rank order.
pub fn all_gather_bytes(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let module = module()?;
    Python::with_gil(|py| {
        module.bind(py).getattr("all_gather_bytes")?.call1((PyBytes::new(py, data),))?.extract::<Vec<Vec<u8>>>()
    })
    .map_err(|e| collective_error("all-gather", e))
}

pub fn shutdown() {
    if let Some(module) = MODULE.get() {
        let _ = Python::with_gil(|py| module.bind(py).getattr("shutdown")?.call0().map(|_| ()));
    }
}
