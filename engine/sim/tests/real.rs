//! The metrics on real data: the two real FCOS manifests, the compression estimate's source
//! figures, and invariants of a replay of the shipped FCOS stable history.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rechunk_model::update_cost;
use rechunk_sim::{simulate, summarize, Client, Contender, SimConfig, COMPRESSION_RATIO};
use rechunk_strategies::{PerPackage, Single};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

/// (digest, size) of each layer of a real OCI manifest.
fn layers(name: &str) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(data(name)).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_string(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn manifest1_to_manifest2_costs_what_ostree_ext_says() {
    let old = layers("manifest1.json");
    let new = layers("manifest2.json");
    assert_eq!((old.len(), new.len()), (51, 51));
    let cost = update_cost(old.into_iter().map(|(d, _)| d), new, 0);
    assert_eq!(cost.download_bytes, 170_472_856);
    assert_eq!(cost.image_bytes, 697_035_490);
}

#[test]
fn compression_ratio_comes_from_the_real_fcos_image() {
    let compressed: u64 = layers("manifest1.json").iter().map(|(_, s)| s).sum();
    let content: u64 =
        rechunk_datasets::contentmeta::load(&data("fedora-coreos-contentmeta.fc37.json.gz"))
            .unwrap()
            .iter()
            .map(|c| c.size)
            .sum();
    assert_eq!((compressed, content), (697_035_775, 1_351_235_724));
    assert_eq!(COMPRESSION_RATIO, compressed as f64 / content as f64);
}

#[test]
fn fcos_stable_replay_keeps_the_oracle_below_a_single_layer() {
    let h = rechunk_datasets::open_history("fcos-stable").unwrap();
    let contenders: Vec<Contender> = [Box::new(Single) as Box<_>, Box::new(PerPackage) as Box<_>]
        .into_iter()
        .map(|strategy| Contender {
            strategy,
            params: BTreeMap::new(),
            max_layers: 64,
        })
        .collect();
    // The last 20 versions, all planned from the start.
    let last = h.snapshots.len() - 1;
    let config = SimConfig {
        clients: Client::ALL.to_vec(),
        first: last - 20,
        last,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(&h, &contenders, &config, &|| {}).unwrap();
    let (single, oracle) = (&sim.runs[0], &sim.runs[1]);
    assert!(oracle.oracle && !single.oracle);
    for (s, o) in single.updates.iter().zip(&oracle.updates) {
        assert_eq!((s.client, &s.to), (o.client, &o.to));
        // initramfs and unpackaged content change every build: one layer means a full fetch.
        assert_eq!(s.cost.download_bytes, s.cost.image_bytes);
        assert_eq!(o.cost.image_bytes, s.cost.image_bytes);
        if o.client == Client::Fresh {
            assert_eq!(o.cost.download_bytes, o.cost.image_bytes);
        } else {
            assert!(o.cost.download_bytes < s.cost.download_bytes, "{}", o.to);
        }
        assert_eq!(o.replanned_bytes, 0);
    }
    let every = summarize(oracle, Client::Every);
    let weekly = summarize(oracle, Client::Weekly);
    assert_eq!(every.updates, 20);
    // Weekly clients skip versions, so they fetch less often but more per fetch.
    assert!(weekly.updates <= every.updates);
    assert!(weekly.mean_download_bytes >= every.mean_download_bytes);
}

#[test]
fn every_registered_strategy_replays_validly_and_deterministically() {
    let h = rechunk_datasets::open_history("fcos-stable").unwrap();
    let names: Vec<String> = rechunk_strategies::names()
        .into_iter()
        .map(String::from)
        .collect();
    let config = SimConfig {
        clients: vec![Client::Every, Client::Fresh],
        first: 0,
        last: 9,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let figures = || {
        let contenders = rechunk_sim::contenders(&names, 32, &[]).unwrap();
        let sim = simulate(&h, &contenders, &config, &|| {}).unwrap();
        sim.runs
            .iter()
            .map(|r| {
                let fig: Vec<(u64, u64, usize)> = r
                    .updates
                    .iter()
                    .map(|u| (u.cost.download_bytes, u.replanned_bytes, u.layer_count))
                    .collect();
                (r.label.clone(), r.oracle, fig)
            })
            .collect::<Vec<_>>()
    };
    let first = figures();
    assert_eq!(first.len(), names.len());
    for (label, oracle, fig) in &first {
        assert_eq!(fig.len(), 9 + 10, "{label}");
        assert!(
            oracle | fig.iter().all(|f| f.2 <= 32),
            "{label} exceeds 32 layers"
        );
    }
    // Strategies run in parallel; the figures must not depend on it.
    assert_eq!(first, figures());
}
