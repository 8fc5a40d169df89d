//! Which contenders a comparison runs: strategies × layer budgets × parameter settings, from
//! `--sweep` specs like `max-layers=16,32,64,127` or `cluster.half_life_builds=4,8,16`.

use std::collections::BTreeMap;

use rechunk_strategies::{by_name, Params, StrategyError};

use crate::Contender;

/// One `--sweep KEY=V1,V2,...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Run every strategy at each of these budgets.
    MaxLayers(Vec<usize>),
    /// Run `strategy` once per value of `param` (at the main budget).
    Param {
        strategy: String,
        param: String,
        values: Vec<String>,
    },
}

/// Why a sweep spec or a strategy name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SweepError {
    #[error("--sweep {spec:?}: {reason}")]
    Spec { spec: String, reason: String },
    #[error(transparent)]
    Strategy(#[from] StrategyError),
}

impl std::str::FromStr for Sweep {
    type Err = SweepError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| SweepError::Spec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (key, values) = spec.split_once('=').ok_or_else(|| {
            bad("expected KEY=V1,V2,... (max-layers=16,32 or STRATEGY.PARAM=a,b)")
        })?;
        let values: Vec<&str> = values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(bad("no values"));
        }
        if key == "max-layers" {
            let budgets = values
                .iter()
                .map(|v| v.parse::<usize>().ok().filter(|&n| n >= 1))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("max-layers values must be whole numbers ≥ 1"))?;
            return Ok(Sweep::MaxLayers(budgets));
        }
        let (strategy, param) = key
            .split_once('.')
            .ok_or_else(|| bad("key must be max-layers or STRATEGY.PARAM"))?;
        Ok(Sweep::Param {
            strategy: strategy.to_string(),
            param: param.to_string(),
            values: values.into_iter().map(str::to_string).collect(),
        })
    }
}

/// The contenders for `strategies` (with default parameters) at `max_layers` and at every swept
/// budget, plus one per swept parameter value. Oracles ignore the budget, so they run once.
/// Duplicates are dropped; order is strategies first, then budgets ascending.
pub fn contenders(
    strategies: &[String],
    max_layers: usize,
    sweeps: &[Sweep],
) -> Result<Vec<Contender>, SweepError> {
    let mut budgets = vec![max_layers];
    for sweep in sweeps {
        if let Sweep::MaxLayers(b) = sweep {
            budgets.extend(b);
        }
    }
    budgets.sort_unstable();
    budgets.dedup();
    let mut out: Vec<Contender> = Vec::new();
    let mut push = |name: &str, params: Params, budget: usize| -> Result<(), SweepError> {
        let strategy = by_name(name, &params)?;
        let budget = if strategy.is_oracle() {
            max_layers
        } else {
            budget
        };
        let dup = out.iter().any(|c| {
            c.strategy.name() == strategy.name() && c.params == params && c.max_layers == budget
        });
        if !dup {
            out.push(Contender {
                strategy,
                params,
                max_layers: budget,
            });
        }
        Ok(())
    };
    for name in strategies {
        for &budget in &budgets {
            push(name, Params::new(), budget)?;
        }
    }
    for sweep in sweeps {
        if let Sweep::Param {
            strategy,
            param,
            values,
        } = sweep
        {
            for value in values {
                let params = BTreeMap::from([(param.clone(), value.clone())]);
                push(strategy, params, max_layers)?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_budget_and_param_sweeps() {
        assert_eq!(
            "max-layers=16, 32,64".parse::<Sweep>(),
            Ok(Sweep::MaxLayers(vec![16, 32, 64]))
        );
        assert_eq!(
            "cluster.half_life=4,8".parse::<Sweep>(),
            Ok(Sweep::Param {
                strategy: "cluster".into(),
                param: "half_life".into(),
                values: vec!["4".into(), "8".into()]
            })
        );
        for bad in [
            "max-layers",
            "max-layers=0",
            "max-layers=a",
            "half_life=3",
            "x.y=",
        ] {
            let err = bad.parse::<Sweep>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn oracles_run_once_and_budgets_multiply_the_rest() {
        let names = vec!["single".to_string(), "per-package".to_string()];
        let sweeps = vec![Sweep::MaxLayers(vec![16, 64, 127])];
        let c = contenders(&names, 64, &sweeps).unwrap();
        let got: Vec<(&str, usize)> = c
            .iter()
            .map(|c| (c.strategy.name(), c.max_layers))
            .collect();
        assert_eq!(
            got,
            [
                ("single", 16),
                ("single", 64),
                ("single", 127),
                ("per-package", 64)
            ]
        );
        // A parameter sweep adds one contender per value at the main budget.
        let sweeps = vec!["cluster.half_life_builds=4,16".parse().unwrap()];
        let c = contenders(&["cluster".to_string()], 64, &sweeps).unwrap();
        let labels: Vec<String> = c.iter().map(|c| c.label()).collect();
        assert_eq!(
            labels,
            [
                "cluster",
                "cluster half_life_builds=4",
                "cluster half_life_builds=16"
            ]
        );
        assert!(c.iter().all(|c| c.max_layers == 64));
        let unknown = contenders(&["nope".to_string()], 64, &[]).err().unwrap();
        assert!(unknown.to_string().contains("nope"));
        // `single` has no parameters: the registry's error names the parameter.
        let sweeps = vec!["single.x=1".parse().unwrap()];
        let err = contenders(&names, 64, &sweeps).err().unwrap().to_string();
        assert!(err.contains("\"x\""), "{err}");
    }
}
