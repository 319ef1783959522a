//! The model's vocabulary and how a line of text becomes input-matrix rows
//! (`Dictionary::getLine` of the C++): words, character n-grams over `<word>`, word n-grams,
//! and the `</s>` end-of-line token.

use crate::args::ModelArgs;
use crate::hashing::{fasttext_hash, fnv_step, StringTable, U32Map, FNV_OFFSET};
use crate::reader::ByteReader;

/// End-of-line token; also ends the line when it appears literally in the text.
pub const EOS: &[u8] = b"</s>";
/// Tokens with this prefix are labels, never features.
pub const LABEL_PREFIX: &[u8] = b"__label__";
/// Multiplier of the C++ word n-gram hash.
const WORD_NGRAM_MULTIPLIER: u64 = 116_049_371;

/// Where hashed n-gram buckets live in the input matrix.
enum NgramRows {
    /// Row = nwords + bucket.
    Direct,
    /// Quantization with `-cutoff` kept only some buckets; the rest contribute nothing.
    Pruned(U32Map),
}

/// What a line's features need that outlives one line; reused to avoid allocating per text.
#[derive(Default)]
pub(crate) struct TokenScratch {
    bracketed: Vec<u8>,
    word_hashes: Vec<i32>,
}

pub(crate) struct Dictionary {
    nwords: usize,
    /// Entry bytes for words then labels; entry `i` is `text[offsets[i]..offsets[i + 1]]`.
    text: Vec<u8>,
    offsets: Vec<usize>,
    label_counts: Vec<i64>,
    table: StringTable,
    /// Per word: its own row, then its character n-gram rows (`getSubwords` of the C++).
    word_rows: Vec<u32>,
    word_row_offsets: Vec<usize>,
    ngram_rows: NgramRows,
    bucket: u32,
    minn: i32,
    maxn: i32,
    word_ngrams: i32,
}

#[inline(always)]
fn is_utf8_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The separators of the C++ `readWord`; Unicode spaces are ordinary token bytes there.
#[inline(always)]
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0B | 0x0C | 0)
}

