//! Layering strategies: pure, deterministic functions from a [`PlanInput`] to a [`Plan`].
//!
//! Every strategy lives in its own module and is registered by name in [`registry`]. None does
//! I/O: the CLI, the image writer and the simulator all call the same `plan`.

mod baseline;
mod chunkah;
mod cluster;
mod graph;
mod hhd;
mod prior;
mod registry;
mod rpm_ostree;
mod signal;
mod stats;

pub use baseline::{PerPackage, Single};
pub use chunkah::Chunkah;
pub use cluster::Cluster;
pub use graph::Graph;
pub use hhd::HhdRechunk;
pub use prior::{ChainStart, Prior, PriorPolicy};
pub use registry::{by_name, names, parse_param, registry, ParamReader, ParamSpec, Params};
pub use rpm_ostree::RpmOstree;

use rechunk_model::{Plan, PlanError, PlanInput};

/// Why a strategy could not plan.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StrategyError {
    #[error("unknown strategy {name:?}; known: {known}")]
    UnknownStrategy { name: String, known: String },
    #[error("strategy {strategy}: unknown parameter {param:?}; known: {known}")]
    UnknownParam {
        strategy: String,
        param: String,
        known: String,
    },
    #[error("strategy {strategy}: parameter {param}={value:?}: {reason}")]
    BadParam {
        strategy: String,
        param: String,
        value: String,
        reason: String,
    },
    #[error("layer budget must be at least 1")]
    ZeroBudget,
    #[error("strategy {strategy} made an invalid plan: {source}")]
    InvalidPlan { strategy: String, source: PlanError },
}

/// A layering strategy. Implementations must be deterministic: the same input gives the same
/// plan, whatever the platform or thread count.
pub trait Strategy: Send + Sync {
    /// Registry name, as typed on the command line.
    fn name(&self) -> &'static str;
    /// One line for `rechunk strategies`.
    fn description(&self) -> &'static str;
    /// Documented parameters with their current values.
    fn params(&self) -> Vec<ParamSpec>;
    /// True for bounds that ignore the layer budget (reported as oracles, never as contenders).
    fn is_oracle(&self) -> bool {
        false
    }
    /// True for reimplementations of a deployed tool of the field (rpm-ostree, hhd-rechunk,
    /// chunkah) in the configuration its users run: the rows `× best peer` is taken against.
    fn is_peer(&self) -> bool {
        false
    }
    /// The layer count a plan of this strategy is checked against for a budget of
    /// `max_layers`: unlimited for oracles, which ignore the budget by design.
    fn checked_budget(&self, max_layers: usize) -> usize {
        if self.is_oracle() {
            usize::MAX
        } else {
            max_layers
        }
    }
    /// Places every component of `input` exactly once in at most `input.max_layers` layers
    /// (oracles excepted).
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError>;
    /// [`Strategy::plan`], then the plan checked against its input (every component exactly
    /// once, nothing unknown, at most [`Strategy::checked_budget`] layers): the one path
    /// `build`, `plan` and the simulator take.
    fn plan_checked(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        let plan = self.plan(input)?;
        plan.validate(input.components, self.checked_budget(input.max_layers))
            .map_err(|source| StrategyError::InvalidPlan {
                strategy: self.name().to_owned(),
                source,
            })?;
        Ok(plan)
    }
}
