//! Writing an OCI image layout atomically.
//!
//! Everything is written into a staging directory next to the destination (same filesystem,
//! so the final step is a rename). Only [`Staging::commit`] touches the destination:
//! - `oci:DIR` that does not exist (or is an empty directory): the staging directory is renamed
//!   to DIR.
//! - `oci:DIR` that is already an OCI image layout: the new blobs are moved in, then
//!   `index.json` is replaced atomically with the new tag added (an older manifest with the
//!   same tag is untagged). A blob already there is kept only once its size and sha256 are
//!   checked; a truncated or altered one is replaced by ours. `blobs/` and `blobs/sha256/` must
//!   be real directories (a symlink there would send our blobs elsewhere) and `index.json` a
//!   regular file. A failure before the last rename leaves at most unreferenced blobs.
//! - `oci:DIR` that exists and is anything else: refused before any work starts.
//! - `oci-archive:FILE`: a tar of the layout is written to a temporary file next to FILE and
//!   renamed over it; an existing FILE is replaced whole, and only if it is a regular file
//!   (a device node, as in `--output oci-archive:/dev/null`, a symlink or a FIFO is refused).
//!
//! A failure or interruption drops the staging directory, which removes it; so does a second
//! Ctrl-C, and after a `kill -9` the next build next to the same destination
//! (`rechunk_fsio::scratch`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use rechunk_fsio::{check_output_file, ScratchDir, ScratchFile};
use tempfile::NamedTempFile;

use crate::error::{IoContext, NamedWriter};
use crate::hashing::sha256_hex;
use crate::json::canonical_bytes;
use crate::reference::{ImageRef, DEFAULT_TAG};
use crate::{Error, Result};

/// Annotation naming a manifest's tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A content-addressed blob: hex sha256 and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

impl Blob {
    pub fn descriptor(&self, media_type: MediaType) -> Result<Descriptor> {
        let digest: oci_spec::image::Digest = format!("sha256:{}", self.digest)
            .parse()
            .map_err(|e| Error::Internal(format!("invalid digest {}: {e}", self.digest)))?;
        Ok(Descriptor::new(media_type, self.size, digest))
    }
}

/// The staging layout of one build.
pub struct Staging {
    dir: ScratchDir,
    dest: ImageRef,
    blobs: PathBuf,
}

impl Staging {
    /// Checks the destination rule and creates the staging directory next to it.
    pub fn new(dest: &ImageRef) -> Result<Self> {
        let path = dest.path();
        check_destination(dest)?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).ctx("creating directory", &parent)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".to_string());
        let dir = ScratchDir::new_in(&parent, &format!(".{name}.rechunk-"))
            .ctx("creating a staging directory in", &parent)?;
        let blobs = dir.path().join("blobs").join("sha256");
        fs::create_dir_all(&blobs).ctx("creating", &blobs)?;
        Ok(Staging {
            dir,
            dest: dest.clone(),
            blobs,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new temporary file among the blobs, to stream a blob into.
    pub fn temp_blob(&self) -> Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.blobs)
            .ctx("creating a temporary blob in", &self.blobs)
    }

    /// Moves a finished temporary blob to its content address.
    pub fn persist_blob(&self, tmp: NamedTempFile, digest: &str) -> Result<()> {
        let target = self.blobs.join(digest);
        let file = tmp
            .persist(&target)
            .map_err(|e| Error::io("storing blob", &target, e.error))?;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .ctx("setting permissions of", &target)
    }

