//! What can go wrong loading a root filesystem, and the non-fatal findings (warnings, skipped
//! paths) a load reports. Every message names the full path.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A fatal problem: the load stops.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {op}: {err}", path = .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        err: io::Error,
    },
    #[error("{path}: is a {kind}; sockets, FIFOs and device nodes cannot go into an image (--skip-special-files leaves them out)", path = .path.display())]
    SpecialFile { path: PathBuf, kind: &'static str },
    #[error("{path}: a path of {len} bytes is longer than {max} (PATH_MAX): it could not be opened in a container; refusing the tree", path = rechunk_fsio::shown::excerpt(&.path.to_string_lossy()), max = rechunk_tree::belongs::MAX_PATH)]
    PathTooLong { path: PathBuf, len: usize },
    #[error("{path}: extended attribute name {name:?} holds '=': a tar PAX record (SCHILY.xattr.NAME=VALUE) cannot carry it unambiguously; refusing it", path = .path.display())]
    XattrName { path: PathBuf, name: String },
    #[error("{path}: symlink to {target} leads out of the root filesystem; refusing to follow it", path = .path.display(), target = .target.display())]
    SymlinkEscapes { path: PathBuf, target: PathBuf },
    /// The files' sizes add up past the bound on input sizes (sparse files claiming exabytes).
    #[error("{path}: the sizes of the files up to this one add up too much: {err}", path = .path.display())]
    TooLarge {
        path: PathBuf,
        err: rechunk_model::SizeOverflow,
    },
    #[error(transparent)]
    Rpmdb(#[from] rechunk_rpmdb::Error),
    /// Reading content, or a rule on what belongs in an image (a non-empty /boot).
    #[error(transparent)]
    Tree(#[from] rechunk_tree::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, err: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            err,
        }
    }
}

/// Kinds of non-fatal finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// Content differs from the rpmdb record (size, digest, mode or type): the `rpm -V` view.
    Modified,
    /// A file the rpmdb lists as installed is not in the tree.
    Missing,
    /// A path left out that is normally kept (special file, mount point, unreadable with
    /// `--keep-going`).
    Skipped,
    /// An rpmdb row skipped with `--keep-going`.
    CorruptPackage,
    /// SELinux labels that look assigned by the build host, written under `--selinux keep`.
    HostLabels,
    /// Anything else worth telling (a symlinked rpm path that leads nowhere, ...).
    Other,
}

/// A non-fatal finding about one path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    /// Full path (root joined), so a user can look at it.
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}
