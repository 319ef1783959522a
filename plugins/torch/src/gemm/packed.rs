//! f32 linear layers through MKL's packed GEMM, for decoding on the CPU.
//!
//! A decoding step multiplies a handful of rows (one per sequence) by every weight of the
//! model. For such thin products MKL's plain `sgemm`, which libtorch's `linear` calls,
//! re-lays out the weight on every call; MKL's packed API (`cblas_sgemm_pack` once,
//! `cblas_sgemm_compute` per step) does that once per weight. On SmolLM2-135M's shapes, 2
//! threads of an AMX Xeon, 16-32 rows: 1.5-2x faster per product (the 49152 x 576 output
//! projection at 32 rows: 23.5 ms against 15.5 ms), with the same sums (bitwise equal to
//! `linear` on most shapes, within 1e-4 on the rest). At a hundred rows and more the gain is
//! gone, so [`PackedWeight::apply`] is for decoding only.
//!
//! libtorch uses the same API inside its `mkl::_mkl_linear` operator, but that operator is not
//! part of the ATen API tch exposes, so the two functions are looked up in the already-loaded
//! `libtorch_cpu.so` (which exports MKL's CBLAS) at run time. A libtorch built without MKL
//! simply has no packed path: [`available`] is false and callers use `linear`.

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

use tch::{Device, Kind, Tensor};

// CBLAS enumerators (mkl_cblas.h).
const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;
const PACKED: c_int = 151;
const B_MATRIX: c_int = 162;

type PackGetSize = unsafe extern "C" fn(identifier: c_int, m: c_int, n: c_int, k: c_int) -> usize;
type Pack = unsafe extern "C" fn(
    layout: c_int,
    identifier: c_int,
    trans: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: f32,
    src: *const f32,
    ld: c_int,
    dest: *mut f32,
);
type Compute = unsafe extern "C" fn(
    layout: c_int,
    transa: c_int,
    transb: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    a: *const f32,
    lda: c_int,
    b: *const f32,
    ldb: c_int,
    beta: f32,
    c: *mut f32,
    ldc: c_int,
);

struct Mkl {
    get_size: PackGetSize,
    pack: Pack,
    compute: Compute,
}

fn mkl() -> Option<&'static Mkl> {
    static MKL: OnceLock<Option<Mkl>> = OnceLock::new();
    MKL.get_or_init(|| {
        if std::env::var_os("LRPO_PACKED_GEMM").is_some_and(|v| v == "0") {
            return None;
        }
        // SAFETY: RTLD_NOLOAD only returns a handle to a library already in the process (this
        // crate links libtorch_cpu.so, so it is), and the handle is never closed. The symbols
        // have the CBLAS signatures declared above (LP64 interface: 32-bit integers).
        unsafe {
            let lib = libc::dlopen(c"libtorch_cpu.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
            if lib.is_null() {
                return None;
            }
            let find = |name: &std::ffi::CStr| -> Option<*mut c_void> {
                let p = libc::dlsym(lib, name.as_ptr());
                (!p.is_null()).then_some(p)
            };
            Some(Mkl {
                get_size: std::mem::transmute::<*mut c_void, PackGetSize>(find(c"cblas_sgemm_pack_get_size")?),
                pack: std::mem::transmute::<*mut c_void, Pack>(find(c"cblas_sgemm_pack")?),
                compute: std::mem::transmute::<*mut c_void, Compute>(find(c"cblas_sgemm_compute")?),
            })
        }
    })
    .as_ref()
}

/// Whether this libtorch has MKL's packed GEMM (and `LRPO_PACKED_GEMM=0` did not turn it off).
pub fn available() -> bool {
    mkl().is_some()
}

/// Rows up to which [`PackedWeight::apply`] beats `linear` (measured on SmolLM2's shapes: a clear
/// gain at 16-32 rows, none left at about 100).
pub const MAX_ROWS: i64 = 64;

/// An f32 weight `[out, in]` packed for `x @ weight.T` with few rows of `x`.
pub struct PackedWeight {
    /// MKL's buffer. Its size query asks for several times the weight (room for every layout
    /// it might choose) and fills about the weight's size, so the buffer is an anonymous
    /// mapping, whose untouched pages take no memory.
    buffer: memmap2::MmapMut,
    out: i64,
    inp: i64,
}

impl std::fmt::Debug for PackedWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedWeight").field("out", &self.out).field("in", &self.inp).finish()
    }
}

fn to_int(n: i64) -> Option<c_int> {
    c_int::try_from(n).ok()
}

impl PackedWeight {
    /// Packs `weight` (f32, CPU, 2-D) for products with about `rows` rows; `None` where the
    /// packed GEMM does not apply (no MKL, another dtype or device, sizes past 32 bits).
    pub fn new(weight: &Tensor, rows: i64) -> Option<Self> {
        let mkl = mkl()?;
        let (out, inp) = weight.size2().ok()?;
        if weight.kind() != Kind::Float || weight.device() != Device::Cpu {
            return None;
        }
        let (m, n, k) = (to_int(rows.clamp(1, MAX_ROWS))?, to_int(out)?, to_int(inp)?);
        // SAFETY: a size query with valid dimensions.
        let bytes = unsafe { (mkl.get_size)(B_MATRIX, m, n, k) };
        let buffer = memmap2::MmapMut::map_anon(bytes.max(1)).ok()?;
        let mut packed = PackedWeight { buffer, out, inp };
        packed.repack(weight, rows)?;
        Some(packed)
    }

