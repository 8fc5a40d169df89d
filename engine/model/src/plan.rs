//! A plan: which components go into which layer. What strategies produce and what the image
//! writer and the simulator consume.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{ChangeHistory, Component, Timestamp};

/// One layer of a plan: the names of the components it holds, in a fixed order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub components: Vec<String>,
}

/// Ordered layers. Layer 0 is the bottom of the image. A layer may be empty (rpm-ostree keeps
/// one empty bin reserved for new packages); the image writer does not emit empty layers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub layers: Vec<Layer>,
}

/// Everything a strategy may look at when planning version t.
///
/// No peeking at the future: `history` holds builds up to and including t, `previous` is the
/// plan this strategy (or the image being migrated from) used for t−1.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// The components of version t, sorted by name, names unique.
    pub components: &'a [Component],
    /// Build date of version t.
    pub now: Timestamp,
    /// Observed build-to-build changes up to and including t (empty when unknown).
    pub history: &'a ChangeHistory,
    /// The plan of t−1, which may name components that no longer exist.
    pub previous: Option<&'a Plan>,
    /// Most layers the plan may have (≥ 1).
    pub max_layers: usize,
}

/// Why a plan does not fit its input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("plan has {layers} layers, more than the budget of {max}")]
    TooManyLayers { layers: usize, max: usize },
    #[error("component {0:?} is placed more than once")]
    Duplicate(String),
    #[error("component {0:?} is not placed in any layer")]
    Missing(String),
    #[error("plan names component {0:?}, which the input does not have")]
    Unknown(String),
}

impl Layer {
    pub fn new<S: Into<String>>(components: impl IntoIterator<Item = S>) -> Self {
        Layer {
            components: components.into_iter().map(Into::into).collect(),
        }
    }
}

impl Plan {
    pub fn new(layers: Vec<Layer>) -> Self {
        Plan { layers }
    }

    /// Number of layers, empty ones included.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Component name → index of its layer.
    pub fn layer_of(&self) -> BTreeMap<&str, usize> {
        let mut map = BTreeMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for name in &layer.components {
                map.insert(name.as_str(), i);
            }
        }
        map
    }

    /// Checks that every component is placed exactly once, no unknown name is placed, and the
    /// layer budget holds.
    pub fn validate(&self, components: &[Component], max_layers: usize) -> Result<(), PlanError> {
        if self.layers.len() > max_layers {
            return Err(PlanError::TooManyLayers {
                layers: self.layers.len(),
                max: max_layers,
            });
        }
        let known: BTreeSet<&str> = components.iter().map(|c| c.name.as_str()).collect();
        let mut placed = BTreeSet::new();
        for name in self.layers.iter().flat_map(|l| &l.components) {
            if !known.contains(name.as_str()) {
                return Err(PlanError::Unknown(name.clone()));
            }
            if !placed.insert(name.as_str()) {
                return Err(PlanError::Duplicate(name.clone()));
            }
        }
        match known.difference(&placed).next() {
            Some(missing) => Err(PlanError::Missing((*missing).to_string())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ComponentKind;

    fn comps(names: &[&str]) -> Vec<Component> {
        names
            .iter()
            .map(|n| Component::new(*n, ComponentKind::Package, "1", 1))
            .collect()
    }

    #[test]
    fn validate_catches_each_fault() {
        let c = comps(&["a", "b", "c"]);
        let ok = Plan::new(vec![
            Layer::new(["a", "b"]),
            Layer::new(["c"]),
            Layer::default(),
        ]);
        assert_eq!(ok.validate(&c, 3), Ok(()));
        assert!(matches!(
            ok.validate(&c, 2),
            Err(PlanError::TooManyLayers { .. })
        ));
        let dup = Plan::new(vec![Layer::new(["a", "b", "c"]), Layer::new(["a"])]);
        assert_eq!(dup.validate(&c, 4), Err(PlanError::Duplicate("a".into())));
        let missing = Plan::new(vec![Layer::new(["a", "b"])]);
        assert_eq!(missing.validate(&c, 4), Err(PlanError::Missing("c".into())));
        let unknown = Plan::new(vec![Layer::new(["a", "b", "c", "zz"])]);
        assert_eq!(
            unknown.validate(&c, 4),
            Err(PlanError::Unknown("zz".into()))
        );
    }
}
