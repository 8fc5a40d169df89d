//! attribution.csv of a small replay: per update, its rows' bytes add up to the download in
//! updates.csv; only the main budget is written; triggers are flagged; a removed component is
//! named as the trigger of the layer it left.

use std::collections::{BTreeMap, BTreeSet};

use rechunk_model::{Component, ComponentKind, History, Snapshot, DAY};
use rechunk_sim::{simulate, Client, Contender, SimConfig};
use rechunk_strategies::{PerPackage, Single, Strategy};

/// a (1,000 bytes) changes every version, b (3,000) never; c (500) is removed at v2.
fn history() -> History {
    let snapshots = (0..4i64)
        .map(|i| {
            let mut comps = vec![
                Component::new("a", ComponentKind::Package, format!("{i}"), 1000),
                Component::new("b", ComponentKind::Package, "1", 3000),
            ];
            if i < 2 {
                comps.push(Component::new("c", ComponentKind::Package, "1", 500));
            }
            Snapshot::new(format!("v{i}"), i * 10 * DAY, comps)
        })
        .collect();
    History {
        name: "tiny".into(),
        snapshots,
    }
}

type Rows = Vec<BTreeMap<String, String>>;

fn rows(text: &str) -> Rows {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.deserialize().map(|r| r.unwrap()).collect()
}

#[test]
fn rows_add_up_to_each_download() {
    let h = history();
    let strategies: Vec<(Box<dyn Strategy>, usize)> = vec![
        (Box::new(PerPackage), 64),
        (Box::new(Single), 64),
        (Box::new(Single), 8),
    ];
    let contenders: Vec<Contender> = strategies
        .into_iter()
        .map(|(strategy, max_layers)| Contender {
            strategy,
            params: BTreeMap::new(),
            max_layers,
        })
        .collect();
    let config = SimConfig {
        clients: Client::ALL.to_vec(),
        first: 0,
        last: 3,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(&h, &contenders, &config, &|| {}).unwrap();
    let mut out = Vec::new();
    rechunk_reports::attribution_csv::write(&sim, &h, 64, &mut out).unwrap();
    let rows = rows(&String::from_utf8(out).unwrap());
    assert!(rows
        .iter()
        .all(|r| r["max_layers"] == "64" && r["client"] != "fresh"));
    // Σ bytes per (strategy, client, from, to) = that update's download.
    let mut sums: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    for r in &rows {
        let key = (
            r["strategy"].clone(),
            r["client"].clone(),
            r["from"].clone(),
            r["to"].clone(),
        );
        *sums.entry(key).or_default() += r["bytes"].parse::<u64>().unwrap();
    }
    let mut expected = BTreeMap::new();
    for run in sim.runs.iter().filter(|r| r.max_layers == 64) {
        for u in run.updates.iter().filter(|u| u.from.is_some()) {
            let key = (
                run.strategy.clone(),
                u.client.name().to_string(),
                u.from.clone().unwrap(),
                u.to.clone(),
            );
            expected.insert(key, u.cost.download_bytes);
        }
    }
    assert_eq!(sums, expected);
    // single, v0 → v1: a triggered its layer, b and c came along.
    let single: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r["strategy"] == "single" && r["client"] == "every" && r["to"] == "v1")
        .map(|r| {
            (
                r["component"].as_str(),
                r["role"].as_str(),
                r["triggered"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        single,
        [
            ("a", "changed", "true"),
            ("b", "shared", "false"),
            ("c", "shared", "false")
        ]
    );
    // per-package, v1 → v2: c's layer is gone, nothing else is fetched along with a.
    let oracle: BTreeSet<(&str, &str)> = rows
        .iter()
        .filter(|r| r["strategy"] == "per-package" && r["client"] == "every" && r["to"] == "v2")
        .map(|r| (r["component"].as_str(), r["role"].as_str()))
        .collect();
    assert_eq!(oracle, [("a", "changed")].into());
    // single, v1 → v2: c was removed from the one layer, a changed: both trigger it.
    let triggers: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r["strategy"] == "single" && r["client"] == "every" && r["to"] == "v2")
        .filter(|r| r["triggered"] == "true")
        .map(|r| {
            (
                r["component"].as_str(),
                r["role"].as_str(),
                r["layer_triggers"].as_str(),
            )
        })
        .collect();
    assert_eq!(triggers, [("a", "changed", "2"), ("c", "removed", "2")]);
}