impl Dictionary {
    /// Reads the dictionary section; `input_rows` (known only later) is checked by
    /// [`Dictionary::check_rows`].
    pub(crate) fn read(r: &mut ByteReader<'_>, args: &ModelArgs) -> lrpo_core::Result<Self> {
        let size = r.count_i32("dict.size")?;
        let nwords = r.count_i32("dict.nwords")?;
        let nlabels = r.count_i32("dict.nlabels")?;
        let _ntokens = r.i64("dict.ntokens")?;
        let prune_len = r.i64("dict.pruneidx_size")?;
        if nwords.checked_add(nlabels) != Some(size) {
            return Err(r.error("dict.size", format!("{size} entries but {nwords} words + {nlabels} labels")));
        }
        if nlabels == 0 {
            return Err(r.error("dict.nlabels", "the model has no labels"));
        }
        let mut text = Vec::new();
        let mut offsets = Vec::with_capacity(size.min(1 << 24) + 1);
        offsets.push(0);
        let mut label_counts = Vec::with_capacity(nlabels.min(1 << 16));
        for i in 0..size {
            let field = format!("dict.entry[{i}]");
            text.extend_from_slice(r.c_string(&field)?);
            offsets.push(text.len());
            let count = r.i64(&field)?;
            let kind = r.u8(&field)?;
            let expected = if i < nwords { 0 } else { 1 };
            if kind != expected {
                return Err(
                    r.error(&field, format!("entry type {kind}, expected {expected} (words come before labels)"))
                );
            }
            if i >= nwords {
                label_counts.push(count);
            }
        }
        let ngram_rows = if prune_len < 0 {
            NgramRows::Direct
        } else {
            let len = usize::try_from(prune_len).unwrap_or(usize::MAX);
            let pairs = r.bytes(len.saturating_mul(8), "dict.pruneidx")?;
            let mut map = U32Map::with_len(len);
            for pair in pairs.chunks_exact(8) {
                let bucket = i32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]);
                let row = i32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]);
                if row < 0 {
                    return Err(r.error("dict.pruneidx", format!("negative row {row}")));
                }
                if bucket >= 0 {
                    map.insert(bucket as u32, (nwords as u32).saturating_add(row as u32));
                }
            }
            NgramRows::Pruned(map)
        };

        let mut table = StringTable::with_len(size);
        for i in 0..size {
            let bytes = &text[offsets[i]..offsets[i + 1]];
            table.insert(bytes, fasttext_hash(bytes), i as u32, |id| {
                &text[offsets[id as usize]..offsets[id as usize + 1]]
            });
        }
        let mut dict = Dictionary {
            nwords,
            text,
            offsets,
            label_counts,
            table,
            word_rows: Vec::new(),
            word_row_offsets: vec![0],
            ngram_rows,
            bucket: args.bucket as u32,
            minn: args.minn,
            maxn: args.maxn,
            word_ngrams: args.word_ngrams,
        };
        dict.precompute_word_rows();
        Ok(dict)
    }

    fn precompute_word_rows(&mut self) {
        let mut rows = Vec::new();
        let mut offsets = Vec::with_capacity(self.nwords + 1);
        offsets.push(0);
        let mut bracketed = Vec::new();
        for w in 0..self.nwords {
            rows.push(w as u32);
            let word = self.entry(w);
            if word != EOS {
                bracket(word, &mut bracketed);
                self.char_ngrams(&bracketed, &mut |row| rows.push(row));
            }
            offsets.push(rows.len());
        }
        self.word_rows = rows;
        self.word_row_offsets = offsets;
    }

    fn entry(&self, i: usize) -> &[u8] {
        &self.text[self.offsets[i]..self.offsets[i + 1]]
    }

    pub(crate) fn nlabels(&self) -> usize {
        self.label_counts.len()
    }

    /// Label strings as stored (`__label__en`), in label-id order.
    pub(crate) fn labels(&self) -> impl Iterator<Item = String> + '_ {
        (self.nwords..self.offsets.len() - 1).map(|i| String::from_utf8_lossy(self.entry(i)).into_owned())
    }

    pub(crate) fn label_counts(&self) -> &[i64] {
        &self.label_counts
    }

    pub(crate) fn is_pruned(&self) -> bool {
        matches!(self.ngram_rows, NgramRows::Pruned(_))
    }

    /// The largest input-matrix row this dictionary can emit; the matrix must have it.
    pub(crate) fn max_row(&self) -> Option<usize> {
        let words = self.nwords.checked_sub(1);
        let ngrams = match &self.ngram_rows {
            NgramRows::Direct if self.bucket > 0 && (self.maxn > 0 || self.word_ngrams > 1) => {
                Some(self.nwords + self.bucket as usize - 1)
            }
            NgramRows::Direct => None,
            NgramRows::Pruned(map) => map.max_value().map(|r| r as usize),
        };
        words.max(ngrams)
    }

    #[inline]
    fn push_bucket(&self, bucket_id: u32, emit: &mut impl FnMut(u32)) {
        match &self.ngram_rows {
            NgramRows::Direct => emit(self.nwords as u32 + bucket_id),
            NgramRows::Pruned(map) => {
                if let Some(row) = map.get(bucket_id) {
                    emit(row)
                }
            }
        }
    }

    /// `computeSubwords`: n-grams of `minn..=maxn` code points over the bracketed word, except
    /// the lone `<` and `>`. The hash is extended byte by byte instead of rehashing each n-gram,
    /// which gives the same value because FNV is a running fold.
    fn char_ngrams(&self, word: &[u8], emit: &mut impl FnMut(u32)) {
        if self.bucket == 0 {
            return; // the C++ would divide by zero; such a model has no n-gram rows at all
        }
        let len = word.len();
        for i in 0..len {
            if is_utf8_continuation(word[i]) {
                continue;
            }
            let mut h = FNV_OFFSET;
            let mut j = i;
            let mut n: i32 = 1;
            while j < len && n <= self.maxn {
                h = fnv_step(h, word[j]);
                j += 1;
                while j < len && is_utf8_continuation(word[j]) {
                    h = fnv_step(h, word[j]);
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == len)) {
                    self.push_bucket(h % self.bucket, emit);
                }
                n += 1;
            }
        }
    }

    /// Emits the input rows of one line in the order the C++ adds them to the hidden vector.
    /// The text is read as if a newline followed it (the Python binding appends one), so the
    /// line ends with `</s>`; a newline inside the text ends the line early, as in the C++.
    pub(crate) fn line_rows(&self, line: &[u8], scratch: &mut TokenScratch, mut emit: impl FnMut(u32)) {
        scratch.word_hashes.clear();
        let mut i = 0;
        let n = line.len();
        loop {
            while i < n && is_separator(line[i]) && line[i] != b'\n' {
                i += 1;
            }
            let token = if i >= n || line[i] == b'\n' {
                EOS
            } else {
                let start = i;
                while i < n && !is_separator(line[i]) {
                    i += 1;
                }
                &line[start..i]
            };
            self.token_rows(token, scratch, &mut emit);
            if token == EOS {
                break;
            }
        }
        if self.word_ngrams > 1 && self.bucket > 0 {
            let hashes = &scratch.word_hashes;
            for a in 0..hashes.len() {
                // The C++ widens the int32 hashes to uint64 with sign extension.
                let mut h = hashes[a] as i64 as u64;
                for &next in hashes.iter().skip(a + 1).take(self.word_ngrams as usize - 1) {
                    h = h.wrapping_mul(WORD_NGRAM_MULTIPLIER).wrapping_add(next as i64 as u64);
                    self.push_bucket((h % self.bucket as u64) as u32, &mut emit);
                }
            }
        }
    }

    fn token_rows(&self, token: &[u8], scratch: &mut TokenScratch, emit: &mut impl FnMut(u32)) {
        let h = fasttext_hash(token);
        match self.table.get(token, h, |id| self.entry(id as usize)) {
            Some(id) if (id as usize) < self.nwords => {
                let id = id as usize;
                let rows = &self.word_rows[self.word_row_offsets[id]..self.word_row_offsets[id + 1]];
                rows.iter().for_each(|&row| emit(row));
                scratch.word_hashes.push(h as i32);
            }
            Some(_) => {} // a label written in the text
            None if token.starts_with(LABEL_PREFIX) => {}
            None => {
                if token != EOS {
                    bracket(token, &mut scratch.bracketed);
                    self.char_ngrams(&scratch.bracketed, emit);
                }
                scratch.word_hashes.push(h as i32);
            }
        }
    }
}

fn bracket(word: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(b'<');
    out.extend_from_slice(word);
    out.push(b'>');
}
