//! The plan a previous image was built with, so the next build can keep its layers stable.
//!
//! Three formats, tried in this order:
//! 1. our [`PLAN_LABEL`] config label: the full [`PlanRecord`] (plan, versions, change history);
//! 2. rpm-ostree / ostree-ext's per-layer manifest annotation `ostree.components`
//!    (comma-separated component names; a layer without it is kept as an empty layer so that
//!    positions line up);
//! 3. hhd-dev/rechunk's config label `dev.hhd.rechunk.info`: JSON
//!    `{"version": 2, "layers": [[name, ...], ...], "packages": {name: "version-release"}}`,
//!    whose names may carry its `meta:` / `dedi:` prefixes (stripped, as hhd-dev/rechunk does
//!    when it reads them back; `null` placeholders are dropped). Version 1 has no layers.

use std::collections::BTreeMap;

use rechunk_model::{ChangeHistory, Layer, Plan, PlanRecord, PLAN_LABEL, PLAN_RECORD_VERSION};
use serde_json::Value;

use crate::read::ImageInfo;
use crate::{Error, Result};

/// Per-layer manifest annotation listing the layer's components (rpm-ostree's name).
pub const OSTREE_COMPONENTS: &str = "ostree.components";
/// hhd-dev/rechunk's config label.
pub const HHD_LABEL: &str = "dev.hhd.rechunk.info";

/// Which format the previous plan came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreviousFormat {
    Record,
    OstreeComponents,
    Hhd,
    /// An ostree ref's commit log (`--previous ostree:REPO:REF`): versions and change
    /// history, no plan.
    OstreeLog,
}

/// The previous image's plan and whatever else it remembers.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviousPlan {
    pub format: PreviousFormat,
    pub plan: Plan,
    /// The change history carried by our record; empty for the other formats.
    pub history: ChangeHistory,
    /// Component versions of the previous image, when the format has them.
    pub versions: BTreeMap<String, String>,
    /// Our full record, when the image had one.
    pub record: Option<PlanRecord>,
}

/// Reads the previous plan; `None` when the image carries none of the three formats.
pub fn previous_plan(image: &ImageInfo) -> Result<Option<PreviousPlan>> {
    if let Some(json) = image.labels.get(PLAN_LABEL) {
        return from_record(image, json).map(Some);
    }
    if image
        .layers
        .iter()
        .any(|l| l.annotations.contains_key(OSTREE_COMPONENTS))
    {
        return Ok(Some(from_ostree_annotations(image)));
    }
    if let Some(json) = image.labels.get(HHD_LABEL) {
        return from_hhd(image, json);
    }
    Ok(None)
}

fn from_record(image: &ImageInfo, json: &str) -> Result<PreviousPlan> {
    let bad = |reason: String| Error::invalid(&image.source, reason);
    let record: PlanRecord = serde_json::from_str(json).map_err(|e| {
        bad(format!(
            "label {PLAN_LABEL} is not a valid plan record: {e}"
        ))
    })?;
    if record.version > PLAN_RECORD_VERSION {
        return Err(bad(format!(
            "label {PLAN_LABEL} has record version {}, newer than this rechunk understands \
             ({PLAN_RECORD_VERSION}); upgrade rechunk",
            record.version
        )));
    }
    Ok(PreviousPlan {
        format: PreviousFormat::Record,
        plan: record.plan.clone(),
        history: record.history.clone(),
        versions: record.components.clone(),
        record: Some(record),
    })
}

fn from_ostree_annotations(image: &ImageInfo) -> PreviousPlan {
    let layers = image
        .layers
        .iter()
        .map(|l| {
            l.annotations
                .get(OSTREE_COMPONENTS)
                .map(|names| Layer::new(split_names(names)))
                .unwrap_or_default()
        })
        .collect();
    PreviousPlan {
        format: PreviousFormat::OstreeComponents,
        plan: Plan::new(layers),
        history: ChangeHistory::default(),
        versions: BTreeMap::new(),
        record: None,
    }
}

