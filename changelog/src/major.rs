//! The "major components" block: the few packages a user looks for first (kernel, desktop,
//! graphics stack, container tools), with a label each.

use serde::Serialize;

use crate::inventory::Inventory;

/// One entry: a label and the packages that stand for it, first present wins
/// (`Kernel=kernel,kernel-core`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MajorSpec {
    pub label: String,
    pub packages: Vec<String>,
}

/// The default block, for bootc desktops and servers: entries whose packages are in neither
/// version are left out, so one list serves both.
pub const DEFAULT_MAJOR: &[&str] = &[
    "Kernel=kernel,kernel-core",
    "Firmware=linux-firmware",
    "systemd=systemd",
    "Mesa=mesa-dri-drivers",
    "NVIDIA=nvidia-driver",
    "GNOME=gnome-shell",
    "KDE Plasma=plasma-workspace",
    "Gamescope=gamescope",
    "bootc=bootc",
    "rpm-ostree=rpm-ostree",
    "Podman=podman",
];

impl std::str::FromStr for MajorSpec {
    type Err = String;

    /// `LABEL=PKG[,PKG...]` or a bare `PKG` (labelled with its own name).
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (label, packages) = spec.split_once('=').unwrap_or((spec, spec));
        let label = label.trim();
        let packages: Vec<String> = packages
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if label.is_empty() || packages.is_empty() {
            return Err(format!(
                "{spec:?}: expected PACKAGE or LABEL=PACKAGE[,PACKAGE...] (e.g. Kernel=kernel)"
            ));
        }
        Ok(MajorSpec {
            label: label.to_string(),
            packages,
        })
    }
}

/// The default entries, parsed.
pub fn default_major() -> Vec<MajorSpec> {
    DEFAULT_MAJOR
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// One resolved entry of the block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MajorEntry {
    pub label: String,
    /// The package that stands for it.
    pub package: String,
    /// `version-release` in the old and the new version (`None` where absent).
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The block for `specs`: each entry's first package present in either version.
pub fn major_entries(specs: &[MajorSpec], old: &Inventory, new: &Inventory) -> Vec<MajorEntry> {
    specs
        .iter()
        .filter_map(|spec| {
            let package = spec
                .packages
                .iter()
                .find(|p| new.get(p).is_some() || old.get(p).is_some())?;
            Some(MajorEntry {
                label: spec.label.clone(),
                package: package.clone(),
                old: old.get(package).map(|r| r.shown_version()),
                new: new.get(package).map(|r| r.shown_version()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Record;

    #[test]
    fn specs_parse_and_resolve_first_present() {
        let k: MajorSpec = "Kernel = kernel, kernel-core".parse().unwrap();
        assert_eq!(k.label, "Kernel");
        assert_eq!(k.packages, ["kernel", "kernel-core"]);
        let bare: MajorSpec = "mesa-dri-drivers".parse().unwrap();
        assert_eq!(bare.label, "mesa-dri-drivers");
        assert!("=kernel".parse::<MajorSpec>().is_err());
        assert!("Kernel=".parse::<MajorSpec>().is_err());
        assert_eq!(default_major().len(), DEFAULT_MAJOR.len());
        let inv = |v: &str| {
            Inventory::from_records("v", [Record::package("kernel-core", Some(v), None)], "t")
        };
        let entries = major_entries(&[k, bare], &inv("6.9.9-1.fc40"), &inv("6.9.10-1.fc40"));
        assert_eq!(
            entries,
            [MajorEntry {
                label: "Kernel".into(),
                package: "kernel-core".into(),
                old: Some("6.9.9-1.fc40".into()),
                new: Some("6.9.10-1.fc40".into()),
            }]
        );
    }
}
