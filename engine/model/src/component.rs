//! A component: the unit a strategy places into a layer.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What a component stands for, and so which rule made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    /// One binary rpm package.
    Package,
    /// All binary packages built from one source rpm (`--group-by-source`).
    SourcePackage,
    /// Files tagged with the `user.component` xattr (inherited by a directory's children).
    Xattr,
    /// Unowned files under one top-level directory (`unpackaged:/etc`, ...).
    Unpackaged,
    /// One unowned file of at least 1 MiB, on its own.
    BigFile,
    /// The rpm database itself: it changes on every package change.
    Rpmdb,
    /// Content a compose regenerates rather than installs (the SELinux policy store, the udev
    /// hwdb, `ld.so.cache`, font, pixbuf, GSettings, MIME and icon caches, the info `dir`,
    /// extracted CA bundles, other present `%ghost` files), one component per class
    /// (`generated:hwdb`, ...): it changes whenever what it is made from does.
    Generated,
    /// A kernel's initramfs: regenerated on every build.
    Initramfs,
    /// Anything else a history source names that is not a package (e.g. rpm-ostree's
    /// `rpmostree-unpackaged-content`).
    Other,
}

impl ComponentKind {
    /// True for content that is rebuilt on every image build whatever happened to packages.
    pub fn changes_always(self) -> bool {
        matches!(self, ComponentKind::Rpmdb | ComponentKind::Initramfs)
    }
}

/// Tar bytes a layer spends on each non-directory entry besides its content: the 512-byte
/// header, and the padding of a regular file to the next 512-byte block, 256 bytes on average
/// (content sizes are not multiples of 512). Not counted, as the history does not say: the
/// parent directories a layer repeats for entries whose directory another component owns,
/// PAX records for long names and xattrs, the 1 KiB end of every layer, and that a symlink or
/// hardlink has no padding. Measured against built images by `rechunk compare --build`.
pub const TAR_BYTES_PER_FILE: u64 = 512 + 256;
/// Tar bytes of a directory entry: its header.
pub const TAR_BYTES_PER_DIRECTORY: u64 = 512;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The unit a strategy places: a package, a source-package group, an xattr component, a
/// directory of unowned files, or one big unowned file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// Unique within a snapshot; stable across versions (a package name, `unpackaged:/etc`, ...).
    pub name: String,
    pub kind: ComponentKind,
    /// Identifies the content: `[epoch:]version-release.arch` for packages, a content digest for
    /// the rest. Two snapshots hold the same content for a component iff the versions are equal.
    pub version: String,
    /// Uncompressed bytes of the component's files.
    pub size: u64,
    /// Number of files (0 when the source does not say).
    #[serde(default)]
    pub files: u64,
    /// Number of directories it owns (0 when the source does not say).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dirs: u64,
    /// Source package name (`systemd` for `systemd-libs`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Package build time, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_time: Option<Timestamp>,
    /// rpm changelog entry times, newest first as rpm stores them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changelog_times: Vec<Timestamp>,
    /// A precomputed change count when the source gives only that (rpm-ostree contentmeta's
    /// `change_frequency`): changelog entries within 365 days of the newest build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_frequency: Option<u32>,
    /// Names of the components this one requires (resolved requires → provides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
}

impl Component {
    /// A component with only the fields every source knows; the rest empty.
    pub fn new(
        name: impl Into<String>,
        kind: ComponentKind,
        version: impl Into<String>,
        size: u64,
    ) -> Self {
        Component {
            name: name.into(),
            kind,
            version: version.into(),
            size,
            files: 0,
            dirs: 0,
            source: None,
            build_time: None,
            changelog_times: Vec::new(),
            change_frequency: None,
            requires: Vec::new(),
        }
    }

    /// The bytes this component adds to a layer's tar: its content and, when the source counts
    /// its files and directories, their tar framing ([`TAR_BYTES_PER_FILE`],
    /// [`TAR_BYTES_PER_DIRECTORY`] each). Without counts (the lockfile histories) it is the
    /// content alone, about 2 to 5% under the built layer.
    pub fn layer_bytes(&self) -> u64 {
        self.size
            .saturating_add(self.files.saturating_mul(TAR_BYTES_PER_FILE))
            .saturating_add(self.dirs.saturating_mul(TAR_BYTES_PER_DIRECTORY))
    }

    /// The name that groups subpackages: the source package when known, else the own name.
    pub fn source_or_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }
}
