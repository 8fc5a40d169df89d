//! Plan quality on real data: replaying the newest 40 versions of the shipped FCOS stable
//! history (through the simulator `rechunk compare` uses), `cluster` must give a lower mean
//! download than every peer at 64 layers, and stay within 15% of the packaging bound. A
//! shortened window keeps the debug-build test fast; the full history is in the README.

use rechunk_model::History;
use rechunk_sim::{contenders, simulate, summarize, Client, SimConfig};

const VERSIONS: usize = 40;

#[test]
fn cluster_downloads_least_on_recent_fcos_stable() {
    let full = rechunk_datasets::open_history("fcos-stable").expect("shipped history loads");
    let skip = full.snapshots.len() - VERSIONS;
    let history = History {
        name: format!("{} (newest {VERSIONS})", full.name),
        snapshots: full.snapshots[skip..].to_vec(),
    };
    let names: Vec<String> = [
        "cluster",
        "rpm-ostree",
        "rpm-ostree+prior",
        "hhd-rechunk",
        "chunkah",
        "graph",
        "per-package",
    ]
    .map(String::from)
    .to_vec();
    let runs = contenders(&names, 64, &[]).expect("registered strategies");
    let config = SimConfig {
        clients: vec![Client::Every],
        first: 0,
        last: VERSIONS - 1,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(&history, &runs, &config, &|| {}).expect("replay");
    let mean = |name: &str| {
        let run = sim
            .runs
            .iter()
            .find(|r| r.strategy == name)
            .unwrap_or_else(|| panic!("{name} ran"));
        summarize(run, Client::Every).mean_download_bytes
    };
    for name in &names {
        eprintln!("{name}: {:.1} MiB", mean(name) / 1048576.0);
    }
    let cluster = mean("cluster");
    for peer in [
        "rpm-ostree",
        "rpm-ostree+prior",
        "hhd-rechunk",
        "chunkah",
        "graph",
    ] {
        assert!(
            cluster < mean(peer),
            "cluster {cluster:.0} B vs {peer} {:.0} B",
            mean(peer)
        );
    }
    let bound = mean("per-package");
    assert!(cluster >= bound, "no plan beats the packaging bound");
    assert!(
        cluster < 1.15 * bound,
        "cluster {cluster:.0} B, bound {bound:.0} B"
    );
}
