//! The data model shared by every rechunk crate.
//!
//! Data flows one way: a rootfs scan or a history loader produces [`Component`]s grouped in
//! [`Snapshot`]s; a strategy turns a [`PlanInput`] into a [`Plan`]; the image writer and the
//! simulator both name a layer by [`layer_key`], so a simulated figure and a built image agree;
//! [`update_cost`] and [`attribute`] say what an update fetches and why, for both.
//! Nothing here does I/O.

mod attribution;
mod component;
mod history;
mod layer_key;
mod metrics;
mod plan;
mod record;
mod size;

pub use attribution::{
    attribute, Attribution, Cause, Change, FetchedLayer, LayerInput, MemberInput, MemberShare,
    Role, Totals, UpdateInput,
};
pub use component::{Component, ComponentKind, TAR_BYTES_PER_DIRECTORY, TAR_BYTES_PER_FILE};
pub use history::{ChangeHistory, History, Snapshot, RECORD_BUILDS, RECORD_DAYS};
pub use layer_key::{layer_key, LayerKey};
pub use metrics::{fetched_layers, update_cost, UpdateCost};
pub use plan::{Layer, Plan, PlanError, PlanInput};
pub use record::{PlanRecord, PLAN_LABEL, PLAN_RECORD_VERSION};
pub use size::{SizeOverflow, SizeTotal, MAX_TOTAL_BYTES};

/// Seconds since the Unix epoch, UTC. Build times, changelog times and snapshot dates all use it.
pub type Timestamp = i64;

/// Seconds in a day, for the day/week arithmetic that every change model does.
pub const DAY: Timestamp = 86_400;
