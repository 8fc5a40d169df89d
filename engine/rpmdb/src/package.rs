//! An installed package as its rpmdb header records it: identity, sizes, changelog times, the
//! file list and dependency names.

use crate::header::{Header, HeaderError};
use crate::tags as tag;

/// rpm's per-file flags (`RPMFILE_*`), as stored in FILEFLAGS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileFlags(pub u32);

impl FileFlags {
    pub const CONFIG: u32 = 1 << 0;
    pub const DOC: u32 = 1 << 1;
    pub const MISSINGOK: u32 = 1 << 3;
    pub const NOREPLACE: u32 = 1 << 4;
    pub const GHOST: u32 = 1 << 6;
    pub const LICENSE: u32 = 1 << 7;
    pub const ARTIFACT: u32 = 1 << 12;

    pub fn is_config(self) -> bool {
        self.0 & Self::CONFIG != 0
    }
    pub fn is_doc(self) -> bool {
        self.0 & Self::DOC != 0
    }
    /// Ghost files are owned but not shipped: the package does not install their content.
    pub fn is_ghost(self) -> bool {
        self.0 & Self::GHOST != 0
    }
}

/// One file a package owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageFile {
    /// Absolute path as rpm lists it (`/usr/bin/bash`).
    pub path: String,
    pub size: u64,
    /// Hex digest of the content (algorithm in [`Package::digest_algo`]); `None` for
    /// directories, symlinks and ghosts.
    pub digest: Option<String>,
    /// Full `st_mode`: file type and permission bits.
    pub mode: u32,
    pub mtime: i64,
    pub flags: FileFlags,
    pub user: String,
    pub group: String,
    /// Symlink target, for symlinks.
    pub link_target: Option<String>,
    /// False when rpm did not put the file on disk (FILESTATES "not installed" or "wrong
    /// color": `--excludedocs`, `tsflags=nodocs`, multilib losers).
    pub installed: bool,
    /// File capabilities in text form (`cap_net_raw=ep`), when the package sets them.
    pub caps: Option<String>,
    /// rpm's hardlink identity (FILEDEVICES, FILEINODES): files of one package with the same
    /// pair are links of one inode. The numbers are rpm's own, not the tree's.
    pub inode: (u32, u32),
}

/// File type bits of `st_mode`.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

impl PackageFile {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    pub fn is_regular(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
}

/// An installed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// The row number (`Packages.hnum`) the header came from.
    pub hnum: i64,
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    /// Empty for packages without an arch (gpg-pubkey).
    pub arch: String,
    /// `bash-5.2.15-1.fc38.src.rpm`; `None` for gpg-pubkey.
    pub source_rpm: Option<String>,
    /// Installed size in bytes (LONGSIZE when present, else SIZE), as `rpm -q --qf %{SIZE}`.
    pub size: u64,
    pub build_time: i64,
    /// Changelog entry times, newest first as rpm stores them.
    pub changelog_times: Vec<i64>,
    /// rpm's PGPHASHALGO number for [`PackageFile::digest`] (8 = SHA-256, 1 = MD5).
    pub digest_algo: u32,
    pub files: Vec<PackageFile>,
    pub requires: Vec<String>,
    pub provides: Vec<String>,
}

/// rpm's default file digest algorithm when FILEDIGESTALGO is absent: MD5.
const DIGEST_MD5: u32 = 1;

impl Package {
    /// `name-[epoch:]version-release.arch`.
    pub fn nevra(&self) -> String {
        if self.arch.is_empty() {
            format!("{}-{}", self.name, self.evr())
        } else {
            format!("{}-{}.{}", self.name, self.evr(), self.arch)
        }
    }

    /// `[epoch:]version-release`.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The source package's name (`systemd` for `systemd-libs`), parsed from the source rpm's
    /// file name by dropping `-version-release.src.rpm`.
    pub fn source_name(&self) -> Option<&str> {
        let srpm = self.source_rpm.as_deref()?;
        let stem = srpm
            .strip_suffix(".src.rpm")
            .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
        let (rest, _release) = stem.rsplit_once('-')?;
        let (name, _version) = rest.rsplit_once('-')?;
        Some(name)
    }

