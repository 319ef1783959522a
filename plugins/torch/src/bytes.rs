//! A bounds-checked little-endian reader over a file's bytes, shared by the GGUF and E5S1
//! parsers: every short read is an error naming the file and the offset, never a panic.

use lrpo_core::{Error, Result};

pub(crate) struct ByteReader<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
    source: &'a str,
}

impl<'a> ByteReader<'a> {
    pub fn new(bytes: &'a [u8], source: &'a str) -> Self {
        ByteReader { bytes, pos: 0, source }
    }
    /// An input error located at the current offset.
    pub fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::input(format!("{} at byte {}", self.source, self.pos), msg.to_string())
    }
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.err(format!("truncated: need {n} more bytes")))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.arr()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    pub fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.arr()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_reports_truncation_with_the_offset() {
        let bytes = [1u8, 2, 0, 3, 0, 0, 0, 9];
        let mut r = ByteReader::new(&bytes, "f.bin");
        assert_eq!((r.u8().unwrap(), r.u16().unwrap(), r.u32().unwrap()), (1, 2, 3));
        assert_eq!(r.remaining(), 1);
        let err = r.u32().unwrap_err().to_string();
        assert!(err.contains("f.bin at byte 7") && err.contains("truncated"), "{err}");
    }
}
