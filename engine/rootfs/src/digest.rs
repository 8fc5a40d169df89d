//! File content digests with the algorithm an rpm package records (to compare with its
//! FILEDIGESTS), read through the tree's content source.

use rechunk_tree::{ContentSource, Entry};
use sha2::digest::DynDigest;

/// rpm's PGPHASHALGO number for SHA-256.
pub const SHA256: u32 = 8;

/// The hasher for an rpm PGPHASHALGO number; MD5 and SHA-1 (old packages) are not offered.
pub fn hasher_for(algo: u32) -> Option<Box<dyn DynDigest>> {
    match algo {
        SHA256 => Some(Box::new(sha2::Sha256::default())),
        9 => Some(Box::new(sha2::Sha384::default())),
        10 => Some(Box::new(sha2::Sha512::default())),
        11 => Some(Box::new(sha2::Sha224::default())),
        _ => None,
    }
}

/// Hex digest of a regular entry's content with rpm algorithm `algo`, falling back to SHA-256
/// when rpm's algorithm is not offered. Returns the algorithm used and the digest.
pub fn file_digest(
    content: &dyn ContentSource,
    e: &Entry,
    algo: u32,
) -> Result<(u32, String), rechunk_tree::Error> {
    let (algo, mut hasher) = match hasher_for(algo) {
        Some(h) => (algo, h),
        None => (
            SHA256,
            Box::new(sha2::Sha256::default()) as Box<dyn DynDigest>,
        ),
    };
    rechunk_tree::read_content(content, e, |chunk| hasher.update(chunk))?;
    Ok((algo, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_tree::{EntryKind, MemorySource};

    #[test]
    fn digests_match_known_values() {
        let mut m = MemorySource::new();
        m.insert("f", b"abc".to_vec());
        let e = Entry {
            path: "f".into(),
            kind: EntryKind::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 3,
            mtime: 0,
            xattrs: Vec::new(),
            hardlink: None,
        };
        let (algo, hex) = file_digest(&m, &e, SHA256).unwrap();
        assert_eq!(algo, SHA256);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // MD5 (1) is not offered: SHA-256 stands in, and says so.
        assert_eq!(file_digest(&m, &e, 1).unwrap(), (SHA256, hex));
        let missing = Entry {
            path: "missing".into(),
            ..e
        };
        assert!(file_digest(&m, &missing, SHA256).is_err());
    }
}