    /// Decodes a package from its header blob.
    pub fn from_header(hnum: i64, blob: &[u8]) -> Result<Package, HeaderError> {
        let h = Header::parse(blob)?;
        let required = |tag: u32| -> Result<String, HeaderError> {
            h.string(tag)?
                .ok_or_else(|| HeaderError(format!("missing {tag:?}")))
        };
        let int = |tag: u32| h.int(tag);
        let size = match int(tag::LONGSIZE)? {
            Some(s) => s,
            None => int(tag::SIZE)?.unwrap_or(0),
        };
        let changelog_times = h
            .ints(tag::CHANGELOGTIME)?
            .unwrap_or_default()
            .into_iter()
            .map(|t| t as i64)
            .collect();
        Ok(Package {
            hnum,
            name: required(tag::NAME)?,
            epoch: int(tag::EPOCH)?.map(|e| e as u32),
            version: required(tag::VERSION)?,
            release: required(tag::RELEASE)?,
            arch: h.string(tag::ARCH)?.unwrap_or_default(),
            source_rpm: h.string(tag::SOURCERPM)?,
            size,
            build_time: int(tag::BUILDTIME)?.unwrap_or(0) as i64,
            changelog_times,
            digest_algo: int(tag::FILEDIGESTALGO)?
                .map(|a| a as u32)
                .unwrap_or(DIGEST_MD5),
            files: files(&h)?,
            requires: list(&h, tag::REQUIRENAME)?,
            provides: list(&h, tag::PROVIDENAME)?,
        })
    }
}

fn list(h: &Header, tag: u32) -> Result<Vec<String>, HeaderError> {
    Ok(h.strings(tag)?.unwrap_or_default())
}

/// File paths from BASENAMES/DIRINDEXES/DIRNAMES (or OLDFILENAMES in pre-4.0 headers).
fn file_paths(h: &Header) -> Result<Vec<String>, HeaderError> {
    if let Some(old) = h.strings(tag::OLDFILENAMES)? {
        return Ok(old);
    }
    let basenames = list(h, tag::BASENAMES)?;
    let dirnames = list(h, tag::DIRNAMES)?;
    let dirindexes = h.ints(tag::DIRINDEXES)?.unwrap_or_default();
    if dirindexes.len() != basenames.len() {
        return Err(HeaderError(format!(
            "{} basenames but {} dir indexes",
            basenames.len(),
            dirindexes.len()
        )));
    }
    basenames
        .iter()
        .zip(&dirindexes)
        .map(|(base, &di)| {
            let dir = dirnames.get(di as usize).ok_or_else(|| {
                HeaderError(format!("dir index {di} past {} dirnames", dirnames.len()))
            })?;
            Ok(format!("{dir}{base}"))
        })
        .collect()
}

/// A per-file tag, checked to have one value per file (absent → defaults).
fn per_file<T: Clone>(
    values: Option<Vec<T>>,
    n: usize,
    tag: u32,
    default: T,
) -> Result<Vec<T>, HeaderError> {
    match values {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(HeaderError(format!(
            "{tag:?} has {} values for {n} files",
            v.len()
        ))),
    }
}

/// RPMFILE_STATE_* values that mean the file is not on disk.
const STATE_NOT_INSTALLED: u64 = 2;
const STATE_WRONG_COLOR: u64 = 4;

