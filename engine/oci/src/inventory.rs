//! What an image says about its components, for release notes (`rechunk changelog`): their
//! names, versions and sizes as far as its metadata carries them, and which components each
//! manifest layer holds. Only the manifest and config are read, never a layer blob.
//!
//! What each kind of image carries:
//! - **ours** (`dev.rechunk.plan` + `dev.rechunk.components` labels): every component with its
//!   exact version (`[epoch:]version-release.arch`, `+digest` when its files differ from the
//!   rpmdb), kind and uncompressed size; `ostree.components` on every layer.
//! - **hhd-dev/rechunk** (`dev.hhd.rechunk.info`, version 1 or 2): every package's
//!   `version-release` (no epoch, no arch, no size; one entry per name); its layers'
//!   `ostree.components` name packages and `meta:` groups from its `meta.yml`, whose members
//!   the image does not list.
//! - **rpm-ostree / ostree-ext** (`build-chunked-oci`, `container encapsulate`):
//!   `ostree.components` names the packages of each layer, with no versions and no sizes;
//!   `ostree.linux` gives the kernel's version. Package versions live in the ostree commit
//!   inside a layer blob, which this reader does not open.
//! - anything else: layers only.

use std::collections::BTreeMap;

use rechunk_model::{ComponentKind, PLAN_LABEL};

use crate::previous::{split_names, HHD_LABEL, OSTREE_COMPONENTS};
use crate::read::ImageInfo;
use crate::snapshot::image_snapshot;
use crate::{Error, Result};

/// The kernel version label rpm-ostree / ostree-ext images carry (`uname -r`).
pub const OSTREE_LINUX: &str = "ostree.linux";

/// Where an image's component list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InventoryFormat {
    /// Our plan and components labels.
    Record,
    /// hhd-dev/rechunk's `dev.hhd.rechunk.info` label.
    Hhd,
    /// rpm-ostree's `ostree.components` layer annotations (names only).
    OstreeComponents,
    /// None of them.
    None,
}

impl InventoryFormat {
    /// How the format is named to users.
    pub fn describe(self) -> &'static str {
        match self {
            InventoryFormat::Record => "rechunk plan label",
            InventoryFormat::Hhd => "hhd-dev/rechunk label dev.hhd.rechunk.info",
            InventoryFormat::OstreeComponents => "ostree.components layer annotations",
            InventoryFormat::None => "no component metadata",
        }
    }
}

/// One component as the image describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageComponent {
    pub name: String,
    pub kind: ComponentKind,
    /// The version string, when the image carries one.
    pub version: Option<String>,
    /// Uncompressed bytes, when the image carries them.
    pub size: Option<u64>,
}

/// What an image says about its components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInventory {
    pub format: InventoryFormat,
    /// Sorted by name, one per name.
    pub components: Vec<ImageComponent>,
    /// Per manifest layer, the names in its `ostree.components` annotation (`None` without).
    pub layers: Vec<Option<Vec<String>>>,
    /// The `ostree.linux` label.
    pub kernel: Option<String>,
}

/// Reads `image`'s component list and layer membership (see the module doc).
pub fn image_inventory(image: &ImageInfo) -> Result<ImageInventory> {
    let layers: Vec<Option<Vec<String>>> = image
        .layers
        .iter()
        .map(|l| l.annotations.get(OSTREE_COMPONENTS).map(|s| split_names(s)))
        .collect();
    let (format, mut components) = if image.labels.contains_key(PLAN_LABEL) {
        (InventoryFormat::Record, record_components(image)?)
    } else if let Some(json) = image.labels.get(HHD_LABEL) {
        (InventoryFormat::Hhd, hhd_components(image, json)?)
    } else if layers.iter().any(Option::is_some) {
        let names = layers.iter().flatten().flatten();
        let components = names
            .map(|name| ImageComponent {
                name: name.clone(),
                kind: if name.starts_with("rpmostree-") {
                    ComponentKind::Other
                } else {
                    ComponentKind::Package
                },
                version: None,
                size: None,
            })
            .collect();
        (InventoryFormat::OstreeComponents, components)
    } else {
        (InventoryFormat::None, Vec::new())
    };
    components.sort_by(|a, b| a.name.cmp(&b.name));
    components.dedup_by(|a, b| a.name == b.name);
    Ok(ImageInventory {
        format,
        components,
        layers,
        kernel: image.labels.get(OSTREE_LINUX).cloned(),
    })
}

