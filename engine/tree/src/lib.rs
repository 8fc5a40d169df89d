//! The tree model: what every input (a directory scan, an image's layers, later an ostree
//! commit) produces and what the image writer consumes, plus the rules that decide what a
//! layer holds, in one place so that the writer and the component versions cannot disagree.
//!
//! - [`Entry`] / [`Tree`]: every path with the metadata needed to reproduce it, sorted by path.
//! - [`ContentSource`]: opens a regular entry's bytes ([`DirSource`] for a directory,
//!   [`MemorySource`] for tests; an image's staged content lives in `rechunk-oci`).
//! - [`WriteRules`] → [`Written`]: exactly what the writer puts in a layer for an entry (mode,
//!   owner, written mtime, xattrs, hardlink), and [`Written::hash`], the per-entry hash that
//!   component versions are made of. A version moves iff a layer's bytes do because both come
//!   from here.
//! - [`layer_members`]: the paths a layer holds (its entries and every parent directory).
//! - [`belongs`]: which paths never go into an image (volatile directories, caches, skip
//!   xattr, a non-empty /boot), shared by the directory walk and the image reader.

pub mod belongs;
mod content;
mod dir;
mod entry;
mod error;
mod members;
mod written;

pub use belongs::{SkipReason, Skipped};
pub use content::{content_digest, read_content, ContentHasher, ContentSource, MemorySource};
pub use dir::DirSource;
pub use entry::{path_order, xattr_name_fits_tar, Entry, EntryKind, InodeId, Tree};
pub use error::Error;
pub use members::{layer_members, DirIndex, Member};
pub use written::{
    SelinuxMode, WriteRules, Written, WrittenKind, DIR_MTIME, HOST_XATTRS, SELINUX_XATTR,
    SYNTHETIC_DIR_MODE,
};