fn from_hhd(image: &ImageInfo, json: &str) -> Result<Option<PreviousPlan>> {
    let bad = |reason: String| Error::invalid(&image.source, reason);
    let v: Value = serde_json::from_str(json)
        .map_err(|e| bad(format!("label {HHD_LABEL} is not valid JSON: {e}")))?;
    let Some(layers) = v.get("layers").and_then(Value::as_array) else {
        // Version 1 records only package versions: nothing to keep stable.
        return Ok(None);
    };
    let mut plan = Plan::default();
    for layer in layers {
        let names: Vec<String> = match layer {
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(split_names)
                .collect(),
            Value::String(s) => split_names(s),
            other => {
                return Err(bad(format!(
                    "label {HHD_LABEL}: unexpected layer {}",
                    rechunk_fsio::shown::excerpt(&other.to_string())
                )))
            }
        };
        plan.layers.push(Layer::new(names));
    }
    let versions = v
        .get("packages")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(PreviousPlan {
        format: PreviousFormat::Hhd,
        plan,
        history: ChangeHistory::default(),
        versions,
        record: None,
    }))
}

/// Splits a comma-separated list, dropping hhd-dev/rechunk's prefixes and placeholders.
pub(crate) fn split_names(s: &str) -> Vec<String> {
    s.split(',')
        .map(|n| {
            let mut n = n.trim();
            while let Some(rest) = n.strip_prefix("dedi:").or_else(|| n.strip_prefix("meta:")) {
                n = rest;
            }
            n
        })
        .filter(|n| !n.is_empty() && *n != "null")
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::LayerInfo;

    fn layer(ann: Option<&str>) -> LayerInfo {
        LayerInfo {
            digest: "sha256:00".into(),
            size: 1,
            media_type: String::new(),
            annotations: ann
                .map(|a| [(OSTREE_COMPONENTS.to_string(), a.to_string())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn ostree_annotations_keep_positions() {
        let image = ImageInfo {
            layers: vec![
                layer(Some("glibc,bash")),
                layer(None),
                layer(Some("kernel")),
            ],
            ..ImageInfo::default()
        };
        let p = previous_plan(&image).unwrap().unwrap();
        assert_eq!(p.format, PreviousFormat::OstreeComponents);
        assert_eq!(
            p.plan,
            Plan::new(vec![
                Layer::new(["glibc", "bash"]),
                Layer::default(),
                Layer::new(["kernel"])
            ])
        );
    }

    #[test]
    fn hhd_label_v2_strips_prefixes() {
        let info = r#"{"version": 2, "uniq": "x", "revision": null,
            "packages": {"kernel": "6.9.9-206.fsync.fc40", "mesa": "24.1-1"},
            "layers": [["dedi:meta:kernel"], ["mesa", "null", "meta:gaming"], "a,b"]}"#;
        let image = ImageInfo {
            labels: [(HHD_LABEL.to_string(), info.to_string())].into(),
            ..ImageInfo::default()
        };
        let p = previous_plan(&image).unwrap().unwrap();
        assert_eq!(p.format, PreviousFormat::Hhd);
        assert_eq!(
            p.plan,
            Plan::new(vec![
                Layer::new(["kernel"]),
                Layer::new(["mesa", "gaming"]),
                Layer::new(["a", "b"])
            ])
        );
        assert_eq!(p.versions["kernel"], "6.9.9-206.fsync.fc40");
        let v1 = ImageInfo {
            labels: [(
                HHD_LABEL.to_string(),
                r#"{"version":1,"uniq":"","packages":{}}"#.into(),
            )]
            .into(),
            ..ImageInfo::default()
        };
        assert_eq!(previous_plan(&v1).unwrap(), None);
    }

    #[test]
    fn record_label_wins_and_newer_versions_are_refused() {
        let record = PlanRecord {
            version: PLAN_RECORD_VERSION,
            strategy: "single".into(),
            max_layers: 4,
            plan: Plan::new(vec![Layer::new(["a"])]),
            components: [("a".to_string(), "1".to_string())].into(),
            history: ChangeHistory::default(),
        };
        let mut image = ImageInfo {
            labels: [(
                PLAN_LABEL.to_string(),
                serde_json::to_string(&record).unwrap(),
            )]
            .into(),
            layers: vec![layer(Some("other"))],
            ..ImageInfo::default()
        };
        let p = previous_plan(&image).unwrap().unwrap();
        assert_eq!(p.format, PreviousFormat::Record);
        assert_eq!(p.record, Some(record.clone()));
        let mut newer = record;
        newer.version = PLAN_RECORD_VERSION + 1;
        image
            .labels
            .insert(PLAN_LABEL.into(), serde_json::to_string(&newer).unwrap());
        assert!(previous_plan(&image).is_err());
        image.labels.insert(PLAN_LABEL.into(), "{".into());
        assert!(previous_plan(&image).is_err());
    }
}
