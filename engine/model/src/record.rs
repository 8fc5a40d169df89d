//! The plan record an image carries in its config label so that the next build can keep the
//! plan stable and keep learning from the change history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ChangeHistory, Plan};

/// Config label holding the JSON [`PlanRecord`].
pub const PLAN_LABEL: &str = "dev.rechunk.plan";

/// Bumped on any incompatible change of [`PlanRecord`]; readers refuse newer versions.
pub const PLAN_RECORD_VERSION: u32 = 1;

/// What a built image remembers about how it was planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// Format version, [`PLAN_RECORD_VERSION`] when written by this build.
    pub version: u32,
    /// Strategy name that produced `plan`.
    pub strategy: String,
    pub max_layers: usize,
    pub plan: Plan,
    /// Component name → version in this image, so the next build can tell what changed.
    pub components: BTreeMap<String, String>,
    /// The change history up to and including this image.
    pub history: ChangeHistory,
}
