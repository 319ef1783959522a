//! A bounds-checked little-endian cursor over a model file held in memory. Every read names
//! the field it is for, so a truncated or corrupt file reports where it went wrong instead of
//! panicking or allocating whatever a garbage length asks for.

use lrpo_core::Error;

pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    source: &'a str,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], source: &'a str) -> Self {
        ByteReader { bytes, pos: 0, source }
    }

    /// An error about the bytes at the current position.
    pub(crate) fn error(&self, field: &str, message: impl std::fmt::Display) -> Error {
        Error::input(
            format!("{} (byte {}, field `{field}`)", self.source, self.pos),
            format!("corrupt fastText model: {message}"),
        )
    }

    fn take(&mut self, len: usize, field: &str) -> lrpo_core::Result<&'a [u8]> {
        let left = self.bytes.len() - self.pos;
        if len > left {
            return Err(self.error(
                field,
                format!("file is truncated: needs {len} more bytes, only {left} left of {}", self.bytes.len()),
            ));
        }
        let out = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &str) -> lrpo_core::Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn i32(&mut self, field: &str) -> lrpo_core::Result<i32> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn i64(&mut self, field: &str) -> lrpo_core::Result<i64> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn f64(&mut self, field: &str) -> lrpo_core::Result<f64> {
        Ok(f64::from_le_bytes(self.array(field)?))
    }
    pub(crate) fn u8(&mut self, field: &str) -> lrpo_core::Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }
    /// A C++ `bool` as fastText writes it: one byte, 0 or 1.
    pub(crate) fn bool(&mut self, field: &str) -> lrpo_core::Result<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => {
                self.pos -= 1;
                Err(self.error(field, format!("expected a boolean 0 or 1, found {other}")))
            }
        }
    }

    /// A non-negative count, checked to fit `usize`.
    pub(crate) fn count_i32(&mut self, field: &str) -> lrpo_core::Result<usize> {
        let v = self.i32(field)?;
        usize::try_from(v).map_err(|_| self.error(field, format!("negative count {v}")))
    }
    pub(crate) fn count_i64(&mut self, field: &str) -> lrpo_core::Result<usize> {
        let v = self.i64(field)?;
        usize::try_from(v).map_err(|_| self.error(field, format!("negative count {v}")))
    }

    /// Bytes up to (not including) the next NUL, which is consumed.
    pub(crate) fn c_string(&mut self, field: &str) -> lrpo_core::Result<&'a [u8]> {
        let rest = &self.bytes[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(self.error(field, "file is truncated inside a NUL-terminated string"));
        };
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    pub(crate) fn bytes(&mut self, len: usize, field: &str) -> lrpo_core::Result<&'a [u8]> {
        self.take(len, field)
    }

    /// `len` little-endian f32 values; the length is checked against the file before allocating.
    pub(crate) fn f32_vec(&mut self, len: usize, field: &str) -> lrpo_core::Result<Vec<f32>> {
        let n_bytes = len
            .checked_mul(4)
            .ok_or_else(|| self.error(field, format!("float array of {len} elements is too large")))?;
        let start = self.pos;
        let raw = self.take(n_bytes, field)?;
        let values: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        // The C++ throws on a NaN during prediction; a weight that is not finite can only come
        // from a damaged file, so refuse it up front.
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            self.pos = start + bad * 4;
            return Err(self.error(field, format!("weight {bad} is {}", values[bad])));
        }
        Ok(values)
    }
}
