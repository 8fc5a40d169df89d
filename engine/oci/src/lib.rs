//! The OCI side of rechunk: write a reproducible image from a tree and a plan, read back what
//! images say about themselves (layers, plan, components) for `--previous`, `inspect`, `diff`
//! and history import, and read an image's layers as a tree for `--from`.
//!
//! Writing: [`build_image`] assigns a tree's entries to plan layers, streams each layer as a
//! reproducible tar (what each entry becomes is [`rechunk_tree::WriteRules`]'s call; contents
//! come through a [`rechunk_tree::ContentSource`]) through the pinned compressor
//! ([`Compression`]) into a staging layout, and publishes it atomically. The writer depends on
//! the tree model only, not on how the tree was read.
//! [`build_ostree_image`] writes the same plan as bootc's chunked ostree-container layout
//! (`--format ostree`), its ostree objects computed by `rechunk-ostree`.
//! Reading: [`open_image`] → [`ImageInfo`], then [`previous_plan`], [`image_snapshot`],
//! [`image_diff`], [`image_inventory`] (components and layer membership, for release notes);
//! [`read_image_tree`] → [`ImageTree`] (the layers applied in order, the files readable
//! through [`StagedContent`]).

mod assign;
mod compression;
mod config;
mod diff;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod hashing;
pub mod interrupt;
mod inventory;
pub mod jobs;
mod json;
mod layer_tar;
mod layout;
mod ostree_format;
mod previous;
mod read;
mod reference;
mod snapshot;
mod source;
mod write;

pub use compression::{Compression, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL};
pub use config::{
    check_user_label, host_architecture, ComponentMeta, BOOTC_LABEL, COMPONENTS_LABEL, OWN_LABELS,
};
pub use diff::image_diff;
pub use error::{Error, Result};
pub use inventory::{
    image_inventory, ImageComponent, ImageInventory, InventoryFormat, OSTREE_LINUX,
};
pub use ostree_format::{
    build_ostree_image, ostree_rules, OstreeBuild, FINAL_DIFFID_LABEL, OSTREE_BOOTABLE,
    OSTREE_COMMIT_LABEL,
};
pub use previous::{previous_plan, PreviousFormat, PreviousPlan, HHD_LABEL, OSTREE_COMPONENTS};
pub use read::{open_image, ImageInfo, LayerInfo, MAX_JSON_BLOB};
pub use reference::{ImageRef, DEFAULT_TAG};
pub use snapshot::image_snapshot;
pub use source::{
    default_tmpdir, read_image_tree, FromOptions, ImageTree, StageReport, StagedContent,
};
pub use write::{
    build_image, component_versions, is_bootable, BuildReport, BuildRequest, BuiltLayer,
    FinishVersions, LateVersions, Progress, LAYER_KEY,
};
