//! Dequantization of the GGML block formats the shipped models use. Each block covers 32
//! consecutive weights of a row; byte `j` of the nibble array holds weight `j` in its low half
//! and weight `j + 16` in its high half.

use half::f16;
use lrpo_core::{Error, Result};

pub const BLOCK: usize = 32;

/// Block formats, by their GGML type id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    BF16,
}

impl GgmlType {
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            30 => GgmlType::BF16,
            _ => return None,
        })
    }

    /// Bytes taken by `n` elements, or `None` when `n` does not fill whole blocks.
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        let per_block = |bytes: usize| n.is_multiple_of(BLOCK).then_some(n / BLOCK * bytes);
        match self {
            GgmlType::F32 => Some(n * 4),
            GgmlType::F16 | GgmlType::BF16 => Some(n * 2),
            GgmlType::Q4_0 => per_block(18),
            GgmlType::Q4_1 => per_block(20),
            GgmlType::Q8_0 => per_block(34),
        }
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Decodes `n` elements of type `ty` from `bytes` (which must be exactly their size).
pub fn dequantize(ty: GgmlType, bytes: &[u8], n: usize, what: &str) -> Result<Vec<f32>> {
    let expected = ty
        .bytes_for(n)
        .ok_or_else(|| Error::input(what, format!("{n} elements are not whole {ty:?} blocks of {BLOCK}")))?;
    if bytes.len() != expected {
        return Err(Error::input(
            what,
            format!("{ty:?} data of {} bytes, expected {expected} for {n} elements", bytes.len()),
        ));
    }
    let mut out = Vec::with_capacity(n);
    match ty {
        GgmlType::F32 => out.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        GgmlType::F16 => out.extend(bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())),
        GgmlType::BF16 => out.extend(bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())),
        GgmlType::Q4_0 => {
            for blk in bytes.chunks_exact(18) {
                let d = f16_at(blk, 0);
                let qs = &blk[2..18];
                out.extend(qs.iter().map(|&q| ((q & 0x0F) as i32 - 8) as f32 * d));
                out.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
            }
        }
        GgmlType::Q4_1 => {
            for blk in bytes.chunks_exact(20) {
                let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                let qs = &blk[4..20];
                out.extend(qs.iter().map(|&q| (q & 0x0F) as f32 * d + m));
                out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
            }
        }
        GgmlType::Q8_0 => {
            for blk in bytes.chunks_exact(34) {
                let d = f16_at(blk, 0);
                out.extend(blk[2..34].iter().map(|&q| q as i8 as f32 * d));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_header(d: f32) -> Vec<u8> {
        f16::from_f32(d).to_le_bytes().to_vec()
    }

    #[test]
    fn q4_0_low_nibbles_first_then_high() {
        let mut blk = block_header(0.5);
        blk.extend((0..16u8).map(|j| (15 - j) << 4 | j));
        let v = dequantize(GgmlType::Q4_0, &blk, 32, "t").unwrap();
        assert_eq!(v[0], -4.0); // (0 - 8) * 0.5
        assert_eq!(v[15], 3.5); // (15 - 8) * 0.5
        assert_eq!(v[16], 3.5); // high nibble of byte 0 is 15
        assert_eq!(v[31], -4.0);
    }

    #[test]
    fn q4_1_adds_minimum() {
        let mut blk = block_header(2.0);
        blk.extend(block_header(-1.0));
        blk.extend(std::iter::repeat_n(0x31u8, 16));
        let v = dequantize(GgmlType::Q4_1, &blk, 32, "t").unwrap();
        assert_eq!(v[0], 1.0); // 1 * 2 - 1
        assert_eq!(v[16], 5.0); // 3 * 2 - 1
    }

    #[test]
    fn q8_0_is_signed() {
        let mut blk = block_header(0.25);
        blk.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let v = dequantize(GgmlType::Q8_0, &blk, 32, "t").unwrap();
        assert_eq!(v[0], -4.0);
        assert_eq!(v[31], 3.75);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        assert!(dequantize(GgmlType::Q8_0, &[0u8; 33], 32, "t").is_err());
        assert!(dequantize(GgmlType::Q4_0, &[0u8; 18], 31, "t").is_err());
    }
}
