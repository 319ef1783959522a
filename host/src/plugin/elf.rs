//! A bounds check of an ELF file before it is handed to the dynamic loader. glibc maps the
//! segments a truncated library promises and the process dies with SIGBUS when it touches
//! the missing pages, so "every segment and table lies inside the file" must be checked here.
//! Only a few header fields are read; a full ELF parser would be more than this needs.

use std::path::Path;

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// `Ok(())` for a plausible 64-bit little-endian shared object whose program headers,
/// section headers and segments lie inside the file; otherwise what is wrong.
pub fn check_shared_object(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err("not a shared library (no ELF header)".into());
    }
    let len = bytes.len() as u64;
    let truncated = || format!("truncated or corrupt shared library ({len} bytes)");
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian shared library".into());
    }
    let e_type = u16_at(&bytes, 0x10).ok_or_else(truncated)?;
    if e_type != 3 {
        return Err(format!("an ELF file but not a shared library (e_type {e_type})"));
    }
    let field = |v: Option<u64>| v.ok_or_else(truncated);
    let phoff = field(u64_at(&bytes, 0x20))?;
    let shoff = field(u64_at(&bytes, 0x28))?;
    let phentsize = field(u16_at(&bytes, 0x36))?;
    let phnum = field(u16_at(&bytes, 0x38))?;
    let shentsize = field(u16_at(&bytes, 0x3a))?;
    let shnum = field(u16_at(&bytes, 0x3c))?;
    let within = |off: u64, size: u64| off.checked_add(size).is_some_and(|end| end <= len);
    if !within(phoff, phentsize * phnum) || !within(shoff, shentsize * shnum) {
        return Err(truncated());
    }
    for i in 0..phnum {
        let at = (phoff + i * phentsize) as usize;
        let offset = field(u64_at(&bytes, at + 8))?;
        let filesz = field(u64_at(&bytes, at + 32))?;
        if !within(offset, filesz) {
            return Err(truncated());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("a.so");
        std::fs::write(&text, "hello").unwrap();
        assert_eq!(check_shared_object(&text).unwrap_err(), "not a shared library (no ELF header)");
        // This test binary is an ELF executable or PIE; cut it short.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let cut = dir.path().join("cut.so");
        std::fs::write(&cut, &me[..200]).unwrap();
        assert!(check_shared_object(&cut).is_err());
    }
}
