//! Image references as skopeo and podman spell them: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//! plus, for reading only, `docker-archive:FILE` (what `podman save` writes by default) and a
//! path to a manifest / config / `skopeo inspect` JSON file.
//!
//! As in skopeo (containers/image), the path ends at the first colon and the rest is the tag,
//! which must be a valid `org.opencontainers.image.ref.name` (the OCI annotation grammar:
//! components of letters and digits joined by `.`, `_`, `-`, `--`, `:`, `@` or `+`, separated by
//! `/`). So `oci:x.oci:../../etc/x` is refused rather than taken as a path.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Tag used when a reference names none.
pub const DEFAULT_TAG: &str = "latest";

/// Where an image lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI image layout directory.
    Dir { path: PathBuf, tag: Option<String> },
    /// A tar of an OCI image layout.
    Archive { path: PathBuf, tag: Option<String> },
    /// A `docker save` / `podman save` archive holding one image (read only).
    DockerArchive { path: PathBuf },
    /// A JSON file: an image manifest, an image config, or `skopeo inspect` output (read only).
    Json(PathBuf),
}

impl ImageRef {
    /// Parses a reference to read from. Besides the prefixed forms, a bare path is accepted when
    /// it is unambiguous: a directory holding `oci-layout`, or a `.json` file.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(r) = Self::parse_prefixed(s)? {
            return Ok(r);
        }
        let path = Path::new(s);
        if path.join("oci-layout").is_file() {
            return Ok(ImageRef::Dir {
                path: path.to_path_buf(),
                tag: None,
            });
        }
        if path.is_file() {
            return Ok(ImageRef::Json(path.to_path_buf()));
        }
        if path.exists() && !path.is_dir() {
            // A FIFO or a device: say so rather than list the forms a reference takes.
            if let Err(e) = rechunk_fsio::check_regular(path, rechunk_fsio::Links::Follow) {
                return Err(Error::Reference {
                    reference: s.to_string(),
                    reason: e.to_string(),
                });
            }
        }
        Err(Error::Reference {
            reference: s.to_string(),
            reason: "expected oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, an OCI \
                     layout directory or a manifest/config JSON file"
                .to_string(),
        })
    }

    /// Parses a reference to write to: only `oci:` and `oci-archive:`.
    pub fn parse_output(s: &str) -> Result<Self> {
        match Self::parse_prefixed(s)? {
            Some(ImageRef::DockerArchive { .. }) => Err(Error::Reference {
                reference: s.to_string(),
                reason: "docker-archive is read only; write oci:DIR[:TAG] or \
                         oci-archive:FILE[:TAG] (skopeo copy converts)"
                    .to_string(),
            }),
            Some(r) => Ok(r),
            None => Err(Error::Reference {
                reference: s.to_string(),
                reason: "an output must be oci:DIR[:TAG] or oci-archive:FILE[:TAG]".to_string(),
            }),
        }
    }

    fn parse_prefixed(s: &str) -> Result<Option<Self>> {
        if let Some(path) = s.strip_prefix("docker-archive:") {
            if path.is_empty() {
                return Err(Error::Reference {
                    reference: s.to_string(),
                    reason: "the path is empty".to_string(),
                });
            }
            return Ok(Some(ImageRef::DockerArchive { path: path.into() }));
        }
        let (archive, rest) = if let Some(rest) = s.strip_prefix("oci-archive:") {
            (true, rest)
        } else if let Some(rest) = s.strip_prefix("oci:") {
            (false, rest)
        } else {
            return Ok(None);
        };
        let (path, tag) = match rest.split_once(':') {
            Some((path, tag)) => (path, Some(tag)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(Error::Reference {
                reference: s.to_string(),
                reason: "the path is empty".to_string(),
            });
        }
        if let Some(tag) = tag.filter(|t| !is_ref_name(t)) {
            return Err(Error::Reference {
                reference: rechunk_fsio::shown::excerpt(s).into_owned(),
                reason: format!(
                    "{:?} is not a valid tag (letters and digits joined by . _ - -- : @ + and \
                     /, at most {MAX_TAG} bytes); the path ends at the first ':', as in skopeo",
                    rechunk_fsio::shown::excerpt(tag)
                ),
            });
        }
        let path = PathBuf::from(path);
        let tag = tag.map(str::to_string);
        Ok(Some(if archive {
            ImageRef::Archive { path, tag }
        } else {
            ImageRef::Dir { path, tag }
        }))
    }

    /// The file or directory the reference points at.
    pub fn path(&self) -> &Path {
        match self {
            ImageRef::Dir { path, .. }
            | ImageRef::Archive { path, .. }
            | ImageRef::DockerArchive { path }
            | ImageRef::Json(path) => path,
        }
    }

    /// The tag named in the reference, if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Dir { tag, .. } | ImageRef::Archive { tag, .. } => tag.as_deref(),
            ImageRef::DockerArchive { .. } | ImageRef::Json(_) => None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, path, tag) = match self {
            ImageRef::Dir { path, tag } => ("oci:", path, tag),
            ImageRef::Archive { path, tag } => ("oci-archive:", path, tag),
            ImageRef::DockerArchive { path } => {
                return write!(f, "docker-archive:{}", path.display())
            }
            ImageRef::Json(path) => return write!(f, "{}", path.display()),
        };
        write!(f, "{prefix}{}", path.display())?;
        if let Some(tag) = tag {
            write!(f, ":{tag}")?;
        }
        Ok(())
    }
}

