//! The one error type of the image writer and reader. Every variant names the path or reference
//! it is about; the cause is kept as the error source so `{:#}` prints "action path: cause".
//!
//! A write error surfaces through the tar writer, the compressor and the hashers, none of which
//! knows the file underneath; [`NamedWriter`] tags it with that file's path so that a full disk
//! is reported as "writing <the file being written>: No space left on device", not as a problem
//! with the input file whose bytes were passing through.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rechunk_model::PlanError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("parsing {}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("bad image reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    /// Reading the tree's content (named by path).
    #[error(transparent)]
    Tree(#[from] rechunk_tree::Error),
    #[error("the plan does not fit the scanned tree")]
    Plan(#[from] PlanError),
    /// Finishing the component versions after the layers (see `LateVersions`) failed.
    #[error("finishing the component versions: {0}")]
    Versions(String),
    /// A request that cannot be served as given (`--jobs 0`).
    #[error("{0}")]
    Usage(String),
    /// A bug (a broken invariant, a panicked thread); never caused by input.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("interrupted (SIGINT/SIGTERM); nothing was written to the destination")]
    Interrupted,
    /// A layer writer stopped because another one failed; never the error a build reports when
    /// the real one is known.
    #[error("stopped because another layer failed")]
    Aborted,
}

impl Error {
    /// `action path: source`; but a failed write through a [`NamedWriter`] is reported as
    /// "writing <its file>: cause", whatever was being done when it surfaced.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        if source
            .get_ref()
            .is_some_and(|inner| inner.is::<WriteFailed>())
        {
            let kind = source.kind();
            if let Some(Ok(failed)) = source.into_inner().map(|e| e.downcast::<WriteFailed>()) {
                return Error::Io {
                    action: "writing",
                    path: failed.path,
                    source: failed.source,
                };
            }
            // Unreachable (checked above); keep the kind rather than panic.
            return Error::Io {
                action,
                path: path.into(),
                source: kind.into(),
            };
        }
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

    pub fn json(path: impl Into<PathBuf>, source: serde_json::Error) -> Self {
        Error::Json {
            path: path.into(),
            source,
        }
    }
}

/// The payload a [`NamedWriter`] puts into the `io::Error`s it passes up.
#[derive(Debug, thiserror::Error)]
#[error("writing {}", path.display())]
struct WriteFailed {
    path: PathBuf,
    source: io::Error,
}

/// A writer to a file whose errors carry that file's path (see [`Error::io`]).
pub(crate) struct NamedWriter<W> {
    inner: W,
    path: PathBuf,
}

impl<W: Write> NamedWriter<W> {
    pub fn new(inner: W, path: impl Into<PathBuf>) -> Self {
        NamedWriter {
            inner,
            path: path.into(),
        }
    }

    fn named(&self, source: io::Error) -> io::Error {
        let kind = source.kind();
        io::Error::new(
            kind,
            WriteFailed {
                path: self.path.clone(),
                source,
            },
        )
    }
}

impl<W: Write> Write for NamedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.named(e))
    }
}

/// Adds the action and path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(action, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufWriter;

    /// A writer that is always full.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_names_the_file_written_whatever_the_context() {
        let mut w = BufWriter::new(NamedWriter::new(Full, "/dest/blob"));
        let e = w
            .write_all(&[0; 1 << 16])
            .ctx(
                "writing the layer entry for",
                Path::new("/rootfs/usr/lib/x"),
            )
            .unwrap_err();
        let Error::Io {
            action,
            path,
            source,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(
            (*action, path.as_path()),
            ("writing", Path::new("/dest/blob"))
        );
        assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        // Errors from elsewhere keep their own context.
        let other = Error::io("reading", "/rootfs/a", io::ErrorKind::NotFound.into());
        assert_eq!(other.to_string(), "reading /rootfs/a");
    }
}
