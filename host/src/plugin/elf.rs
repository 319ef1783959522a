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
    let mut dynamic = None;
    for i in 0..phnum {
        let at = (phoff + i * phentsize) as usize;
        let p_type = field(u32_at(&bytes, at))?;
        let offset = field(u64_at(&bytes, at + 8))?;
        let filesz = field(u64_at(&bytes, at + 32))?;
        if !within(offset, filesz) {
            return Err(truncated());
        }
        if p_type == PT_DYNAMIC {
            dynamic = Some((offset, filesz));
        }
    }
    // The dynamic loader trusts the dynamic section: one with its string or symbol table
    // missing (zeroed, say) makes it dereference garbage and the process dies with SIGSEGV.
    let Some((offset, size)) = dynamic else {
        return Err("a shared library without a dynamic section (not loadable)".into());
    };
    let mut seen = [false; 3];
    for entry in (offset..offset + size).step_by(16) {
        let tag = field(u64_at(&bytes, entry as usize))?;
        if tag == DT_NULL {
            break;
        }
        if let Some(i) = [DT_STRTAB, DT_SYMTAB, DT_STRSZ].iter().position(|t| *t == tag) {
            seen[i] = true;
        }
    }
    if seen != [true; 3] {
        return Err("corrupt shared library: its dynamic section has no string or symbol table".into());
    }
    Ok(())
}

const PT_DYNAMIC: u64 = 2;
const DT_NULL: u64 = 0;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_STRSZ: u64 = 10;

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}

/// Where the dynamic section of a shared object lies in the file (for tests that damage it).
pub fn dynamic_section(bytes: &[u8]) -> Option<(usize, usize)> {
    let (phoff, phentsize, phnum) = (u64_at(bytes, 0x20)?, u16_at(bytes, 0x36)?, u16_at(bytes, 0x38)?);
    (0..phnum).map(|i| (phoff + i * phentsize) as usize).find_map(|at| {
        (u32_at(bytes, at)? == PT_DYNAMIC)
            .then(|| Some((u64_at(bytes, at + 8)? as usize, u64_at(bytes, at + 32)? as usize)))?
    })
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

    #[test]
    fn a_zeroed_dynamic_section_is_refused() {
        // This test binary is a PIE with a dynamic section: it passes, then fails once zeroed.
        let dir = tempfile::tempdir().unwrap();
        let mut me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        me[0x10] = 3; // e_type ET_DYN, as a shared library has
        let whole = dir.path().join("whole.so");
        std::fs::write(&whole, &me).unwrap();
        assert_eq!(check_shared_object(&whole), Ok(()));
        let (offset, size) = dynamic_section(&me).expect("a PIE has a dynamic section");
        me[offset..offset + size].fill(0);
        let zeroed = dir.path().join("zeroed.so");
        std::fs::write(&zeroed, &me).unwrap();
        let err = check_shared_object(&zeroed).unwrap_err();
        assert!(err.contains("dynamic section has no string or symbol table"), "{err}");
    }
}