/// Longest tag accepted (the grammar has no limit; this one keeps index.json sane).
const MAX_TAG: usize = 256;

/// The OCI `org.opencontainers.image.ref.name` grammar (image-spec annotations.md):
/// `component ("/" component)*`, `component = alphanum (separator alphanum)*`,
/// `alphanum = [A-Za-z0-9]+`, `separator = [-._:@+] | "--"`.
pub fn is_ref_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_TAG && s.split('/').all(is_ref_component)
}

fn is_ref_component(c: &str) -> bool {
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i == start {
            return false; // empty, or a separator where letters or digits must be
        }
        if i == b.len() {
            return true;
        }
        i += match (b[i], b.get(i + 1)) {
            (b'-', Some(b'-')) => 2,
            (b'-' | b'.' | b'_' | b':' | b'@' | b'+', _) => 1,
            _ => return false,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixes_and_tags() {
        assert_eq!(
            ImageRef::parse_output("oci:/tmp/out:v1").unwrap(),
            ImageRef::Dir {
                path: "/tmp/out".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            ImageRef::parse_output("oci-archive:img.tar").unwrap(),
            ImageRef::Archive {
                path: "img.tar".into(),
                tag: None
            }
        );
        // As skopeo: the path ends at the first colon; the tag may hold `/` and `:`.
        assert_eq!(
            ImageRef::parse_output("oci:/a:b/c:d").unwrap(),
            ImageRef::Dir {
                path: "/a".into(),
                tag: Some("b/c:d".into())
            }
        );
        assert!(ImageRef::parse_output("docker://x").is_err());
        assert!(ImageRef::parse_output("docker-archive:x.tar").is_err());
        let d = ImageRef::parse("docker-archive:/s/img:1.tar").unwrap();
        assert_eq!(
            d,
            ImageRef::DockerArchive {
                path: "/s/img:1.tar".into()
            }
        );
        assert_eq!(d.to_string(), "docker-archive:/s/img:1.tar");
        assert!(ImageRef::parse_output("oci:").is_err());
        assert_eq!(
            ImageRef::parse_output("oci:/x:t").unwrap().to_string(),
            "oci:/x:t"
        );
    }

    #[test]
    fn tags_follow_the_oci_ref_name_grammar() {
        for good in [
            "latest",
            "v1",
            "40.20240906.3.0",
            "a_b",
            "a--b",
            "quay.io/fedora/fedora-coreos:stable",
            "x@sha256:abc",
            "1.0+build",
        ] {
            assert!(is_ref_name(good), "{good}");
        }
        for bad in [
            "",
            "../../etc/x",
            ".hidden",
            "a..b",
            "a---b",
            "a/",
            "/a",
            "a//b",
            "-a",
            "a-",
            "a b",
            "a\x1bb",
            "ünï",
        ] {
            assert!(!is_ref_name(bad), "{bad}");
        }
        assert!(!is_ref_name(&"a".repeat(MAX_TAG + 1)));
        let e = ImageRef::parse_output("oci:x.oci:../../etc/x").unwrap_err();
        assert!(e.to_string().contains("is not a valid tag"), "{e}");
        assert!(ImageRef::parse("oci-archive:img.tar:../x").is_err());
    }
}
