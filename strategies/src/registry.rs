//! The strategy registry: names, documented parameters, construction from `key=value` pairs.

use std::collections::BTreeMap;

use crate::{PerPackage, Single, Strategy, StrategyError};

/// Parameter overrides for one strategy, `name → value` as typed (`half_life_builds=8`).
pub type Params = BTreeMap<String, String>;

/// One documented parameter of a strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    /// Current value, formatted.
    pub value: String,
    pub help: &'static str,
}

/// Every registered strategy with default parameters, in display order.
pub fn registry() -> Vec<Box<dyn Strategy>> {
    vec![Box::new(Single), Box::new(PerPackage)]
}

/// Registered names, in display order.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name()).collect()
}

/// The strategy called `name`, with `params` applied over its defaults.
pub fn by_name(name: &str, params: &Params) -> Result<Box<dyn Strategy>, StrategyError> {
    let strategy = registry()
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| StrategyError::UnknownStrategy {
            name: name.to_string(),
            known: names().join(", "),
        })?;
    if let Some(param) = params.keys().next() {
        let known: Vec<&str> = strategy.params().iter().map(|p| p.name).collect();
        return Err(StrategyError::UnknownParam {
            strategy: name.to_string(),
            param: param.clone(),
            known: if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
        });
    }
    Ok(strategy)
}
