//! Synthesized image chains: any history (the shipped FCOS streams, a generic history CSV, a
//! directory of `rpm -qa` dumps) turned into a chain of real root filesystems, one per
//! version, with genuine .rpm packages installed by the real `rpm` into
//! `usr/lib/sysimage/rpm`, so that the image builder can be measured on the same histories
//! the simulator replays.
//!
//! It lives in the datasets crate because it is the other half of what this crate does:
//! turning the histories it loads into trees. The parts, in the order data flows:
//! - [`chain`]: history → per-version plans (completion, `--scale`, package specs);
//! - [`identity`]: history names and version strings → rpm identities;
//! - [`layout`] + [`calibration`]: a package spec → its file list, calibrated on real
//!   Fedora-family file lists;
//! - [`content`]: deterministic file bytes with a chosen compressibility;
//! - [`rpmfile`]: specs → .rpm files, cached by NEVRA and spec digest;
//! - [`install`]: the `rpm -i` runner (the test fixture uses it too);
//! - [`unowned`]: the skeleton, initramfs, generated and other unowned content;
//! - [`realise`]: the components the scan will see in a tree (the realised history);
//! - [`tree`]: one version written, staged and renamed into place.
//!
//! Requires the `rpm` binary and root (rpm sets owners and file capabilities).

pub mod calibration;
pub mod chain;
pub mod content;
pub mod identity;
pub mod install;
pub mod layout;
pub mod realise;
pub mod rpmfile;
pub mod tree;
pub mod unowned;

pub use chain::{Chain, PackageSpec, Scale, VersionPlan, DESKTOP};
pub use rpmfile::RpmCache;
pub use tree::{write_version, NoProgress, Progress, Stage, TreeSummary};
