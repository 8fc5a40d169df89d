//! Decoder for one rpm header blob as rpmdb stores it: the index (tag, type, offset, count
//! entries) and the data store, without the 8-byte header magic.
//!
//! Written here rather than taken from the `rpm` crate because rpmdb rows are untrusted: every
//! offset and count is bounds-checked so a truncated or corrupt row is an error, never a panic.
//! Tag numbers come from [`crate::tags`].

use std::fmt;

/// Why a header blob could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(msg: impl Into<String>) -> HeaderError {
    HeaderError(msg.into())
}

/// rpm's own sanity limits (rpmio/header.c: hdrchkTags, hdrchkData).
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;
const ENTRY_SIZE: usize = 16;

const TYPE_CHAR: u32 = 1;
const TYPE_INT8: u32 = 2;
const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_BIN: u32 = 7;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// One index entry: where a tag's data sits in the store.
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

/// A decoded header: the index, sorted by tag, over a borrowed data store.
#[derive(Debug)]
pub struct Header<'a> {
    index: Vec<IndexEntry>,
    store: &'a [u8],
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Header<'a> {
    /// Decode a blob: check the index against the store so later reads cannot go out of bounds.
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, HeaderError> {
        let il = be_u32(blob, 0).ok_or_else(|| bad("header shorter than 8 bytes"))? as usize;
        let dl = be_u32(blob, 4).ok_or_else(|| bad("header shorter than 8 bytes"))? as usize;
        if il == 0 || il > MAX_TAGS {
            return Err(bad(format!("implausible index count {il}")));
        }
        if dl > MAX_DATA {
            return Err(bad(format!("implausible data length {dl}")));
        }
        let store_start = 8 + il * ENTRY_SIZE;
        let store = blob.get(store_start..store_start + dl).ok_or_else(|| {
            bad(format!(
                "truncated: {} bytes, index and data need {}",
                blob.len(),
                store_start + dl
            ))
        })?;
        let mut index = Vec::with_capacity(il);
        for i in 0..il {
            let at = 8 + i * ENTRY_SIZE;
            let field = |k: usize| be_u32(blob, at + 4 * k).unwrap_or(0);
            let entry = IndexEntry {
                tag: field(0),
                kind: field(1),
                offset: field(2) as usize,
                count: field(3) as usize,
            };
            check_entry(&entry, store)?;
            index.push(entry);
        }
        index.sort_by_key(|e| e.tag);
        Ok(Header { index, store })
    }

    fn entry(&self, tag: u32) -> Option<&IndexEntry> {
        let i = self.index.binary_search_by_key(&tag, |e| e.tag).ok()?;
        self.index.get(i)
    }

    /// A STRING (or the first string of an I18NSTRING / STRING_ARRAY) tag.
    pub fn string(&self, tag: u32) -> Result<Option<String>, HeaderError> {
        Ok(self.strings(tag)?.and_then(|v| v.into_iter().next()))
    }

    /// A string-typed tag as a list (a STRING counts as one element).
    pub fn strings(&self, tag: u32) -> Result<Option<Vec<String>>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if !matches!(e.kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(bad(format!("tag {tag}: type {} is not a string", e.kind)));
        }
        let count = if e.kind == TYPE_STRING { 1 } else { e.count };
        let mut out = Vec::with_capacity(count);
        let mut pos = e.offset;
        for _ in 0..count {
            let rest = self.store.get(pos..).unwrap_or_default();
            let len = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| bad(format!("tag {tag}: unterminated string")))?;
            // Old headers may hold Latin-1 text; names and paths of real packages are UTF-8.
            out.push(String::from_utf8_lossy(&rest[..len]).into_owned());
            pos += len + 1;
        }
        Ok(Some(out))
    }

    /// An integer tag of any width, widened to u64.
    pub fn ints(&self, tag: u32) -> Result<Option<Vec<u64>>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let width = int_width(e.kind)
            .ok_or_else(|| bad(format!("tag {tag}: type {} is not an integer", e.kind)))?;
        let bytes = &self.store[e.offset..e.offset + width * e.count];
        let values = bytes
            .chunks_exact(width)
            .map(|c| c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
            .collect();
        Ok(Some(values))
    }

    /// The first value of an integer tag.
    pub fn int(&self, tag: u32) -> Result<Option<u64>, HeaderError> {
        Ok(self.ints(tag)?.and_then(|v| v.first().copied()))
    }
}

fn int_width(kind: u32) -> Option<usize> {
    match kind {
        TYPE_CHAR | TYPE_INT8 | TYPE_BIN => Some(1),
        TYPE_INT16 => Some(2),
        TYPE_INT32 => Some(4),
        TYPE_INT64 => Some(8),
        _ => None,
    }
}

/// Checks that an entry's data lies inside the store (strings are checked when read).
fn check_entry(e: &IndexEntry, store: &[u8]) -> Result<(), HeaderError> {
    if e.kind > TYPE_I18NSTRING {
        return Err(bad(format!("tag {}: unknown type {}", e.tag, e.kind)));
    }
    let width = int_width(e.kind).unwrap_or(1);
    let end = e
        .count
        .checked_mul(width)
        .and_then(|n| n.checked_add(e.offset));
    match end {
        Some(end) if end <= store.len() => Ok(()),
        _ => Err(bad(format!(
            "tag {}: data at offset {} count {} runs past the {}-byte store",
            e.tag,
            e.offset,
            e.count,
            store.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a blob from (tag, type, data) entries, packing data in order.
    fn blob(entries: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut store = Vec::new();
        for (tag, kind, count, data) in entries {
            for v in [*tag, *kind, store.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            store.extend_from_slice(data);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(store.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(store);
        out
    }

    #[test]
    fn reads_strings_and_ints() {
        let b = blob(&[
            (1000, TYPE_STRING, 1, b"bash\0".to_vec()),
            (1117, TYPE_STRING_ARRAY, 2, b"a\0bc\0".to_vec()),
            (1028, TYPE_INT32, 2, vec![0, 0, 1, 0, 0, 0, 0, 7]),
            (1030, TYPE_INT16, 1, vec![0x81, 0xa4]),
        ]);
        let h = Header::parse(&b).unwrap();
        assert_eq!(h.string(1000).unwrap().as_deref(), Some("bash"));
        assert_eq!(h.strings(1117).unwrap().unwrap(), vec!["a", "bc"]);
        assert_eq!(h.ints(1028).unwrap().unwrap(), vec![256, 7]);
        assert_eq!(h.int(1030).unwrap(), Some(0o100644));
        assert_eq!(h.string(9999).unwrap(), None);
        assert!(h.ints(1000).is_err(), "a string is not an integer");
    }

    #[test]
    fn rejects_truncated_and_out_of_bounds() {
        let b = blob(&[(1028, TYPE_INT32, 2, vec![0; 8])]);
        for cut in [0, 4, 8, 20, b.len() - 1] {
            assert!(Header::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut wild = b.clone();
        wild[8 + 12..8 + 16].copy_from_slice(&1000u32.to_be_bytes()); // count far past the store
        let err = Header::parse(&wild).unwrap_err();
        assert!(err.0.contains("runs past"), "{err}");
    }

    #[test]
    fn unterminated_string_is_an_error() {
        let b = blob(&[(1000, TYPE_STRING, 1, b"bash".to_vec())]);
        let h = Header::parse(&b).unwrap();
        assert!(h.string(1000).unwrap_err().0.contains("unterminated"));
    }
}
