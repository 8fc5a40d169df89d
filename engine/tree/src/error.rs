//! What can go wrong reading a tree's content or deciding what belongs in it. Every variant
//! names the full path; the cause is kept as the error source.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: /boot must be empty in a bootable container image (kernels live in /usr/lib/modules), but it holds: {}", .contents.join(", "), path = .path.display())]
    BootNotEmpty {
        path: PathBuf,
        contents: Vec<String>,
    },
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
