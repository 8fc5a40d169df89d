//! Image references as skopeo and podman spell them: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
//! plus, for reading only, `docker-archive:FILE` (what `podman save` writes by default) and a
//! path to a manifest / config / `skopeo inspect` JSON file.

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
        let (path, tag) = split_tag(rest);
        if path.is_empty() {
            return Err(Error::Reference {
                reference: s.to_string(),
                reason: "the path is empty".to_string(),
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

/// Splits `path:tag` at the last colon when what follows is a valid tag (letters, digits, `_`,
/// `.`, `-`; never a `/`), so paths that contain colons still work.
fn split_tag(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((path, tag)) if is_tag(tag) => (path, Some(tag)),
        _ => (s, None),
    }
}

fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
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
        // A colon followed by a path is part of the path, not a tag.
        assert_eq!(
            ImageRef::parse_output("oci:/a:b/c").unwrap().path(),
            Path::new("/a:b/c")
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
}
