//! Native reader for rpm's `rpmdb.sqlite` package database: no librpm, no `rpm` binary.
//!
//! [`read`] / [`read_dir`] open a database read-only (never creating files next to it), decode
//! every `Packages(hnum, blob)` header into a [`Package`] and refuse the older BDB and ndb
//! formats with [`Error::UnsupportedFormat`]. A corrupt row is [`Error::CorruptRow`] naming
//! its `hnum`, or is skipped and recorded with [`ReadOptions::keep_going`].

mod db;
mod header;
mod package;
mod tags;

use std::path::PathBuf;

pub use db::{
    detect_format, find_in_dir, read, read_dir, DbFormat, ReadOptions, Rpmdb, SkippedRow, DB_FILES,
};
pub use header::HeaderError;
pub use package::{FileFlags, Package, PackageFile, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

/// Where rpm keeps its database inside a root filesystem, newest location first; last where
/// rpm-ostree keeps it in an ostree commit (`/usr/share/rpm`, without a link from the others
/// in older composes).
pub const DB_DIRS: [&str; 3] = ["usr/lib/sysimage/rpm", "var/lib/rpm", "usr/share/rpm"];

/// Why a database could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: unsupported database format: {format} (only rpmdb.sqlite is read)", path = .path.display())]
    UnsupportedFormat { path: PathBuf, format: String },
    #[error("{}: no rpm database (rpmdb.sqlite, Packages or Packages.db)", .0.display())]
    NotFound(PathBuf),
    #[error("{path}: corrupt package header in Packages row hnum={hnum}: {reason}", path = .path.display())]
    CorruptRow {
        path: PathBuf,
        hnum: i64,
        reason: String,
    },
    #[error("{path}: {err}", path = .path.display())]
    Sqlite { path: PathBuf, err: rusqlite::Error },
    #[error("{path}: {err}", path = .path.display())]
    Io { path: PathBuf, err: std::io::Error },
}
