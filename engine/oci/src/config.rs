//! The image config: what is carried over from a base config, our labels, history entries,
//! `rootfs.diff_ids`.
//!
//! The config is handled as JSON rather than through oci-spec's typed struct so that fields
//! oci-spec does not model (`Healthcheck`, `ArgsEscaped`, ...) are carried over verbatim.

use std::collections::BTreeMap;

use rechunk_model::{Component, ComponentKind, PlanRecord, Timestamp, PLAN_LABEL};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Label set when the tree is bootable (bootc's convention).
pub const BOOTC_LABEL: &str = "containers.bootc";
/// Our label with each component's kind and uncompressed size, so that a history can be
/// rebuilt from a series of images ([`crate::image_snapshot`]).
pub const COMPONENTS_LABEL: &str = "dev.rechunk.components";
/// Labels rechunk sets itself and reads back (`--previous`, `images:`, the changelog): a
/// `--label` may not set them, and they are applied after the user's.
pub const OWN_LABELS: [&str; 2] = [PLAN_LABEL, COMPONENTS_LABEL];

/// Refuses a `--label` key that would replace one of [`OWN_LABELS`].
pub fn check_user_label(key: &str) -> Result<(), String> {
    if OWN_LABELS.contains(&key) {
        return Err(
            "rechunk sets this label itself (the plan and components --previous and images: \
             read back); choose another key"
                .into(),
        );
    }
    Ok(())
}

/// Labels of a base image that describe its old layering and would lie about ours.
const STALE_LABELS: &[&str] = &["ostree.commit", "ostree.final-diffid"];

/// Kind and size of one component, as stored in [`COMPONENTS_LABEL`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentMeta {
    pub kind: ComponentKind,
    pub size: u64,
}

/// One history entry of the config, one per emitted layer.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub created_by: String,
    pub comment: String,
}

/// Everything the config is made of.
pub struct ConfigInput<'a> {
    /// Config to carry over (env, cmd, entrypoint, labels, architecture, os, ...).
    pub base: Option<&'a Value>,
    /// `--label K=V`, applied over the carried-over labels, under ours ([`OWN_LABELS`]).
    pub labels: &'a [(String, String)],
    pub created: Timestamp,
    pub bootable: bool,
    /// `sha256:<hex>` of each uncompressed layer, bottom first.
    pub diff_ids: Vec<String>,
    pub history: Vec<HistoryEntry>,
    pub record: &'a PlanRecord,
    pub components: &'a [Component],
}

/// Builds the config JSON.
pub fn image_config(input: &ConfigInput) -> serde_json::Result<Value> {
    let base = input.base.and_then(Value::as_object);
    let created = rfc3339(input.created);
    let mut cfg = Map::new();
    let base_str = |k: &str| base.and_then(|b| b.get(k)).and_then(Value::as_str);
    cfg.insert(
        "architecture".into(),
        base_str("architecture")
            .unwrap_or(host_architecture())
            .into(),
    );
    cfg.insert("os".into(), base_str("os").unwrap_or("linux").into());
    for key in ["variant", "os.version", "os.features", "author"] {
        if let Some(v) = base.and_then(|b| b.get(key)) {
            cfg.insert(key.into(), v.clone());
        }
    }
    cfg.insert("created".into(), created.clone().into());

    let mut inner = base
        .and_then(|b| b.get("config"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut labels: BTreeMap<String, Value> = inner
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for stale in STALE_LABELS {
        labels.remove(*stale);
    }
    if input.bootable {
        labels.insert(BOOTC_LABEL.into(), "1".into());
    }
    // The user's before ours: ours are never replaced (check_user_label refuses them earlier).
    for (k, v) in input.labels {
        labels.insert(k.clone(), v.clone().into());
    }
    labels.insert(
        PLAN_LABEL.into(),
        serde_json::to_string(input.record)?.into(),
    );
    let meta: BTreeMap<&str, ComponentMeta> = input
        .components
        .iter()
        .map(|c| {
            let m = ComponentMeta {
                kind: c.kind,
                size: c.size,
            };
            (c.name.as_str(), m)
        })
        .collect();
    labels.insert(
        COMPONENTS_LABEL.into(),
        serde_json::to_string(&meta)?.into(),
    );
    inner.insert("Labels".into(), Value::Object(labels.into_iter().collect()));
    cfg.insert("config".into(), Value::Object(inner));

    cfg.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": input.diff_ids}),
    );
    let history: Vec<Value> = input
        .history
        .iter()
        .map(|h| json!({"created": created, "created_by": h.created_by, "comment": h.comment}))
        .collect();
    cfg.insert("history".into(), Value::Array(history));
    Ok(Value::Object(cfg))
}

/// The OCI name of the architecture this binary runs on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "x86" => "386",
        other => other,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rechunk_model::{ChangeHistory, Plan};

    #[test]
    fn carries_base_and_sets_our_labels() {
        let base = json!({
            "architecture": "arm64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/sbin/init"],
                       "Labels": {"keep": "me", "ostree.commit": "abc", "override": "old"},
                       "Healthcheck": {"Test": ["NONE"]}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:old"]}
        });
        let record = PlanRecord {
            version: 1,
            strategy: "single".into(),
            max_layers: 1,
            plan: Plan::default(),
            components: BTreeMap::new(),
            history: ChangeHistory::default(),
        };
        let comps = [Component::new("a", ComponentKind::Package, "1", 42)];
        let cfg = image_config(&ConfigInput {
            base: Some(&base),
            labels: &[("override".into(), "new".into())],
            created: 0,
            bootable: true,
            diff_ids: vec!["sha256:new".into()],
            history: vec![HistoryEntry {
                created_by: "rechunk".into(),
                comment: "a".into(),
            }],
            record: &record,
            components: &comps,
        })
        .unwrap();
        assert_eq!(cfg["architecture"], "arm64");
        assert_eq!(cfg["created"], "1970-01-01T00:00:00Z");
        assert_eq!(cfg["config"]["Env"][0], "PATH=/usr/bin");
        assert_eq!(cfg["config"]["Healthcheck"]["Test"][0], "NONE");
        let labels = &cfg["config"]["Labels"];
        assert_eq!(labels["keep"], "me");
        assert_eq!(labels["override"], "new");
        assert_eq!(labels[BOOTC_LABEL], "1");
        assert!(labels.get("ostree.commit").is_none());
        let meta: BTreeMap<String, ComponentMeta> =
            serde_json::from_str(labels[COMPONENTS_LABEL].as_str().unwrap()).unwrap();
        assert_eq!(meta["a"].size, 42);
        assert_eq!(cfg["rootfs"]["diff_ids"], json!(["sha256:new"]));
        assert_eq!(cfg["history"].as_array().unwrap().len(), 1);
    }
}
