//! The SELinux label a path gets from a policy's `file_contexts`, computed the way libselinux's
//! file backend (`selabel_lookup`, used by `setfiles`, `matchpathcon` and rpm-ostree) does, in
//! pure Rust so the default build needs no system library.
//!
//! A policy ships its rules as text under `etc/selinux/<SELINUXTYPE>/contexts/files/`:
//! `file_contexts` (the compiled policy's rules), `file_contexts.homedirs` (home directory
//! templates expanded for the policy's users), `file_contexts.local` (site additions),
//! `file_contexts.subs_dist` and `file_contexts.subs` (path aliases such as `/lib64 /usr/lib`).
//! [`FileContexts::new`] takes their bytes (the caller reads them from whatever tree holds
//! them) and [`FileContexts::lookup`] answers for one path and file type. The precedence rules,
//! from libselinux 3.4 `label_file.c` (kept in later releases):
//! 1. The path is cleaned (`//` → `/`, no trailing `/`), then one `.subs` alias and then one
//!    `.subs_dist` alias is applied; within a file the last matching line wins, and an alias
//!    matches whole path components only.
//! 2. Rules are taken in file order (`file_contexts`, then `.homedirs`, then `.local`); rules
//!    whose pattern has no regex meta character (`.^$?*+|[({`, a backslash escaping the next
//!    one) are moved after all the others, keeping their order.
//! 3. The LAST rule in that order whose pattern matches the whole path (`^pattern$`) and whose
//!    file type (`--` file, `-d` directory, `-l` symlink, ...) is absent or equal wins. Its
//!    context may be `<<none>>`: the path gets no label.
//!
//! libselinux prefers a `.bin` compiled copy when it is newer than the text; the compiled form
//! holds the same rules, so only the text files are read here.

mod contexts;
mod spec;
mod subs;

pub use contexts::{FileContexts, PolicyFiles};

use std::fmt;

/// The xattr that carries a file's SELinux label.
pub const SELINUX_XATTR: &str = "security.selinux";

/// The file types a `file_contexts` rule can be limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileKind {
    /// The type field of a rule (`--`, `-d`, ...), as `string_to_mode` in libselinux reads it.
    fn from_field(field: &str) -> Option<Self> {
        Some(match field {
            "--" => FileKind::Regular,
            "-d" => FileKind::Directory,
            "-l" => FileKind::Symlink,
            "-c" => FileKind::CharDevice,
            "-b" => FileKind::BlockDevice,
            "-p" => FileKind::Fifo,
            "-s" => FileKind::Socket,
            _ => return None,
        })
    }
}

/// Which policy file a rule came from, for error messages and precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    FileContexts,
    Homedirs,
    Local,
    Subs,
    SubsDist,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::FileContexts => "file_contexts",
            Source::Homedirs => "file_contexts.homedirs",
            Source::Local => "file_contexts.local",
            Source::Subs => "file_contexts.subs",
            Source::SubsDist => "file_contexts.subs_dist",
        })
    }
}

/// A policy file that cannot be used. The caller adds the directory it read from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file} line {line}: {reason}")]
    Line {
        file: Source,
        line: usize,
        reason: String,
    },
}

/// The `SELINUXTYPE=` of an `etc/selinux/config` file (the policy directory's name), if set.
pub fn selinux_type(config: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(config);
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("SELINUXTYPE="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .rfind(|v| !v.is_empty() && !v.contains('/') && v != "." && v != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selinux_type_reads_the_last_assignment_and_refuses_paths() {
        let config = b"# SELINUXTYPE=mls\nSELINUX=enforcing\nSELINUXTYPE=targeted\n";
        assert_eq!(selinux_type(config).as_deref(), Some("targeted"));
        assert_eq!(
            selinux_type(b"SELINUXTYPE=\"mls\"\n").as_deref(),
            Some("mls")
        );
        assert_eq!(selinux_type(b"SELINUXTYPE=../../etc\n"), None);
        assert_eq!(selinux_type(b"SELINUX=disabled\n"), None);
    }
}
