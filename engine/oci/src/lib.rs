//! The OCI side of rechunk: write a reproducible image from a scanned tree and a plan, and read
//! back what images say about themselves (layers, plan, components) for `--previous`,
//! `inspect`, `diff` and history import.
//!
//! Writing: [`build_image`] assigns entries to plan layers ([`assign`]), streams each layer as a
//! reproducible tar ([`layer_tar`]) through the pinned compressor ([`Compression`]) into a
//! staging layout, and publishes it atomically ([`layout`]).
//! Reading: [`open_image`] → [`Image`], then [`previous_plan`], [`image_snapshot`],
//! [`image_diff`], [`image_inventory`] (components and layer membership, for release notes).

pub mod assign;
mod compression;
mod config;
mod diff;
mod error;
mod hashing;
pub mod interrupt;
mod inventory;
mod json;
pub mod layer_tar;
pub mod layout;
mod previous;
mod read;
mod reference;
mod root;
mod snapshot;
mod write;

pub use compression::{Compression, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL};
pub use config::{host_architecture, ComponentMeta, BOOTC_LABEL, COMPONENTS_LABEL};
pub use diff::image_diff;
pub use error::{Error, Result};
pub use inventory::{
    image_inventory, ImageComponent, ImageInventory, InventoryFormat, OSTREE_LINUX,
};
pub use previous::{previous_plan, PreviousFormat, PreviousPlan, HHD_LABEL, OSTREE_COMPONENTS};
pub use read::{open_image, Image, LayerInfo};
pub use reference::{ImageRef, DEFAULT_TAG};
pub use root::RootDir;
pub use snapshot::image_snapshot;
pub use write::{
    build_image, component_versions, is_bootable, BuildReport, BuildRequest, BuiltLayer, Progress,
    LAYER_KEY,
};
