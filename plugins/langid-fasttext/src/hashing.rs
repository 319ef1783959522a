//! fastText's string hash and the open-addressed tables that map hashes to rows.

/// FNV-1a offset basis (32-bit).
pub(crate) const FNV_OFFSET: u32 = 2_166_136_261;
const FNV_PRIME: u32 = 16_777_619;

/// One FNV-1a step. The C++ hashes `int8_t(c)`, so bytes >= 0x80 are sign-extended before
/// the xor; without that quirk every non-ASCII n-gram lands in the wrong bucket.
#[inline(always)]
pub(crate) fn fnv_step(h: u32, byte: u8) -> u32 {
    (h ^ (byte as i8 as i32 as u32)).wrapping_mul(FNV_PRIME)
}

/// `Dictionary::hash` of the C++.
#[inline]
pub fn fasttext_hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

#[inline(always)]
fn slot_of(key: u32, shift: u32) -> usize {
    // Fibonacci hashing spreads both FNV values and small bucket ids over the table.
    (key.wrapping_mul(0x9E37_79B1) >> shift) as usize
}

fn table_shift(len: usize) -> (usize, u32) {
    let capacity = (len.max(1) * 2).next_power_of_two().max(2);
    (capacity, 32 - capacity.trailing_zeros())
}

/// u32 -> u32 map with linear probing; small and cache-friendly for the pruned n-gram index
/// (`pruneidx` in the C++, tens of thousands of entries looked up hundreds of times a line).
pub(crate) struct U32Map {
    keys: Vec<u32>,
    values: Vec<u32>,
    occupied: Vec<bool>,
    mask: usize,
    shift: u32,
}

impl U32Map {
    pub(crate) fn with_len(len: usize) -> Self {
        let (capacity, shift) = table_shift(len);
        U32Map {
            keys: vec![0; capacity],
            values: vec![0; capacity],
            occupied: vec![false; capacity],
            mask: capacity - 1,
            shift,
        }
    }

    /// Later inserts of the same key win, as with `std::unordered_map::operator[]`.
    pub(crate) fn insert(&mut self, key: u32, value: u32) {
        let mut slot = slot_of(key, self.shift);
        while self.occupied[slot] && self.keys[slot] != key {
            slot = (slot + 1) & self.mask;
        }
        self.keys[slot] = key;
        self.values[slot] = value;
        self.occupied[slot] = true;
    }

    pub(crate) fn max_value(&self) -> Option<u32> {
        self.values.iter().zip(&self.occupied).filter(|(_, &o)| o).map(|(&v, _)| v).max()
    }

    #[inline]
    pub(crate) fn get(&self, key: u32) -> Option<u32> {
        let mut slot = slot_of(key, self.shift);
        while self.occupied[slot] {
            if self.keys[slot] == key {
                return Some(self.values[slot]);
            }
            slot = (slot + 1) & self.mask;
        }
        None
    }
}

/// Byte-string -> entry id, keyed by the fastText hash the tokenizer computes anyway.
pub(crate) struct StringTable {
    hashes: Vec<u32>,
    /// Entry id + 1; 0 marks an empty slot.
    ids: Vec<u32>,
    mask: usize,
    shift: u32,
}

impl StringTable {
    pub(crate) fn with_len(len: usize) -> Self {
        let (capacity, shift) = table_shift(len);
        StringTable { hashes: vec![0; capacity], ids: vec![0; capacity], mask: capacity - 1, shift }
    }

    /// `entry(id)` gives the bytes of an already inserted id. A repeated string takes the
    /// later id, as `word2int_` does in the C++ loader.
    pub(crate) fn insert<'a>(&mut self, bytes: &[u8], hash: u32, id: u32, entry: impl Fn(u32) -> &'a [u8]) {
        let mut slot = slot_of(hash, self.shift);
        while self.ids[slot] != 0 {
            if self.hashes[slot] == hash && entry(self.ids[slot] - 1) == bytes {
                break;
            }
            slot = (slot + 1) & self.mask;
        }
        self.hashes[slot] = hash;
        self.ids[slot] = id + 1;
    }

    #[inline]
    pub(crate) fn get<'a>(&self, bytes: &[u8], hash: u32, entry: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        let mut slot = slot_of(hash, self.shift);
        while self.ids[slot] != 0 {
            if self.hashes[slot] == hash && entry(self.ids[slot] - 1) == bytes {
                return Some(self.ids[slot] - 1);
            }
            slot = (slot + 1) & self.mask;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_fnv1a_for_ascii() {
        // Published FNV-1a 32-bit test values.
        assert_eq!(fasttext_hash(b""), 0x811c9dc5);
        assert_eq!(fasttext_hash(b"a"), 0xe40c292c);
        assert_eq!(fasttext_hash(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn hash_sign_extends_high_bytes() {
        // Plain FNV-1a would xor 0xC3 here; the C++ xors 0xFFFFFFC3.
        let plain = (FNV_OFFSET ^ 0xC3).wrapping_mul(FNV_PRIME);
        let quirk = (FNV_OFFSET ^ 0xFFFF_FFC3).wrapping_mul(FNV_PRIME);
        assert_eq!(fasttext_hash(&[0xC3]), quirk);
        assert_ne!(quirk, plain);
    }

    #[test]
    fn u32_map_last_insert_wins_and_misses_are_none() {
        let mut m = U32Map::with_len(3);
        m.insert(7, 1);
        m.insert(2_000_000, 2);
        m.insert(7, 3);
        assert_eq!(m.get(7), Some(3));
        assert_eq!(m.get(2_000_000), Some(2));
        assert_eq!(m.get(8), None);
    }

    #[test]
    fn string_table_finds_entries() {
        let words: Vec<&[u8]> = vec![b"de", b"la", b"de"];
        let mut t = StringTable::with_len(words.len());
        for (i, w) in words.iter().enumerate() {
            t.insert(w, fasttext_hash(w), i as u32, |id| words[id as usize]);
        }
        assert_eq!(t.get(b"de", fasttext_hash(b"de"), |id| words[id as usize]), Some(2));
        assert_eq!(t.get(b"la", fasttext_hash(b"la"), |id| words[id as usize]), Some(1));
        assert_eq!(t.get(b"xx", fasttext_hash(b"xx"), |id| words[id as usize]), None);
    }
}