fn files(h: &Header) -> Result<Vec<PackageFile>, HeaderError> {
    let paths = file_paths(h)?;
    let n = paths.len();
    let sizes = match h.ints(tag::LONGFILESIZES)? {
        Some(v) => Some(v),
        None => h.ints(tag::FILESIZES)?,
    };
    let sizes = per_file(sizes, n, tag::FILESIZES, 0)?;
    let ints = |tag: u32| -> Result<Vec<u64>, HeaderError> { per_file(h.ints(tag)?, n, tag, 0) };
    let strs = |tag: u32| -> Result<Vec<String>, HeaderError> {
        per_file(h.strings(tag)?, n, tag, String::new())
    };
    let modes = ints(tag::FILEMODES)?;
    let mtimes = ints(tag::FILEMTIMES)?;
    let flags = ints(tag::FILEFLAGS)?;
    let digests = strs(tag::FILEDIGESTS)?;
    let users = strs(tag::FILEUSERNAME)?;
    let groups = strs(tag::FILEGROUPNAME)?;
    let links = strs(tag::FILELINKTOS)?;
    let states = ints(tag::FILESTATES)?;
    let caps = strs(tag::FILECAPS)?;
    let devices = ints(tag::FILEDEVICES)?;
    let inodes = ints(tag::FILEINODES)?;
    let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
    Ok((0..n)
        .map(|i| PackageFile {
            path: paths[i].clone(),
            size: sizes[i],
            digest: non_empty(&digests[i]),
            mode: modes[i] as u32,
            mtime: mtimes[i] as i64,
            flags: FileFlags(flags[i] as u32),
            user: users[i].clone(),
            group: groups[i].clone(),
            link_target: non_empty(&links[i]),
            installed: !matches!(states[i], STATE_NOT_INSTALLED | STATE_WRONG_COLOR),
            caps: non_empty(&caps[i]),
            inode: (devices[i] as u32, inodes[i] as u32),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/data/rpmdb/headers/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Frames a bare header blob as a package (lead + empty signature + header magic) so the
    /// `rpm` crate can parse it: an independent decoder to compare ours against.
    fn rpm_crate_parse(blob: &[u8]) -> rpm::PackageMetadata {
        let mut framed = vec![0u8; 96];
        framed[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        framed[4] = 3;
        framed[79] = 5; // signature type: header-style
        framed.extend_from_slice(&[0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
        framed.extend_from_slice(&[0; 8]);
        framed.extend_from_slice(&[0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
        framed.extend_from_slice(blob);
        rpm::PackageMetadata::parse(&mut framed.as_slice()).expect("rpm crate parses the blob")
    }

    #[test]
    fn crypto_policies_header_matches_rpm_crate() {
        {
            let file = "claircore-crypto-policies-fc34.header";
            let b = blob(file);
            let ours = Package::from_header(1, &b).unwrap();
            let theirs = rpm_crate_parse(&b);
            assert_eq!(ours.name, theirs.get_name().unwrap(), "{file}");
            assert_eq!(ours.version, theirs.get_version().unwrap());
            assert_eq!(ours.release, theirs.get_release().unwrap());
            assert_eq!(ours.arch, theirs.get_arch().unwrap());
            assert_eq!(ours.size, theirs.get_installed_size().unwrap());
            let their_files = theirs.get_file_entries().unwrap();
            assert_eq!(ours.files.len(), their_files.len());
            for (o, t) in ours.files.iter().zip(&their_files) {
                assert_eq!(o.path, t.path().to_string_lossy());
                assert_eq!(o.size, t.size() as u64);
                assert_eq!(o.mode & 0o7777, u32::from(t.permissions()));
                assert_eq!(o.user, t.user());
                assert_eq!(o.digest.as_deref(), t.digest().map(|d| d.as_hex()));
                assert_eq!(o.link_target.as_deref(), t.linkto());
            }
            let their_reqs: Vec<String> = theirs
                .get_requires()
                .unwrap()
                .into_iter()
                .map(|d| d.name)
                .collect();
            assert_eq!(ours.requires, their_reqs);
        }
    }

    #[test]
    fn known_values_of_the_fc34_header() {
        let p = Package::from_header(7, &blob("claircore-crypto-policies-fc34.header")).unwrap();
        assert_eq!(
            p.nevra(),
            "crypto-policies-20210213-1.git5c710c0.fc34.noarch"
        );
        assert_eq!(p.files.len(), 152);
        assert_eq!(p.source_name(), Some("crypto-policies"));
        assert!(!p.changelog_times.is_empty());
        assert!(p.files.iter().any(|f| f.is_dir()));
    }

    /// The go-rpmdb blob is damaged as shipped: its 4th file points at dir index 4 of 4
    /// dirnames (0-based). A real corrupt header: an error that says why, not a panic.
    #[test]
    fn publicsuffix_blob_has_a_bad_dir_index() {
        let b = blob("go-rpmdb-publicsuffix-list-dafsa-fc35.header");
        let err = Package::from_header(1, &b).unwrap_err();
        assert_eq!(err.0, "dir index 4 past 4 dirnames");
    }

    #[test]
    fn truncated_blob_is_an_error_not_a_panic() {
        let b = blob("claircore-crypto-policies-fc34.header");
        for cut in (0..b.len()).step_by(97) {
            assert!(Package::from_header(1, &b[..cut]).is_err(), "cut {cut}");
        }
    }
}
