//! The one rule on sizes that come from input (history rows, contentmeta entries, manifest
//! layer sizes, file sizes in a tree): their sum must stay at or below [`MAX_TOTAL_BYTES`].
//!
//! Every figure rechunk computes from an input is a sum of some of its sizes: a layer's size,
//! a download, an image's size, a client's total over a whole history. Bounding the sum of all
//! of them (over every version of a history, over every layer of an image, over every file of
//! a tree) bounds every such figure, so none can wrap, anywhere downstream (`diff` used to
//! report two layers of 2^63 + 1 bytes as a 2-byte download). Loaders add sizes with a
//! [`SizeTotal`] and refuse the input at the row that passes the bound, naming it.

use std::fmt;

/// Largest sum of the sizes an input may claim: 4 EiB. No real image or history comes near
/// (a desktop image is about 10 GB, 150 versions of it 1.5 TB); it leaves room for metadata
/// and for sums across clients below `u64::MAX`.
pub const MAX_TOTAL_BYTES: u64 = 1 << 62;

/// A running sum of input sizes, refused past [`MAX_TOTAL_BYTES`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SizeTotal(u64);

/// Sizes that add up to more than [`MAX_TOTAL_BYTES`]; the caller names the file and row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeOverflow {
    /// The size that did not fit.
    pub size: u64,
    /// What had been added before it.
    pub before: u64,
}

impl fmt::Display for SizeOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a size of {} bytes after {} bytes makes more than {MAX_TOTAL_BYTES} bytes (4 EiB) \
             in all; refusing sizes that large (corrupt or hostile input)",
            self.size, self.before
        )
    }
}

impl std::error::Error for SizeOverflow {}

impl SizeTotal {
    /// Adds `size`, or says why not (the total is unchanged then).
    pub fn add(&mut self, size: u64) -> Result<u64, SizeOverflow> {
        match self.0.checked_add(size) {
            Some(t) if t <= MAX_TOTAL_BYTES => {
                self.0 = t;
                Ok(t)
            }
            _ => Err(SizeOverflow {
                size,
                before: self.0,
            }),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_past_the_bound_are_refused_not_wrapped() {
        let mut t = SizeTotal::default();
        t.add(1 << 61).unwrap();
        t.add(1 << 61).unwrap();
        assert_eq!(t.get(), MAX_TOTAL_BYTES);
        let e = t.add(1).unwrap_err();
        assert_eq!((e.size, e.before), (1, MAX_TOTAL_BYTES));
        assert_eq!(t.get(), MAX_TOTAL_BYTES, "unchanged");
        let mut t = SizeTotal::default();
        t.add((1 << 63) + 1).unwrap_err();
        t.add(u64::MAX).unwrap_err();
    }
}
