//! `ostree:REPO:REF`: a commit in an ostree repository, for `--from`, `--previous` and
//! `compare --history`.
//!
//! REF is anything `ostree rev-parse` takes (a branch such as `fedora/x86_64/coreos/stable`,
//! `remote:branch`, a commit checksum, `REF^`), and may itself hold colons; so may the
//! repository's path. The repository is the longest prefix of `REPO:REF` that is an ostree
//! repository (a directory with `config` and `objects/`); when none is, the text is split at
//! its first colon and the error names that path.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Error;

/// The prefix of an ostree reference.
pub const PREFIX: &str = "ostree:";

/// A commit of an ostree repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OstreeRef {
    pub repo: PathBuf,
    /// What to resolve: a ref, `remote:ref`, a checksum.
    pub rev: String,
}

impl OstreeRef {
    /// Whether `s` is meant as an ostree reference.
    pub fn is_ostree(s: &str) -> bool {
        s.starts_with(PREFIX)
    }

    /// Parses `ostree:REPO:REF`.
    pub fn parse(s: &str) -> Result<OstreeRef, Error> {
        let bad = |reason: &str| Error::Reference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        let rest = s
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("expected ostree:REPO:REF"))?;
        let colons: Vec<usize> = rest.match_indices(':').map(|(i, _)| i).collect();
        let split = colons
            .iter()
            .rev()
            .copied()
            .find(|&i| is_repo(Path::new(&rest[..i])))
            .or_else(|| colons.first().copied())
            .ok_or_else(|| bad("expected ostree:REPO:REF (the ref is missing)"))?;
        let (repo, rev) = (&rest[..split], &rest[split + 1..]);
        if repo.is_empty() {
            return Err(bad("the repository path is empty"));
        }
        if rev.is_empty() {
            return Err(bad("the ref is empty"));
        }
        Ok(OstreeRef {
            repo: repo.into(),
            rev: rev.to_string(),
        })
    }
}

impl fmt::Display for OstreeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}:{}", self.repo.display(), self.rev)
    }
}

/// An ostree repository: `config` and `objects/` in a directory.
pub fn is_repo(path: &Path) -> bool {
    path.join("config").is_file() && path.join("objects").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("a:b");
        std::fs::create_dir_all(repo.join("objects")).unwrap();
        std::fs::write(repo.join("config"), "[core]\n").unwrap();
        // The repository path holds a colon, the ref a remote.
        let s = format!(
            "ostree:{}:fedora:fedora/x86_64/coreos/stable",
            repo.display()
        );
        let r = OstreeRef::parse(&s).unwrap();
        assert_eq!(r.repo, repo);
        assert_eq!(r.rev, "fedora:fedora/x86_64/coreos/stable");
        assert_eq!(r.to_string(), s);
        // No repository there: split at the first colon, for the error to name.
        let r = OstreeRef::parse("ostree:/nowhere:main").unwrap();
        assert_eq!(
            (r.repo.as_path(), r.rev.as_str()),
            (Path::new("/nowhere"), "main")
        );
        for bad in [
            "ostree:",
            "ostree:/x",
            "ostree::ref",
            "ostree:/x:",
            "oci:/x",
        ] {
            assert!(OstreeRef::parse(bad).is_err(), "{bad}");
        }
        assert!(OstreeRef::is_ostree("ostree:x:y"));
    }
}
