//! Input and output matrices: dense f32, or product-quantized (`QuantMatrix` with a
//! `ProductQuantizer`, optionally with quantized row norms) as `.ftz` files store them.

use crate::reader::ByteReader;

/// Centroids per sub-quantizer (8-bit codes).
const KSUB: usize = 256;
/// Quantized input matrices up to this many values are expanded to f32 at load: summing a
/// dense row is several times faster than decoding codes, and `norm * centroid` rounds the
/// same either way, so the sums are bit-identical.
const DEQUANTIZE_LIMIT: usize = 64 << 20;

#[derive(Debug, Clone)]
pub(crate) struct DenseMatrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    data: Vec<f32>,
}

impl DenseMatrix {
    fn read(r: &mut ByteReader<'_>, name: &str) -> lrpo_core::Result<Self> {
        let rows = r.count_i64(&format!("{name}.m"))?;
        let cols = r.count_i64(&format!("{name}.n"))?;
        let len =
            rows.checked_mul(cols).ok_or_else(|| r.error(name, format!("{rows} x {cols} matrix is too large")))?;
        let data = r.f32_vec(len, &format!("{name}.data"))?;
        Ok(DenseMatrix { rows, cols, data })
    }

    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Sequential f32 accumulation, the order `DenseMatrix::dotRow` uses.
    #[inline]
    pub(crate) fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        self.row(i).iter().zip(x).fold(0.0f32, |d, (&a, &b)| d + a * b)
    }
}

#[derive(Debug, Clone)]
struct ProductQuantizer {
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn read(r: &mut ByteReader<'_>, name: &str, expected_dim: usize) -> lrpo_core::Result<Self> {
        let dim = r.count_i32(&format!("{name}.dim"))?;
        let nsubq = r.count_i32(&format!("{name}.nsubq"))?;
        let dsub = r.count_i32(&format!("{name}.dsub"))?;
        let lastdsub = r.count_i32(&format!("{name}.lastdsub"))?;
        let covered =
            nsubq.checked_sub(1).and_then(|full| full.checked_mul(dsub)).and_then(|d| d.checked_add(lastdsub));
        if dim != expected_dim || covered != Some(dim) {
            return Err(r.error(
                name,
                format!(
                    "quantizer of dim {dim} with {nsubq} sub-quantizers of {dsub} (last {lastdsub}) \
                     does not cover the matrix width {expected_dim}"
                ),
            ));
        }
        let centroids = r.f32_vec(dim.saturating_mul(KSUB), &format!("{name}.centroids"))?;
        Ok(ProductQuantizer { nsubq, dsub, lastdsub, centroids })
    }

    /// `get_centroids`: the last sub-quantizer has its own width.
    #[inline]
    fn centroid(&self, m: usize, code: u8) -> &[f32] {
        let code = code as usize;
        if m + 1 == self.nsubq {
            let start = m * KSUB * self.dsub + code * self.lastdsub;
            &self.centroids[start..start + self.lastdsub]
        } else {
            let start = (m * KSUB + code) * self.dsub;
            &self.centroids[start..start + self.dsub]
        }
    }

    fn add_code(&self, x: &mut [f32], codes: &[u8], alpha: f32) {
        for (m, &code) in codes.iter().enumerate() {
            let c = self.centroid(m, code);
            for (xi, &ci) in x[m * self.dsub..].iter_mut().zip(c) {
                *xi += alpha * ci;
            }
        }
    }

    fn mul_code(&self, x: &[f32], codes: &[u8], alpha: f32) -> f32 {
        let mut res = 0.0f32;
        for (m, &code) in codes.iter().enumerate() {
            let c = self.centroid(m, code);
            for (&xi, &ci) in x[m * self.dsub..].iter().zip(c) {
                res += xi * ci;
            }
        }
        res * alpha
    }
}

#[derive(Debug, Clone)]
pub(crate) struct QuantMatrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    codes: Vec<u8>,
    pq: ProductQuantizer,
    norms: Option<(Vec<u8>, ProductQuantizer)>,
}