    /// Stores a small blob (a manifest or a config) held in memory.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Blob> {
        let digest = sha256_hex(bytes);
        let mut tmp = self.temp_blob()?;
        tmp.write_all(bytes).ctx("writing", tmp.path())?;
        self.persist_blob(tmp, &digest)?;
        Ok(Blob {
            digest,
            size: bytes.len() as u64,
        })
    }

    /// Publishes the image whose manifest is `manifest` under the destination's tag.
    /// Returns the final reference.
    pub fn commit(self, manifest: Descriptor) -> Result<ImageRef> {
        let tag = self.dest.tag().unwrap_or(DEFAULT_TAG).to_string();
        let mut manifest = manifest;
        let mut ann = manifest.annotations().clone().unwrap_or_default();
        ann.insert(REF_NAME.to_string(), tag.clone());
        manifest.set_annotations(Some(ann));
        let final_ref = match &self.dest {
            ImageRef::Dir { path, .. } => ImageRef::Dir {
                path: path.clone(),
                tag: Some(tag.clone()),
            },
            ImageRef::Archive { path, .. } => ImageRef::Archive {
                path: path.clone(),
                tag: Some(tag.clone()),
            },
            ImageRef::Json(p) | ImageRef::DockerArchive { path: p } => {
                return Err(Error::invalid(
                    p,
                    "can only write oci: or oci-archive: images",
                ))
            }
        };
        let dest = self.dest.clone();
        match &dest {
            ImageRef::Dir { path, .. } if is_layout(path) => self.merge_into(path, manifest)?,
            ImageRef::Dir { path, .. } => self.rename_to(path, manifest)?,
            ImageRef::Archive { path, .. } => self.archive_to(path, manifest)?,
            ImageRef::Json(_) | ImageRef::DockerArchive { .. } => {
                unreachable!("rejected above")
            }
        }
        Ok(final_ref)
    }

    fn write_layout_files(&self, manifests: Vec<Descriptor>) -> Result<()> {
        let root = self.dir.path();
        write_file(&root.join("oci-layout"), OCI_LAYOUT)?;
        write_index(&root.join("index.json"), manifests)
    }

    fn rename_to(self, dest: &Path, manifest: Descriptor) -> Result<()> {
        self.write_layout_files(vec![manifest])?;
        let root = self.dir.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))
            .ctx("setting permissions of", root)?;
        // rename(2) replaces an empty directory, and fails (leaving it alone) on anything else.
        fs::rename(root, dest).ctx("moving the finished image to", dest)?;
        // Renamed away: nothing left to remove.
        self.dir.disarm();
        Ok(())
    }

    fn merge_into(self, dest: &Path, manifest: Descriptor) -> Result<()> {
        let index_path = dest.join("index.json");
        let bytes = rechunk_fsio::read_capped(
            &index_path,
            rechunk_fsio::Links::NoFollow,
            crate::read::MAX_JSON_BLOB,
            "an OCI index",
        )
        .ctx("reading", &index_path)?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| Error::json(&index_path, e))?;
        let dest_blobs = dest.join("blobs").join("sha256");
        check_blob_dirs(dest)?;
        fs::create_dir_all(&dest_blobs).ctx("creating", &dest_blobs)?;
        check_blob_dirs(dest)?;
        for entry in fs::read_dir(&self.blobs).ctx("listing", &self.blobs)? {
            let entry = entry.ctx("listing", &self.blobs)?;
            let name = entry.file_name();
            let target = dest_blobs.join(&name);
            let size = entry
                .metadata()
                .ctx("reading metadata of", &entry.path())?
                .len();
            if !holds_blob(&target, &name.to_string_lossy(), size) {
                // Absent, or not what its name says (truncated, altered, not a file): ours.
                fs::rename(entry.path(), &target).ctx("moving blob to", &target)?;
            }
        }
        let tag = manifest
            .annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME));
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| {
                d.annotations().as_ref().and_then(|a| a.get(REF_NAME)) != tag || tag.is_none()
            })
            .cloned()
            .collect();
        manifests.push(manifest);
        let tmp = self.dir.path().join("index.json");
        write_index(&tmp, manifests)?;
        fs::rename(&tmp, &index_path).ctx("replacing", &index_path)
    }

    fn archive_to(self, dest: &Path, manifest: Descriptor) -> Result<()> {
        self.write_layout_files(vec![manifest])?;
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = ScratchFile::new_in(parent, &format!(".{name}.rechunk-archive-"), "")
            .ctx("creating a temporary archive in", parent)?;
        {
            let mut out =
                BufWriter::with_capacity(1 << 20, NamedWriter::new(tmp.as_file(), tmp.path()));
            write_layout_tar(&mut out, self.dir.path())?;
            out.flush().ctx("writing", tmp.path())?;
        }
        // Checked again: what is at the destination now is what gets replaced.
        check_output_file(dest).ctx("replacing", dest)?;
        let file = tmp
            .persist(dest)
            .ctx("moving the finished archive to", dest)?;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .ctx("setting permissions of", dest)
    }
}

