//! Device names, and the CUDA backend a CUDA device needs in the process.

use lrpo_torch::parse_device;
use tch::Device;

fn mapped(library: &str) -> bool {
    std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps").contains(library)
}

#[test]
fn a_cuda_device_loads_libtorch_cuda_which_nothing_links() {
    // The tch libraries are linked without libtorch_cuda (nothing calls into it); without it in
    // the process libtorch sees no GPU at all.
    assert_eq!(parse_device("device", "cpu").unwrap(), Device::Cpu);
    assert_eq!(parse_device("device", "cuda:1").unwrap(), Device::Cuda(1));
    // The project's torch wheel is a CUDA build, so its backend loads here too, GPU or not.
    assert!(mapped("libtorch_cuda.so"), "libtorch_cuda.so is not mapped after asking for cuda:1");
    assert_eq!(parse_device("device", "cuda").unwrap(), Device::Cuda(0), "a second load is a no-op");
    let err = parse_device("components.optimizer.grpo.config.device", "tpu").unwrap_err().to_string();
    assert!(err.contains("unknown device `tpu`"), "{err}");
}