fn record_components(image: &ImageInfo) -> Result<Vec<ImageComponent>> {
    let has_sizes = image.labels.contains_key(crate::COMPONENTS_LABEL);
    Ok(image_snapshot(image)?
        .components
        .into_iter()
        .map(|c| ImageComponent {
            name: c.name,
            kind: c.kind,
            version: Some(c.version),
            size: has_sizes.then_some(c.size),
        })
        .collect())
}

fn hhd_components(image: &ImageInfo, json: &str) -> Result<Vec<ImageComponent>> {
    let bad = |reason: String| Error::invalid(&image.source, reason);
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| bad(format!("label {HHD_LABEL} is not valid JSON: {e}")))?;
    let packages: BTreeMap<String, serde_json::Value> = match v.get("packages") {
        Some(serde_json::Value::Object(m)) => m.clone().into_iter().collect(),
        _ => return Err(bad(format!("label {HHD_LABEL} has no \"packages\" object"))),
    };
    packages
        .into_iter()
        .map(|(name, version)| match version.as_str() {
            Some(v) => Ok(ImageComponent {
                name,
                kind: ComponentKind::Package,
                version: Some(v.to_string()),
                size: None,
            }),
            None => Err(bad(format!(
                "label {HHD_LABEL}: package {name:?} has version {version}, not a string"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::LayerInfo;

    fn layer(components: Option<&str>) -> LayerInfo {
        LayerInfo {
            digest: "sha256:00".into(),
            size: 10,
            media_type: String::new(),
            annotations: components
                .map(|c| [(OSTREE_COMPONENTS.to_string(), c.to_string())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn hhd_label_gives_versions_and_layers_keep_meta_names() {
        let info = r#"{"version": 2, "uniq": "x", "revision": null,
            "packages": {"kernel": "6.9.9-206.fsync.fc40", "hhd": "3.3.4-1.fc40"},
            "layers": [["dedi:meta:kernel"], ["hhd"]]}"#;
        let image = ImageInfo {
            labels: [(HHD_LABEL.to_string(), info.to_string())].into(),
            layers: vec![layer(Some("dedi:meta:kernel")), layer(Some("hhd,meta:kde"))],
            ..ImageInfo::default()
        };
        let inv = image_inventory(&image).unwrap();
        assert_eq!(inv.format, InventoryFormat::Hhd);
        assert_eq!(inv.components.len(), 2);
        assert_eq!(inv.components[0].version.as_deref(), Some("3.3.4-1.fc40"));
        assert_eq!(inv.components[0].size, None);
        assert_eq!(
            inv.layers,
            [
                Some(vec!["kernel".to_string()]),
                Some(vec!["hhd".into(), "kde".into()])
            ]
        );
        let broken = ImageInfo {
            labels: [(
                HHD_LABEL.to_string(),
                r#"{"packages": {"a": 1}}"#.to_string(),
            )]
            .into(),
            ..ImageInfo::default()
        };
        assert!(image_inventory(&broken).is_err());
    }

    #[test]
    fn ostree_annotations_give_names_only_and_the_kernel_label() {
        let image = ImageInfo {
            labels: [(OSTREE_LINUX.to_string(), "6.9.9-200.fc40.x86_64".into())].into(),
            layers: vec![
                layer(None),
                layer(Some("kernel-core,kernel-modules")),
                layer(Some("rpmostree-unpackaged-content")),
            ],
            ..ImageInfo::default()
        };
        let inv = image_inventory(&image).unwrap();
        assert_eq!(inv.format, InventoryFormat::OstreeComponents);
        let names: Vec<(&str, ComponentKind, Option<&str>)> = inv
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.kind, c.version.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("kernel-core", ComponentKind::Package, None),
                ("kernel-modules", ComponentKind::Package, None),
                ("rpmostree-unpackaged-content", ComponentKind::Other, None)
            ]
        );
        assert_eq!(inv.layers[0], None);
        assert_eq!(inv.kernel.as_deref(), Some("6.9.9-200.fc40.x86_64"));
        let bare = image_inventory(&ImageInfo::default()).unwrap();
        assert_eq!(
            (bare.format, bare.components.len()),
            (InventoryFormat::None, 0)
        );
    }
}
