//! Golden parity with the original peers: the inputs and outputs in `tests/data/peers/` were
//! made by running the originals' own code, unmodified (ostree-ext's `chunking.rs` in a release
//! build, chunkah's `packing.rs`, hhd-dev/rechunk's `alg.py`; see `tests/data/peers/SOURCE.md`).
//! Every port must give the same layers on every case, except the cases a vector file marks as
//! a documented deviation (where the original fails, refuses or overruns the budget); on those
//! the port's plan must still be valid.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use rechunk_model::{ChangeHistory, Component, ComponentKind, Layer, Plan, PlanInput};
use rechunk_strategies::{
    ChainStart, Chunkah, HhdRechunk, Prior, PriorPolicy, RpmOstree, Strategy,
};
use serde_json::Value;

fn cases(file: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/peers")
        .join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut json = String::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_string(&mut json)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    v["cases"].as_array().cloned().unwrap_or_default()
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn layers_of(v: &Value) -> Vec<Vec<String>> {
    v.as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    l.as_array()
                        .map(|l| l.iter().map(str_of).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn plan_of(layers: &[Vec<String>]) -> Plan {
    Plan::new(layers.iter().map(|l| Layer::new(l.clone())).collect())
}

/// Layers as sorted member lists, empty layers dropped (an image has none).
fn normalized(layers: Vec<Vec<String>>) -> Vec<Vec<String>> {
    layers
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|mut l| {
            l.sort();
            l
        })
        .collect()
}

struct Tally {
    peer: &'static str,
    identical: usize,
    deviations: Vec<String>,
    mismatches: Vec<String>,
}

impl Tally {
    fn new(peer: &'static str) -> Self {
        Tally {
            peer,
            identical: 0,
            deviations: Vec::new(),
            mismatches: Vec::new(),
        }
    }
    fn check(
        &mut self,
        case: &Value,
        ours: Plan,
        components: &[Component],
        budget: usize,
        theirs: Option<Vec<Vec<String>>>,
        map: &dyn Fn(&str) -> String,
    ) {
        let id = str_of(&case["id"]);
        assert_eq!(
            ours.validate(components, budget),
            Ok(()),
            "{}: {id}: invalid plan",
            self.peer
        );
        if let Some(why) = case["deviation"].as_str() {
            self.deviations.push(format!("{id}: {why}"));
            return;
        }
        let theirs = normalized(theirs.unwrap_or_default());
        let mut mapped: Vec<Vec<String>> = Vec::new();
        for layer in ours.layers {
            let mut names: Vec<String> = layer.components.iter().map(|n| map(n)).collect();
            names.sort();
            names.dedup();
            mapped.push(names);
        }
        let ours = normalized(mapped);
        if ours == theirs {
            self.identical += 1;
        } else {
            self.mismatches
                .push(format!("{id}:\n  ours   {ours:?}\n  theirs {theirs:?}"));
        }
    }
    fn finish(self, expected_cases: usize) {
        let total = self.identical + self.deviations.len() + self.mismatches.len();
        eprintln!(
            "{}: {total} vectors, {} identical, {} documented deviations",
            self.peer,
            self.identical,
            self.deviations.len()
        );
        for d in &self.deviations {
            eprintln!("  deviation {d}");
        }
        assert!(
            self.mismatches.is_empty(),
            "{}: {} of {total} differ:\n{}",
            self.peer,
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
        assert_eq!(total, expected_cases);
    }
}

#[test]
fn rpm_ostree_matches_ostree_ext() {
    let cases = cases("rpm-ostree.json.gz");
    assert!(cases.len() >= 204, "{} cases", cases.len());
    let port = RpmOstree {
        prior: PriorPolicy {
            prior: Prior::Chain,
            chain_from: ChainStart::Start,
        },
        ..RpmOstree::default()
    };
    let mut tally = Tally::new("rpm-ostree");
    let n = cases.len();
    for case in &cases {
        let mut components: Vec<Component> = case["components"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let size = c[1].as_u64().unwrap_or(0);
                let mut comp = Component::new(str_of(&c[0]), ComponentKind::Package, "1", size);
                comp.change_frequency = c[2].as_u64().and_then(|f| u32::try_from(f).ok());
                comp
            })
            .collect();
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let budget = case["bins"].as_u64().unwrap_or(0) as usize;
        let previous = case["prior"]
            .is_array()
            .then(|| plan_of(&layers_of(&case["prior"])));
        let history = ChangeHistory::default();
        let input = PlanInput {
            components: &components,
            now: 0,
            history: &history,
            previous: previous.as_ref(),
            max_layers: budget,
        };
        let ours = port.plan(&input).unwrap_or_default();
        let theirs = case["expected"]
            .is_array()
            .then(|| layers_of(&case["expected"]));
        tally.check(case, ours, &components, budget, theirs, &|n| n.to_string());
    }
    tally.finish(n);
}

#[test]
fn chunkah_matches_chunkah() {
    let path_cases = cases("chunkah.json.gz");
    let doc_fcos = shared("chunkah.json.gz", "fcos37");
    assert!(path_cases.len() >= 204, "{} cases", path_cases.len());
    let mut tally = Tally::new("chunkah");
    let n = path_cases.len();
    for case in &path_cases {
        let now = case["now"].as_i64().unwrap_or(0);
        let packages = if case["packages"].is_string() {
            &doc_fcos
        } else {
            &case["packages"]
        };
        let mut components: Vec<Component> = Vec::new();
        let mut item_of: BTreeMap<String, String> = BTreeMap::new();
        for p in packages.as_array().into_iter().flatten() {
            let mut c = Component::new(
                str_of(&p[0]),
                ComponentKind::Package,
                "1",
                p[2].as_u64().unwrap_or(0),
            );
            c.source = Some(str_of(&p[1]));
            c.changelog_times = p[3]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| now - a.as_i64().unwrap_or(0))
                .collect();
            c.build_time = p[4].as_i64().map(|a| now - a);
            item_of.insert(c.name.clone(), format!("rpm/{}", str_of(&p[1])));
            components.push(c);
        }
        for u in case["unowned"].as_array().into_iter().flatten() {
            let name = str_of(&u[1]);
            let (kind, item) = match u[0].as_str() {
                Some("big-file") => (
                    ComponentKind::BigFile,
                    format!("bigfiles/{}", name.rsplit('/').next().unwrap_or("")),
                ),
                Some("initramfs") => (
                    ComponentKind::Initramfs,
                    "bigfiles/initramfs.img".to_string(),
                ),
                _ => (ComponentKind::Unpackaged, "chunkah/unclaimed".to_string()),
            };
            item_of.insert(name.clone(), item);
            components.push(Component::new(name, kind, "1", u[2].as_u64().unwrap_or(0)));
        }
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let budget = case["max_layers"].as_u64().unwrap_or(0) as usize;
        let history = ChangeHistory::default();
        let input = PlanInput {
            components: &components,
            now,
            history: &history,
            previous: None,
            max_layers: budget,
        };
        let ours = Chunkah::default().plan(&input).unwrap_or_default();
        let theirs = Some(layers_of(&case["expected"]));
        tally.check(case, ours, &components, budget, theirs, &|n| {
            item_of.get(n).cloned().unwrap_or_default()
        });
    }
    tally.finish(n);
}

/// A list a vector file shares between its cases.
fn shared(file: &str, key: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/peers")
        .join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut json = String::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_string(&mut json)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    v[key].clone()
}

#[test]
fn hhd_rechunk_matches_alg_py() {
    let all = cases("hhd-rechunk.json.gz");
    let fcos = shared("hhd-rechunk.json.gz", "fcos37");
    assert!(all.len() >= 204, "{} cases", all.len());
    let port = HhdRechunk {
        prior: PriorPolicy {
            prior: Prior::Chain,
            chain_from: ChainStart::Start,
        },
        ..HhdRechunk::default()
    };
    let mut tally = Tally::new("hhd-rechunk");
    let n = all.len();
    for case in &all {
        let now = case["now"].as_i64().unwrap_or(0);
        let packages = if case["packages"].is_string() {
            &fcos
        } else {
            &case["packages"]
        };
        let mut components: Vec<Component> = Vec::new();
        for p in packages.as_array().into_iter().flatten() {
            let mut c = Component::new(
                str_of(&p[0]),
                ComponentKind::Package,
                "1",
                p[1].as_u64().unwrap_or(0),
            );
            c.changelog_times = p[2]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect();
            components.push(c);
        }
        for u in case["unowned"].as_array().into_iter().flatten() {
            let kind = match u[0].as_str() {
                Some("initramfs") => ComponentKind::Initramfs,
                Some("big-file") => ComponentKind::BigFile,
                Some("unpackaged") => ComponentKind::Unpackaged,
                _ => ComponentKind::Other,
            };
            components.push(Component::new(
                str_of(&u[1]),
                kind,
                "1",
                u[3].as_u64().unwrap_or(0),
            ));
        }
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let budget = case["max_layers"].as_u64().unwrap_or(0) as usize;
        let previous = case["prior_components"]
            .is_array()
            .then(|| plan_of(&layers_of(&case["prior_components"])));
        let history = ChangeHistory::default();
        let input = PlanInput {
            components: &components,
            now,
            history: &history,
            previous: previous.as_ref(),
            max_layers: budget,
        };
        let ours = port.plan(&input).unwrap_or_default();
        let theirs = case["expected"]
            .is_array()
            .then(|| layers_of(&case["expected"]));
        tally.check(case, ours, &components, budget, theirs, &|n| n.to_string());
    }
    tally.finish(n);
}