/// Refuses destinations we would have to overwrite or mix into.
fn check_destination(dest: &ImageRef) -> Result<()> {
    let path = dest.path();
    match dest {
        ImageRef::Dir { .. } if path.is_dir() => {
            let empty = fs::read_dir(path).ctx("listing", path)?.next().is_none();
            if empty {
                Ok(())
            } else if is_layout(path) {
                check_blob_dirs(path)
            } else {
                Err(Error::invalid(
                    path,
                    "exists and is neither empty nor an OCI image layout; refusing to write \
                     into it",
                ))
            }
        }
        ImageRef::Dir { .. } if path.exists() => Err(Error::invalid(
            path,
            "exists and is not a directory; refusing to replace it",
        )),
        ImageRef::Archive { .. } if path.is_dir() => Err(Error::invalid(
            path,
            "is a directory; an oci-archive output must be a file",
        )),
        ImageRef::Archive { .. } => check_output_file(path).ctx("writing", path),
        ImageRef::Json(p) | ImageRef::DockerArchive { path: p } => Err(Error::invalid(
            p,
            "can only write oci: or oci-archive: images",
        )),
        _ => Ok(()),
    }
}

/// `blobs/` and `blobs/sha256/` of an existing layout, where present, must be directories
/// of the layout itself: a symlink there would send our blobs somewhere else.
fn check_blob_dirs(layout: &Path) -> Result<()> {
    for dir in [layout.join("blobs"), layout.join("blobs").join("sha256")] {
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                let what = if m.is_symlink() {
                    "a symbolic link"
                } else {
                    "not a directory"
                };
                return Err(Error::invalid(
                    &dir,
                    format!("is {what} in an existing layout; refusing to write blobs through it"),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("reading metadata of", dir, e)),
        }
    }
    Ok(())
}

/// True when `path` is a regular file of `size` bytes whose sha256 is `hex`: a blob an
/// existing layout may keep. Anything unreadable counts as not holding it.
fn holds_blob(path: &Path, hex: &str, size: u64) -> bool {
    let Ok(file) = rechunk_fsio::open_regular(path, rechunk_fsio::Links::NoFollow) else {
        return false;
    };
    if file.metadata().map(|m| m.len()).ok() != Some(size) {
        return false;
    }
    let mut hasher = crate::hashing::HashWriter::new(std::io::sink());
    let read = std::io::copy(
        &mut std::io::BufReader::with_capacity(1 << 20, file),
        &mut hasher,
    );
    let (_, digest, count) = hasher.finish();
    read.is_ok() && count == size && digest.as_deref() == Some(hex)
}

fn is_layout(path: &Path) -> bool {
    path.join("oci-layout").is_file() && path.join("index.json").is_file()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).ctx("writing", path)
}

fn write_index(path: &Path, manifests: Vec<Descriptor>) -> Result<()> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| Error::Internal(format!("building index.json: {e}")))?;
    let bytes = canonical_bytes(&index).map_err(|e| Error::json(path, e))?;
    write_file(path, &bytes)
}

/// A deterministic tar of a layout directory: `oci-layout`, `index.json`, then the blobs in
/// name order; root-owned, mtime 0.
fn write_layout_tar<W: Write>(out: &mut W, root: &Path) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    let dir = |tar: &mut tar::Builder<&mut W>, name: &str| -> Result<()> {
        let h = archive_header(tar::EntryType::Directory, 0o755, 0);
        let mut h = h;
        h.set_path(name).ctx("archiving", &root.join(name))?;
        h.set_cksum();
        tar.append(&h, std::io::empty())
            .ctx("archiving", &root.join(name))
    };
    let file = |tar: &mut tar::Builder<&mut W>, name: &str| -> Result<()> {
        let path = root.join(name);
        let f = File::open(&path).ctx("opening", &path)?;
        let len = f.metadata().ctx("reading metadata of", &path)?.len();
        let mut h = archive_header(tar::EntryType::Regular, 0o644, len);
        h.set_path(name).ctx("archiving", &path)?;
        h.set_cksum();
        tar.append(&h, f).ctx("archiving", &path)
    };
    file(&mut tar, "oci-layout")?;
    file(&mut tar, "index.json")?;
    dir(&mut tar, "blobs/")?;
    dir(&mut tar, "blobs/sha256/")?;
    let blobs = root.join("blobs").join("sha256");
    let mut names: Vec<String> = fs::read_dir(&blobs)
        .ctx("listing", &blobs)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()
        .ctx("listing", &blobs)?;
    names.sort();
    for name in names {
        file(&mut tar, &format!("blobs/sha256/{name}"))?;
    }
    tar.finish().ctx("finishing archive of", root)?;
    Ok(())
}

fn archive_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h
}