    /// Packs `weight` again into the same buffer, e.g. after the weights were updated. `None`
    /// (and the old contents) when its shape, dtype or device differ from the packed one.
    pub fn repack(&mut self, weight: &Tensor, rows: i64) -> Option<()> {
        let mkl = mkl()?;
        if weight.size() != [self.out, self.inp] || weight.kind() != Kind::Float || weight.device() != Device::Cpu {
            return None;
        }
        let weight = weight.detach().contiguous();
        let (m, n, k) = (to_int(rows.clamp(1, MAX_ROWS))?, to_int(self.out)?, to_int(self.inp)?);
        // SAFETY: `weight` is a contiguous f32 [n, k] CPU tensor alive for the call, read as the
        // transposed B of `x @ B` with leading dimension k; the buffer has the size MKL asked
        // for these dimensions.
        unsafe {
            (mkl.pack)(
                ROW_MAJOR,
                B_MATRIX,
                TRANS,
                m,
                n,
                k,
                1.0,
                weight.data_ptr() as *const f32,
                k,
                self.buffer.as_mut_ptr() as *mut f32,
            );
        }
        Some(())
    }

    /// `x @ weight.T` for `x` `[..., in]` (f32, CPU); `[..., out]`. No autograd: the caller
    /// checks that nothing needs gradients.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let mkl = mkl().expect("a PackedWeight exists only where MKL's packed GEMM does");
        let mut size = x.size();
        assert_eq!(size.last().copied(), Some(self.inp), "packed GEMM: input width");
        assert!(x.kind() == Kind::Float && x.device() == Device::Cpu, "packed GEMM: f32 CPU input");
        let x = x.contiguous();
        let rows = x.numel() as i64 / self.inp.max(1);
        *size.last_mut().expect("at least one dim") = self.out;
        let y = Tensor::empty(size.as_slice(), (Kind::Float, Device::Cpu));
        let (m, n, k) = (
            to_int(rows).expect("packed GEMM: rows fit 32 bits"),
            to_int(self.out).expect("checked when packed"),
            to_int(self.inp).expect("checked when packed"),
        );
        if m == 0 {
            return y;
        }
        // SAFETY: `x` is contiguous f32 [m, k], `y` contiguous f32 [m, n], both alive for the
        // call; the buffer holds B packed for n x k by `cblas_sgemm_pack`.
        unsafe {
            (mkl.compute)(
                ROW_MAJOR,
                NO_TRANS,
                PACKED,
                m,
                n,
                k,
                x.data_ptr() as *const f32,
                k,
                self.buffer.as_ptr() as *const f32,
                k,
                0.0,
                y.data_ptr() as *mut f32,
                n,
            );
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_products_equal_linear_at_every_row_count() {
        if !available() {
            eprintln!("skipped: this libtorch has no MKL packed GEMM");
            return;
        }
        tch::manual_seed(3);
        let w = Tensor::randn([96, 40], (Kind::Float, Device::Cpu));
        let packed = PackedWeight::new(&w, 16).expect("f32 CPU weight packs");
        for rows in [1, 5, 16, 33, 64] {
            let x = Tensor::randn([rows, 40], (Kind::Float, Device::Cpu));
            let diff = (packed.apply(&x) - x.linear::<Tensor>(&w, None)).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{rows} rows: {diff}");
        }
        // Leading dims are kept; a transposed view is read as its values.
        let x = Tensor::randn([2, 40, 3], (Kind::Float, Device::Cpu)).transpose(1, 2);
        assert_eq!(packed.apply(&x).size(), [2, 3, 96]);
        let diff = (packed.apply(&x) - x.linear::<Tensor>(&w, None)).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "3-d input: {diff}");
    }

    #[test]
    fn repacking_follows_the_new_weights_and_refuses_another_shape() {
        if !available() {
            eprintln!("skipped: this libtorch has no MKL packed GEMM");
            return;
        }
        tch::manual_seed(4);
        let w = Tensor::randn([32, 24], (Kind::Float, Device::Cpu));
        let mut packed = PackedWeight::new(&w, 8).expect("packs");
        let x = Tensor::randn([8, 24], (Kind::Float, Device::Cpu));
        let w2 = &w * 2.0 + 1.0;
        packed.repack(&w2, 8).expect("same shape repacks");
        let diff = (packed.apply(&x) - x.linear::<Tensor>(&w2, None)).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "after repacking: {diff}");
        assert!(packed.repack(&Tensor::zeros([24, 32], (Kind::Float, Device::Cpu)), 8).is_none());
        assert!(packed.repack(&w2.to_kind(Kind::BFloat16), 8).is_none());
        assert!(PackedWeight::new(&w.to_kind(Kind::BFloat16), 8).is_none(), "f32 only");
    }
}
