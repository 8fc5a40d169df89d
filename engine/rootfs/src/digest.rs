//! File content digests: with the algorithm an rpm package records (to compare with its
//! FILEDIGESTS), and SHA-256 (to version content no record describes). Files are opened
//! without following a symlink in the last component; the caller passes a path already
//! resolved inside the tree.

use std::io::{self, Read};
use std::path::Path;

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

/// Hex digest of a regular file's content with rpm algorithm `algo`, falling back to SHA-256
/// when rpm's algorithm is not offered. Returns the algorithm used and the digest.
pub fn file_digest(path: &Path, algo: u32) -> io::Result<(u32, String)> {
    let (algo, mut hasher) = match hasher_for(algo) {
        Some(h) => (algo, h),
        None => (
            SHA256,
            Box::new(sha2::Sha256::default()) as Box<dyn DynDigest>,
        ),
    };
    let flags =
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, rustix::fs::Mode::empty())?;
    let mut file = std::fs::File::from(fd);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((algo, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let (algo, hex) = file_digest(&path, SHA256).unwrap();
        assert_eq!(algo, SHA256);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // MD5 (1) is not offered: SHA-256 stands in, and says so.
        assert_eq!(file_digest(&path, 1).unwrap(), (SHA256, hex));
        assert!(file_digest(&dir.path().join("missing"), SHA256).is_err());
    }
}
