//! ostree interop: reading commits out of ostree repositories (`--from ostree:REPO:REF`,
//! `--previous`, `compare --history`) and computing the objects of a commit of any tree (what
//! the `--format ostree` writer puts in its layers).
//!
//! Two halves, on purpose:
//! - **Writing needs no library.** [`gvariant`] is a small serialiser for the handful of
//!   GVariant types ostree's objects use, [`object`] builds file headers, dirmeta, dirtree and
//!   commit objects and their checksums, [`commit`] computes a whole commit of a
//!   [`rechunk_tree::Tree`] in memory (file contents hashed as they are read, never stored, no
//!   repository). Object formats are fixed by ostree's on-disk compatibility promise and few;
//!   linking GLib and libostree for them would make every build need both at run time (the
//!   release binary links only the C runtime), so the default build writes ostree-container
//!   images with this code, checked byte for byte against real `ostree commit`
//!   (`tests/against_ostree.rs`).
//! - **Reading uses libostree** (cargo feature `libostree`, Debian's `libostree-dev`): repository
//!   modes, parent repositories, partial commits, refs, remotes and rev-parse syntax are
//!   libostree's to interpret. Without the feature, [`read_commit`] and [`commit_log`] say how to
//!   get it. File contents are read from the object files directly ([`content`]): libostree's
//!   streams are bound to one thread, the image writer reads from several.
//!
//! [`OstreeRef`] parses `ostree:REPO:REF` in both builds.

pub mod commit;
pub mod content;
pub mod gvariant;
pub mod object;
pub mod reference;
#[cfg(feature = "libostree")]
mod repo;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

pub use commit::{build_commit, file_objects, Commit, CommitMeta, Hooks};
pub use content::{RepoContent, Storage};
pub use object::{Checksum, ObjectType};
pub use reference::OstreeRef;
#[cfg(feature = "libostree")]
pub use repo::{CommitTree, PKGLIST_KEY};

/// Commit metadata an ostree-container import (bootc, rpm-ostree) records: the image's
/// manifest and config JSON, and the manifest's digest.
pub const MANIFEST_KEY: &str = "ostree.manifest";
pub const IMAGE_CONFIG_KEY: &str = "ostree.container.image-config";
pub const MANIFEST_DIGEST_KEY: &str = "ostree.manifest-digest";

/// Whether this build reads ostree repositories (the `libostree` feature).
pub const CAN_READ: bool = cfg!(feature = "libostree");

/// What went wrong; every variant names the path, reference or object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{reference}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("{what}: {reason}")]
    Repo { what: String, reason: String },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Tree(#[from] rechunk_tree::Error),
    #[error("reading ostree repositories needs rechunk built with the `ostree` feature (libostree: `cargo build --release --features ostree` with Debian's libostree-dev); this binary was built without it")]
    NotBuilt,
    /// The caller asked the work to stop (Ctrl-C, or another writer failed).
    #[error("stopped")]
    Stopped,
}

impl Error {
    pub fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub fn io(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// One commit of a repository, as far as rechunk reads it.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    /// Hex checksum.
    pub checksum: String,
    pub parent: Option<Checksum>,
    pub subject: String,
    /// Seconds since the epoch.
    pub timestamp: i64,
    pub root_tree: Checksum,
    /// The commit's `version` metadata.
    pub version: Option<String>,
    /// An ostree-container import's record of the image: manifest and config JSON.
    pub image_manifest: Option<String>,
    pub image_config: Option<String>,
    /// `sha256:<hex>` of that manifest.
    pub image_manifest_digest: Option<String>,
    /// rpm-ostree's `rpmostree.rpmdb.pkglist` (names and EVRA only).
    pub pkglist: Option<Vec<rechunk_rpmdb::Package>>,
    /// The installed packages, when asked for ([`commit_log`]).
    pub packages: Option<Packages>,
}

impl CommitInfo {
    /// How a history names this commit: its `version`, else its checksum.
    pub fn id(&self) -> String {
        self.version
            .clone()
            .unwrap_or_else(|| self.checksum.clone())
    }
}

/// A commit's installed packages and where they were read.
#[derive(Clone, Debug)]
pub struct Packages {
    pub source: PackageSource,
    pub packages: Vec<rechunk_rpmdb::Package>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageSource {
    /// The commit's own rpm database: sizes, sources, changelogs.
    Rpmdb,
    /// rpm-ostree's package list metadata: names and EVRA, no sizes.
    Pkglist,
}

/// Reads the commit `r` names as a tree, its files readable in place. `entries` counts the
/// entries read, for a progress display.
#[cfg(feature = "libostree")]
pub fn read_commit(r: &OstreeRef, entries: Option<&AtomicU64>) -> Result<CommitTree, Error> {
    repo::read_commit(r, entries)
}

/// The commits of `r`, newest first (see [`repo`]'s `commit_log`).
#[cfg(feature = "libostree")]
pub fn commit_log(r: &OstreeRef, packages: bool, tmpdir: &Path) -> Result<Vec<CommitInfo>, Error> {
    repo::commit_log(r, packages, tmpdir)
}

/// A commit read as a tree (this build cannot read repositories: see [`Error::NotBuilt`]).
#[cfg(not(feature = "libostree"))]
pub struct CommitTree {
    pub tree: rechunk_tree::Tree,
    pub content: RepoContent,
    pub commit: CommitInfo,
    pub skipped: Vec<rechunk_tree::Skipped>,
}

#[cfg(not(feature = "libostree"))]
pub fn read_commit(_r: &OstreeRef, _entries: Option<&AtomicU64>) -> Result<CommitTree, Error> {
    Err(Error::NotBuilt)
}

#[cfg(not(feature = "libostree"))]
pub fn commit_log(
    _r: &OstreeRef,
    _packages: bool,
    _tmpdir: &Path,
) -> Result<Vec<CommitInfo>, Error> {
    Err(Error::NotBuilt)
}
