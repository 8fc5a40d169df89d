//! The strategy registry: names, documented parameters, construction from `key=value` pairs.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::{
    Chunkah, Cluster, Graph, HhdRechunk, PerPackage, RpmOstree, Single, Strategy, StrategyError,
};

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

impl ParamSpec {
    pub fn new(name: &'static str, value: impl ToString, help: &'static str) -> Self {
        ParamSpec {
            name,
            value: value.to_string(),
            help,
        }
    }
}

/// Builds one strategy from parameter overrides.
type Constructor = fn(&Params) -> Result<Box<dyn Strategy>, StrategyError>;

/// Registered strategies in display order: contenders first, then baselines.
const CONSTRUCTORS: &[(&str, Constructor)] = &[
    ("cluster", |p| Ok(Box::new(Cluster::from_params(p)?))),
    ("rpm-ostree", |p| Ok(Box::new(RpmOstree::from_params(p)?))),
    ("rpm-ostree+prior", |p| {
        Ok(Box::new(RpmOstree::from_params_over(
            RpmOstree::with_prior(),
            p,
        )?))
    }),
    ("hhd-rechunk", |p| Ok(Box::new(HhdRechunk::from_params(p)?))),
    ("chunkah", |p| Ok(Box::new(Chunkah::from_params(p)?))),
    ("graph", |p| Ok(Box::new(Graph::from_params(p)?))),
    ("single", |p| {
        ParamReader::new("single", p).finish()?;
        Ok(Box::new(Single))
    }),
    ("per-package", |p| {
        ParamReader::new("per-package", p).finish()?;
        Ok(Box::new(PerPackage))
    }),
];

/// Every registered strategy with default parameters, in display order.
pub fn registry() -> Vec<Box<dyn Strategy>> {
    CONSTRUCTORS
        .iter()
        .filter_map(|(_, build)| build(&Params::new()).ok())
        .collect()
}

/// Registered names, in display order.
pub fn names() -> Vec<&'static str> {
    CONSTRUCTORS.iter().map(|(name, _)| *name).collect()
}

/// The strategy called `name`, with `params` applied over its defaults.
pub fn by_name(name: &str, params: &Params) -> Result<Box<dyn Strategy>, StrategyError> {
    let (_, build) = CONSTRUCTORS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| StrategyError::UnknownStrategy {
            name: name.to_string(),
            known: names().join(", "),
        })?;
    build(params)
}

/// Parses `key=value` (as given on a command line) into a [`Params`] entry; later keys win.
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

/// Reads typed parameters out of [`Params`] for one strategy, remembering which keys it knows so
/// that [`ParamReader::finish`] can reject the rest.
pub struct ParamReader<'a> {
    strategy: &'static str,
    params: &'a Params,
    known: Vec<&'static str>,
}

impl<'a> ParamReader<'a> {
    pub fn new(strategy: &'static str, params: &'a Params) -> Self {
        ParamReader {
            strategy,
            params,
            known: Vec::new(),
        }
    }

    /// The value of `name`, or `default` when not given; `check` says why a parsed value is
    /// out of range (`Err(reason)`).
    pub fn get<T: FromStr>(
        &mut self,
        name: &'static str,
        default: T,
        check: impl Fn(&T) -> Result<(), &'static str>,
    ) -> Result<T, StrategyError> {
        self.known.push(name);
        let Some(text) = self.params.get(name) else {
            return Ok(default);
        };
        let bad = |reason: &str| StrategyError::BadParam {
            strategy: self.strategy.to_string(),
            param: name.to_string(),
            value: text.clone(),
            reason: reason.to_string(),
        };
        let value: T = text
            .parse()
            .map_err(|_| bad(&format!("not a valid {}", type_word::<T>())))?;
        check(&value).map_err(bad)?;
        Ok(value)
    }

    /// Fails on the first key no `get` asked for.
    pub fn finish(self) -> Result<(), StrategyError> {
        match self
            .params
            .keys()
            .find(|k| !self.known.contains(&k.as_str()))
        {
            Some(param) => Err(StrategyError::UnknownParam {
                strategy: self.strategy.to_string(),
                param: param.clone(),
                known: if self.known.is_empty() {
                    "none".to_string()
                } else {
                    self.known.join(", ")
                },
            }),
            None => Ok(()),
        }
    }
}

fn type_word<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    if name.ends_with("::Prior") {
        "previous-plan policy (none or chain)"
    } else if name.ends_with("::ChainStart") {
        "chain start (start, year or a date YYYY-MM-DD)"
    } else if name.starts_with('f') {
        "number"
    } else if name == "bool" {
        "boolean (true or false)"
    } else {
        "non-negative integer"
    }
}

/// Range checks shared by the strategies' parameters.
pub(crate) mod check {
    pub fn any<T>(_: &T) -> Result<(), &'static str> {
        Ok(())
    }
    pub fn positive_f64(v: &f64) -> Result<(), &'static str> {
        if v.is_finite() && *v > 0.0 {
            Ok(())
        } else {
            Err("must be a positive number")
        }
    }
    pub fn non_negative_f64(v: &f64) -> Result<(), &'static str> {
        if v.is_finite() && *v >= 0.0 {
            Ok(())
        } else {
            Err("must be a number ≥ 0")
        }
    }
    pub fn fraction(v: &f64) -> Result<(), &'static str> {
        if (0.0..=1.0).contains(v) {
            Ok(())
        } else {
            Err("must be between 0 and 1")
        }
    }
    pub fn positive_usize(v: &usize) -> Result<(), &'static str> {
        if *v > 0 {
            Ok(())
        } else {
            Err("must be at least 1")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_name_builds_with_defaults_and_names_are_unique() {
        let names = names();
        assert_eq!(registry().len(), names.len());
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for (strategy, name) in registry().iter().zip(&names) {
            assert_eq!(strategy.name(), *name);
        }
    }

    #[test]
    fn unknown_strategy_and_parameter_errors_name_them() {
        let err = by_name("nope", &Params::new()).err().map(|e| e.to_string());
        assert!(err.as_deref().unwrap_or("").contains("\"nope\""));
        let err = by_name("single", &params(&[("x", "1")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("single") && err.contains("\"x\""), "{err}");
        let err = by_name("cluster", &params(&[("half_life_builds", "soon")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("cluster") && err.contains("half_life_builds"),
            "{err}"
        );
    }

    #[test]
    fn overrides_show_in_params() {
        let s = by_name("cluster", &params(&[("half_life_builds", "3")])).ok();
        let value = s.and_then(|s| {
            s.params()
                .into_iter()
                .find(|p| p.name == "half_life_builds")
                .map(|p| p.value)
        });
        assert_eq!(value.as_deref(), Some("3"));
    }

    #[test]
    fn parse_param_splits_on_first_equals() {
        assert_eq!(parse_param("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=1").is_err());
    }
}
