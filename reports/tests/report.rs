//! The reports of a tiny replay whose figures are known by hand: ratios, table layout, CSV rows
//! and the SVG files.

use std::collections::BTreeMap;

use rechunk_model::{Component, ComponentKind, History, Snapshot, DAY};
use rechunk_sim::{simulate, Client, Contender, SimConfig, Simulation};
use rechunk_strategies::{PerPackage, Single, Strategy};

/// a (1 MiB) changes at every version, b (3 MiB) never: single fetches 4 MiB per update,
/// per-package 1 MiB.
fn tiny_snapshots() -> Vec<Snapshot> {
    let mib = 1024 * 1024;
    (0..4)
        .map(|i| {
            let comps = vec![
                Component::new("a", ComponentKind::Package, format!("{i}"), mib),
                Component::new("b", ComponentKind::Package, "1", 3 * mib),
            ];
            Snapshot::new(format!("v{i}"), i * 10 * DAY, comps)
        })
        .collect()
}

fn tiny() -> Simulation {
    let history = History {
        name: "tiny".into(),
        snapshots: tiny_snapshots(),
    };
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
    simulate(&history, &contenders, &config, &|| {}).unwrap()
}

#[test]
fn rows_carry_ratios_to_the_oracle() {
    let sim = tiny();
    let rows = rechunk_reports::summary_rows(&sim, &Client::ALL);
    assert_eq!(rows.len(), 3 * 4);
    let every = |strategy: &str, layers: usize| {
        rows.iter()
            .find(|r| r.strategy == strategy && r.client == Client::Every && r.max_layers == layers)
            .unwrap()
    };
    let single = every("single", 64);
    assert_eq!(single.summary.updates, 3);
    assert_eq!(single.summary.mean_download_bytes, 4.0 * 1024.0 * 1024.0);
    assert_eq!(single.ratio_to_per_package, Some(4.0));
    // No rpm-ostree run: no ratio, not a made-up one.
    assert_eq!(single.ratio_to_rpm_ostree, None);
    let oracle = every("per-package", 64);
    assert!((oracle.summary.mean_reuse_ratio - 0.75).abs() < 1e-12);
    // Monthly (checks on day 30): v0 → v3 in one fetch.
    let monthly = rows
        .iter()
        .find(|r| r.strategy == "single" && r.client == Client::Monthly && r.max_layers == 64)
        .unwrap();
    assert_eq!(monthly.summary.updates, 1);
}

#[test]
fn markdown_lists_oracle_first_and_sweeps_budgets() {
    let sim = tiny();
    let rows = rechunk_reports::summary_rows(&sim, &[Client::Every]);
    let md = rechunk_reports::markdown(&sim, &rows, 64);
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert!(table[0].starts_with("| strategy "), "{md}");
    assert!(
        table[1].starts_with("|---") && table[1].ends_with(":|"),
        "{md}"
    );
    assert!(
        table[2].contains("per-package (oracle)") && table[2].contains("1.0"),
        "{md}"
    );
    assert!(
        table[3].starts_with("| single ") && table[3].contains("4.00"),
        "{md}"
    );
    // Every line of a table has the same width (aligned for the terminal).
    assert!(table[..4]
        .iter()
        .all(|l| l.chars().count() == table[0].chars().count()));
    assert!(md.contains("| strategy | 8 layers | 64 layers |"), "{md}");
    assert!(md.contains("| single   |      4.0 |       4.0 |"), "{md}");
}

#[test]
fn write_all_writes_csv_summary_and_plots() {
    let sim = tiny();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/out");
    let written = rechunk_reports::write_all(&sim, &Client::ALL, 64, &out).unwrap();
    assert_eq!(written.files.len(), 5);
    let csv = std::fs::read_to_string(out.join("updates.csv")).unwrap();
    // Per run: 3 every + 1 weekly... + monthly + 4 fresh updates; header once.
    let single_every: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("tiny,single,,64,false,every,"))
        .collect();
    assert_eq!(single_every.len(), 3);
    assert!(
        single_every[0].starts_with("tiny,single,,64,false,every,v0,v1,1970-01-11,4194304,"),
        "{}",
        single_every[0]
    );
    for svg in ["cumulative.svg", "distribution.svg", "budget.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("single"), "{svg}");
    }
    assert!(std::fs::read_to_string(out.join("summary.md"))
        .unwrap()
        .starts_with("# rechunk compare: tiny"));
    // A path that cannot be a directory is named in the error.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let err = rechunk_reports::write_all(&sim, &Client::ALL, 64, &blocker.join("out")).unwrap_err();
    assert!(format!("{err:#}").contains("file/out"), "{err:#}");
}

/// A peer for the best-peer tests: one layer per component (`fine`) or everything in one.
struct FakePeer {
    fine: bool,
}

impl Strategy for FakePeer {
    fn name(&self) -> &'static str {
        if self.fine {
            "fine-peer"
        } else {
            "coarse-peer"
        }
    }
    fn description(&self) -> &'static str {
        "test peer"
    }
    fn params(&self) -> Vec<rechunk_strategies::ParamSpec> {
        Vec::new()
    }
    fn is_peer(&self) -> bool {
        true
    }
    fn plan(
        &self,
        input: &rechunk_model::PlanInput,
    ) -> Result<rechunk_model::Plan, rechunk_strategies::StrategyError> {
        if self.fine {
            PerPackage.plan(input)
        } else {
            Single.plan(input)
        }
    }
}

#[test]
fn best_peer_is_the_lowest_peer_as_deployed_in_the_same_table() {
    let mib = 1024.0 * 1024.0;
    let history = History {
        name: "tiny".into(),
        snapshots: tiny_snapshots(),
    };
    let contender = |strategy: Box<dyn Strategy>, params: &[(&str, &str)]| Contender {
        strategy,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        max_layers: 64,
    };
    // The fine peer is better than the coarse one, but only with a swept parameter: a sweep
    // is not the peer as deployed, so the coarse peer is the best peer.
    let contenders = vec![
        contender(Box::new(PerPackage), &[]),
        contender(Box::new(FakePeer { fine: false }), &[]),
        contender(Box::new(FakePeer { fine: true }), &[("x", "1")]),
        contender(Box::new(Single), &[]),
    ];
    let config = SimConfig {
        clients: vec![Client::Every],
        first: 0,
        last: 3,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(&history, &contenders, &config, &|| {}).unwrap();
    let rows = rechunk_reports::summary_rows(&sim, &[Client::Every]);
    let row = |label: &str| rows.iter().find(|r| r.label == label).unwrap();
    let oracle = row("per-package");
    assert_eq!(oracle.summary.mean_download_bytes, mib);
    assert_eq!(oracle.best_peer_ratio, Some(0.25));
    assert_eq!(oracle.best_peer.as_deref(), Some("coarse-peer"));
    assert_eq!(row("coarse-peer").best_peer_ratio, Some(1.0));
    assert!(row("coarse-peer").peer && !row("single").peer);
    assert_eq!(row("fine-peer x=1").best_peer_ratio, Some(0.25));
    let md = rechunk_reports::markdown(&sim, &rows, 64);
    assert!(md.contains("× best peer"), "{md}");
    assert!(
        md.contains(
            "Best peer (lowest mean of the peers as deployed: coarse-peer): `coarse-peer`."
        ),
        "{md}"
    );
    // The JSON rows carry the ratio and the peer's name.
    let json = serde_json::to_value(&rows).unwrap();
    assert_eq!(json[0]["best_peer_ratio"], 0.25);
    assert_eq!(json[0]["best_peer"], "coarse-peer");
}
