//! Baselines: `single` (what a plain `podman build` ships) and `per-package` (the packaging
//! bound: one layer per component, unlimited layers).

use rechunk_model::{Layer, Plan, PlanInput};

use crate::{ParamSpec, Strategy, StrategyError};

/// Everything in one layer.
#[derive(Clone, Debug, Default)]
pub struct Single;

/// One layer per component, ignoring the layer budget: the best any package-granular layering
/// can do, so it is reported as an oracle.
#[derive(Clone, Debug, Default)]
pub struct PerPackage;

impl Strategy for Single {
    fn name(&self) -> &'static str {
        "single"
    }
    fn description(&self) -> &'static str {
        "one layer holding everything: what a plain container build ships"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        if input.max_layers == 0 {
            return Err(StrategyError::ZeroBudget);
        }
        let names = input.components.iter().map(|c| c.name.clone());
        Ok(Plan::new(vec![Layer::new(names)]))
    }
}

impl Strategy for PerPackage {
    fn name(&self) -> &'static str {
        "per-package"
    }
    fn description(&self) -> &'static str {
        "oracle: one layer per component, unlimited layers (the packaging bound)"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn is_oracle(&self) -> bool {
        true
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        let layers = input
            .components
            .iter()
            .map(|c| Layer::new([c.name.clone()]))
            .collect();
        Ok(Plan::new(layers))
    }
}
