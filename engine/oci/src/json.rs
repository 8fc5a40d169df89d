//! Canonical JSON for everything that is hashed: object keys sorted at every level, no
//! whitespace. oci-spec keeps annotations and labels in `HashMap`s, whose order changes from
//! run to run, so every manifest, config and index goes through here before it is written.

use serde::Serialize;
use serde_json::{Map, Value};

/// Serialises `value` with sorted keys.
pub fn canonical_bytes<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let v = sorted(serde_json::to_value(value)?);
    serde_json::to_vec(&v)
}

/// Rebuilds every object with its keys in sorted order (whatever map type serde_json uses).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, sorted(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn keys_sorted_at_every_level() {
        let mut inner = HashMap::new();
        for k in ["z", "a", "m", "b", "y"] {
            inner.insert(k.to_string(), 1);
        }
        let v = serde_json::json!({"b": [ {"d": 1, "c": 2} ], "a": inner});
        let s = String::from_utf8(canonical_bytes(&v).unwrap()).unwrap();
        assert_eq!(
            s,
            r#"{"a":{"a":1,"b":1,"m":1,"y":1,"z":1},"b":[{"c":2,"d":1}]}"#
        );
    }
}