impl QuantMatrix {
    fn read(r: &mut ByteReader<'_>, name: &str) -> lrpo_core::Result<Self> {
        let qnorm = r.bool(&format!("{name}.qnorm"))?;
        let rows = r.count_i64(&format!("{name}.m"))?;
        let cols = r.count_i64(&format!("{name}.n"))?;
        let codesize = r.count_i32(&format!("{name}.codesize"))?;
        let codes = r.bytes(codesize, &format!("{name}.codes"))?.to_vec();
        let pq = ProductQuantizer::read(r, &format!("{name}.pq"), cols)?;
        if rows.checked_mul(pq.nsubq) != Some(codesize) {
            return Err(r.error(
                &format!("{name}.codesize"),
                format!("{codesize} codes for {rows} rows of {} sub-quantizers", pq.nsubq),
            ));
        }
        let norms = if qnorm {
            let norm_codes = r.bytes(rows, &format!("{name}.norm_codes"))?.to_vec();
            let npq = ProductQuantizer::read(r, &format!("{name}.npq"), 1)?;
            Some((norm_codes, npq))
        } else {
            None
        };
        Ok(QuantMatrix { rows, cols, codes, pq, norms })
    }

    #[inline]
    fn norm(&self, i: usize) -> f32 {
        match &self.norms {
            Some((codes, npq)) => npq.centroid(0, codes[i])[0],
            None => 1.0,
        }
    }

    #[inline]
    fn row_codes(&self, i: usize) -> &[u8] {
        &self.codes[i * self.pq.nsubq..(i + 1) * self.pq.nsubq]
    }

    pub(crate) fn add_row_to(&self, x: &mut [f32], i: usize) {
        self.pq.add_code(x, self.row_codes(i), self.norm(i));
    }

    pub(crate) fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        self.pq.mul_code(x, self.row_codes(i), self.norm(i))
    }

    fn dequantize(&self) -> DenseMatrix {
        let mut data = vec![0.0f32; self.rows * self.cols];
        for (i, row) in data.chunks_exact_mut(self.cols.max(1)).enumerate() {
            self.add_row_to(row, i);
        }
        DenseMatrix { rows: self.rows, cols: self.cols, data }
    }
}

/// The word/n-gram embedding table.
#[derive(Debug, Clone)]
pub(crate) enum InputMatrix {
    Dense(DenseMatrix),
    Quantized(QuantMatrix),
}

impl InputMatrix {
    pub(crate) fn read(r: &mut ByteReader<'_>, quantized: bool) -> lrpo_core::Result<Self> {
        if !quantized {
            return Ok(InputMatrix::Dense(DenseMatrix::read(r, "input")?));
        }
        let q = QuantMatrix::read(r, "input")?;
        Ok(if q.rows.saturating_mul(q.cols) <= DEQUANTIZE_LIMIT {
            InputMatrix::Dense(q.dequantize())
        } else {
            InputMatrix::Quantized(q)
        })
    }

    /// Keeps the codes as they are, for checking that expansion changes no sum.
    #[cfg(test)]
    pub(crate) fn read_keep_quantized(r: &mut ByteReader<'_>) -> lrpo_core::Result<Self> {
        Ok(InputMatrix::Quantized(QuantMatrix::read(r, "input")?))
    }

    pub(crate) fn shape(&self) -> (usize, usize) {
        match self {
            InputMatrix::Dense(m) => (m.rows, m.cols),
            InputMatrix::Quantized(m) => (m.rows, m.cols),
        }
    }

    #[inline]
    pub(crate) fn add_row_to(&self, x: &mut [f32], i: usize) {
        match self {
            InputMatrix::Dense(m) => {
                for (xi, &v) in x.iter_mut().zip(m.row(i)) {
                    *xi += v;
                }
            }
            InputMatrix::Quantized(m) => m.add_row_to(x, i),
        }
    }
}

/// The label (or tree-node) weights.
#[derive(Debug, Clone)]
pub(crate) enum OutputMatrix {
    Dense(DenseMatrix),
    Quantized(QuantMatrix),
}

impl OutputMatrix {
    pub(crate) fn read(r: &mut ByteReader<'_>, quantized: bool) -> lrpo_core::Result<Self> {
        Ok(if quantized {
            OutputMatrix::Quantized(QuantMatrix::read(r, "output")?)
        } else {
            OutputMatrix::Dense(DenseMatrix::read(r, "output")?)
        })
    }

    pub(crate) fn shape(&self) -> (usize, usize) {
        match self {
            OutputMatrix::Dense(m) => (m.rows, m.cols),
            OutputMatrix::Quantized(m) => (m.rows, m.cols),
        }
    }

    #[inline]
    pub(crate) fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        match self {
            OutputMatrix::Dense(m) => m.dot_row(x, i),
            OutputMatrix::Quantized(m) => m.dot_row(x, i),
        }
    }
}
