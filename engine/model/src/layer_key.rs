//! Layer identity: the one function the simulator and the image writer both use to say whether
//! a layer of version t is the same layer as one of version t−1.
//!
//! A layer is the same iff it holds the same components at the same versions. The image writer
//! guarantees the converse in bytes: the same components at the same versions give a
//! byte-identical blob, so the key predicts blob reuse.

use sha2::{Digest, Sha256};

/// Hex sha256 over the sorted `(component, version)` pairs of a layer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerKey(pub String);

impl std::fmt::Display for LayerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Key of a layer holding `members` (component name, version). Order does not matter.
pub fn layer_key<'a>(members: impl IntoIterator<Item = (&'a str, &'a str)>) -> LayerKey {
    let mut members: Vec<(&str, &str)> = members.into_iter().collect();
    members.sort_unstable();
    let mut hasher = Sha256::new();
    for (name, version) in members {
        // NUL and newline cannot occur in rpm names or versions, so the encoding is unambiguous.
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(version.as_bytes());
        hasher.update([b'\n']);
    }
    LayerKey(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_free_and_version_sensitive() {
        let a = layer_key([("glibc", "2.39-1"), ("bash", "5.2-1")]);
        let b = layer_key([("bash", "5.2-1"), ("glibc", "2.39-1")]);
        let c = layer_key([("bash", "5.2-2"), ("glibc", "2.39-1")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Moving a component between layers changes both layers' keys.
        assert_ne!(layer_key([("ab", "1")]), layer_key([("a", "b1")]));
    }
}
