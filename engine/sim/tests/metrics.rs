//! Metric tests on tiny hand-made histories: every figure below is computed by hand in the
//! comments next to it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use rechunk_model::{Component, ComponentKind, History, Layer, Plan, PlanInput, Snapshot, DAY};
use rechunk_sim::{simulate, Client, Contender, SimConfig, SimError, Update};
use rechunk_strategies::{ParamSpec, PerPackage, Single, Strategy, StrategyError};

/// Places components by a per-version table: version index → layers of names.
struct Scripted {
    layouts: Vec<Vec<Vec<&'static str>>>,
    calls: AtomicUsize,
}

impl Strategy for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn description(&self) -> &'static str {
        "test"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn plan(&self, _input: &PlanInput) -> Result<Plan, StrategyError> {
        let t = self.calls.fetch_add(1, Ordering::SeqCst);
        let layout = &self.layouts[t.min(self.layouts.len() - 1)];
        Ok(Plan::new(
            layout
                .iter()
                .map(|l| Layer::new(l.iter().copied()))
                .collect(),
        ))
    }
}

fn scripted(layouts: Vec<Vec<Vec<&'static str>>>) -> Box<dyn Strategy> {
    Box::new(Scripted {
        layouts,
        calls: AtomicUsize::new(0),
    })
}

/// Versions of a (10 bytes), b (20), c (30) on the given days.
fn history(versions: &[(i64, [&str; 3])]) -> History {
    let sizes = [("a", 10), ("b", 20), ("c", 30)];
    let snapshots = versions
        .iter()
        .enumerate()
        .map(|(i, (day, evrs))| {
            let comps = sizes
                .iter()
                .zip(evrs)
                .map(|((n, s), v)| Component::new(*n, ComponentKind::Package, *v, *s))
                .collect();
            Snapshot::new(format!("v{i}"), day * DAY, comps)
        })
        .collect();
    History {
        name: "tiny".into(),
        snapshots,
    }
}

fn contender(strategy: Box<dyn Strategy>, max_layers: usize) -> Contender {
    Contender {
        strategy,
        params: BTreeMap::new(),
        max_layers,
    }
}

fn run_one(h: &History, strategy: Box<dyn Strategy>, clients: &[Client]) -> Vec<Update> {
    let config = SimConfig {
        clients: clients.to_vec(),
        first: 0,
        last: h.snapshots.len() - 1,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(h, &[contender(strategy, 4)], &config, &|| {}).unwrap();
    sim.runs.into_iter().next().unwrap().updates
}

fn downloads(updates: &[Update]) -> Vec<(Option<&str>, &str, u64)> {
    updates
        .iter()
        .map(|u| (u.from.as_deref(), u.to.as_str(), u.cost.download_bytes))
        .collect()
}

#[test]
fn every_update_fetches_only_layers_whose_content_changed() {
    // Layers [a b] and [c]. v0→v1: a changes → [a b] = 30 bytes, reuse 30/60.
    // v1→v2: c changes → 30 bytes. v2→v3: a and c change → 60 bytes, reuse 0.
    let h = history(&[
        (0, ["1", "1", "1"]),
        (1, ["2", "1", "1"]),
        (2, ["2", "1", "2"]),
        (3, ["3", "1", "3"]),
    ]);
    let u = run_one(
        &h,
        scripted(vec![vec![vec!["a", "b"], vec!["c"]]]),
        &[Client::Every],
    );
    assert_eq!(
        downloads(&u),
        [
            (Some("v0"), "v1", 30),
            (Some("v1"), "v2", 30),
            (Some("v2"), "v3", 60)
        ]
    );
    assert_eq!(u[0].cost.layers_fetched, 1);
    assert!((u[0].cost.reuse_ratio - 0.5).abs() < 1e-12);
    assert_eq!(u[2].cost.reuse_ratio, 0.0);
    assert!(u
        .iter()
        .all(|u| u.replanned_bytes == 0 && u.layer_count == 2));
    // Compressed estimate: 30 bytes × 697,035,775 / 1,351,235,724 = 15.48 → 15.
    assert_eq!(u[0].compressed_download_bytes, 15);
    // Manifest + config: 345 bytes per layer.
    assert_eq!(u[0].cost.metadata_bytes, 690);
}

#[test]
fn moving_a_component_refetches_both_layers_and_counts_as_replanning() {
    // No content changes at all. v0: [a b] [c]; v1: [a] [b c]: both keys change →
    // download 10 + 50 = 60; every component's layer-mates changed → 60 replanned.
    // v2: same plan as v1 → nothing to fetch.
    let h = history(&[
        (0, ["1", "1", "1"]),
        (1, ["1", "1", "1"]),
        (2, ["1", "1", "1"]),
    ]);
    let layouts = vec![
        vec![vec!["a", "b"], vec!["c"]],
        vec![vec!["a"], vec!["b", "c"]],
        vec![vec!["a"], vec!["b", "c"]],
    ];
    let u = run_one(&h, scripted(layouts), &[Client::Every]);
    assert_eq!(
        downloads(&u),
        [(Some("v0"), "v1", 60), (Some("v1"), "v2", 0)]
    );
    assert_eq!((u[0].replanned_bytes, u[1].replanned_bytes), (60, 0));
    assert_eq!(u[0].cost.layers_fetched, 2);
    assert_eq!(u[1].cost.reuse_ratio, 1.0);
}

#[test]
fn an_empty_layer_is_not_a_layer_and_layer_order_does_not_matter() {
    // v1 reorders the layers and adds an empty one: same two layer keys → 0 bytes, 2 layers.
    let h = history(&[(0, ["1", "1", "1"]), (1, ["1", "1", "1"])]);
    let layouts = vec![
        vec![vec!["a", "b"], vec!["c"]],
        vec![vec!["c"], vec![], vec!["b", "a"]],
    ];
    let u = run_one(&h, scripted(layouts), &[Client::Every]);
    assert_eq!(downloads(&u), [(Some("v0"), "v1", 0)]);
    assert_eq!((u[0].layer_count, u[0].replanned_bytes), (2, 0));
}

#[test]
fn skipping_clients_compare_against_the_version_they_hold() {
    // Days 0, 2, 9, 12, 40 with one layer per component.
    // v0 a1 b1 c1 | v1 a2 | v2 a1 (back to v0's a) | v3 b2 | v4 c2
    let h = history(&[
        (0, ["1", "1", "1"]),
        (2, ["2", "1", "1"]),
        (9, ["1", "1", "1"]),
        (12, ["1", "2", "1"]),
        (40, ["1", "2", "2"]),
    ]);
    let per_comp = || scripted(vec![vec![vec!["a"], vec!["b"], vec!["c"]]]);
    // Every: v0→v1 a (10), v1→v2 a again (10), v2→v3 b (20), v3→v4 c (30).
    let every = run_one(&h, per_comp(), &[Client::Every]);
    assert_eq!(
        every
            .iter()
            .map(|u| u.cost.download_bytes)
            .collect::<Vec<_>>(),
        [10, 10, 20, 30]
    );
    // Weekly checks on days 7 (newest: v1), 14 (v3), 21, 28, 35, 42 (v4):
    // v0→v1 a (10); v1→v3: a back to a1 and b2 → 30; v3→v4: c → 30.
    let weekly = run_one(&h, per_comp(), &[Client::Weekly]);
    assert_eq!(
        downloads(&weekly),
        [
            (Some("v0"), "v1", 10),
            (Some("v1"), "v3", 30),
            (Some("v3"), "v4", 30)
        ]
    );
    // Monthly checks on days 30 (v3) and 60 (v4): v0→v3 only b (a is back to what v0 had) = 20;
    // v3→v4 c = 30.
    let monthly = run_one(&h, per_comp(), &[Client::Monthly]);
    assert_eq!(
        downloads(&monthly),
        [(Some("v0"), "v3", 20), (Some("v3"), "v4", 30)]
    );
    // Fresh installs download the whole image, 60 bytes, every time.
    let fresh = run_one(&h, per_comp(), &[Client::Fresh]);
    assert_eq!(fresh.len(), 5);
    assert!(fresh
        .iter()
        .all(|u| u.from.is_none() && u.cost.download_bytes == 60 && u.cost.reuse_ratio == 0.0));
}

#[test]
fn baselines_bracket_a_real_strategy() {
    // single: any change refetches everything (60); per-package: only what changed.
    let h = history(&[
        (0, ["1", "1", "1"]),
        (1, ["2", "1", "1"]),
        (2, ["2", "2", "1"]),
    ]);
    let single = run_one(&h, Box::new(Single), &[Client::Every]);
    assert_eq!(
        single
            .iter()
            .map(|u| u.cost.download_bytes)
            .collect::<Vec<_>>(),
        [60, 60]
    );
    let oracle = run_one(&h, Box::new(PerPackage), &[Client::Every]);
    assert_eq!(
        oracle
            .iter()
            .map(|u| u.cost.download_bytes)
            .collect::<Vec<_>>(),
        [10, 20]
    );
}

/// Fails unless it only ever sees the past and its own previous plan.
struct NoPeeking {
    calls: AtomicUsize,
}

impl Strategy for NoPeeking {
    fn name(&self) -> &'static str {
        "no-peeking"
    }
    fn description(&self) -> &'static str {
        "test"
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        let t = self.calls.fetch_add(1, Ordering::SeqCst);
        let bad = |why: &str| StrategyError::BadParam {
            strategy: "no-peeking".into(),
            param: "t".into(),
            value: t.to_string(),
            reason: why.into(),
        };
        if input.history.builds.len() != t + 1 || input.history.builds.last() != Some(&input.now) {
            return Err(bad("history holds builds other than 0..=t"));
        }
        // Each plan records t in its layer count, so the previous plan tells whose it is.
        match input.previous {
            None if t == 0 => {}
            Some(p) if p.len() == t => {}
            _ => return Err(bad("previous plan is not mine for t-1")),
        }
        let mut layers = vec![Layer::new(input.components.iter().map(|c| c.name.clone()))];
        layers.extend((0..t).map(|_| Layer::default()));
        Ok(Plan::new(layers))
    }
}

#[test]
fn strategies_see_only_the_past_and_their_own_previous_plan() {
    let h = history(&[
        (0, ["1", "1", "1"]),
        (1, ["2", "1", "1"]),
        (2, ["2", "2", "1"]),
        (3, ["3", "2", "1"]),
    ]);
    let strategy = Box::new(NoPeeking {
        calls: AtomicUsize::new(0),
    });
    // Reporting only v2..=v3 still plans v0 and v1 first (the strategy checks t).
    let config = SimConfig {
        clients: vec![Client::Every, Client::Fresh],
        first: 2,
        last: 3,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(&h, &[contender(strategy, 8)], &config, &|| {}).unwrap();
    assert_eq!(sim.versions, ["v2", "v3"]);
    let u = &sim.runs[0].updates;
    assert_eq!(
        downloads(u),
        [(Some("v2"), "v3", 60), (None, "v2", 60), (None, "v3", 60)]
    );
}

#[test]
fn invalid_plans_and_strategy_errors_name_strategy_and_version() {
    let h = history(&[(0, ["1", "1", "1"]), (1, ["2", "1", "1"])]);
    let config = SimConfig {
        clients: vec![Client::Every],
        first: 0,
        last: 1,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    // Forgets c in v1.
    let forgetful = scripted(vec![vec![vec!["a", "b", "c"]], vec![vec!["a", "b"]]]);
    let err = simulate(&h, &[contender(forgetful, 4)], &config, &|| {}).unwrap_err();
    assert!(matches!(err, SimError::InvalidPlan { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("scripted") && msg.contains("v1") && msg.contains("\"c\""),
        "{msg}"
    );
    // Three layers over a budget of two.
    let wide = scripted(vec![vec![vec!["a"], vec!["b"], vec!["c"]]]);
    let msg = simulate(&h, &[contender(wide, 2)], &config, &|| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("v0") && msg.contains("budget of 2"), "{msg}");
    // The oracle may exceed the budget.
    assert!(simulate(&h, &[contender(Box::new(PerPackage), 1)], &config, &|| {}).is_ok());
    let msg = simulate(&h, &[contender(Box::new(Single), 0)], &config, &|| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("single") && msg.contains("v0"), "{msg}");
    let outside = SimConfig {
        first: 1,
        last: 5,
        ..config
    };
    assert!(matches!(
        simulate(&h, &[contender(Box::new(Single), 1)], &outside, &|| {}),
        Err(SimError::Window { .. })
    ));
}

#[test]
fn arrivals_and_departures_are_not_replanning_but_splits_are() {
    let snap = |i: i64, comps: &[(&str, &str, u64)]| {
        let comps = comps
            .iter()
            .map(|(n, v, s)| Component::new(*n, ComponentKind::Package, *v, *s))
            .collect();
        Snapshot::new(format!("v{i}"), i * DAY, comps)
    };
    let h = History {
        name: "arrivals".into(),
        snapshots: vec![
            snap(0, &[("a", "1", 10), ("b", "1", 20), ("c", "1", 30)]),
            // d arrives (100 bytes) and joins [a b]: that layer is refetched (130) but nothing
            // was regrouped.
            snap(
                1,
                &[
                    ("a", "1", 10),
                    ("b", "1", 20),
                    ("c", "1", 30),
                    ("d", "1", 100),
                ],
            ),
            // c leaves: nothing regrouped, nothing fetched.
            snap(2, &[("a", "1", 10), ("b", "1", 20), ("d", "1", 100)]),
            // The plan splits [a b d] into [a] [b d]: a (10) and b (20) regrouped, d too (100).
            snap(3, &[("a", "1", 10), ("b", "1", 20), ("d", "1", 100)]),
        ],
    };
    let layouts = vec![
        vec![vec!["a", "b"], vec!["c"]],
        vec![vec!["a", "b", "d"], vec!["c"]],
        vec![vec!["a", "b", "d"]],
        vec![vec!["a"], vec!["b", "d"]],
    ];
    let u = run_one(&h, scripted(layouts), &[Client::Every]);
    let got: Vec<(u64, u64)> = u
        .iter()
        .map(|u| (u.cost.download_bytes, u.replanned_bytes))
        .collect();
    assert_eq!(got, [(130, 0), (0, 0), (130, 130)]);
    // A single layer never regroups, whatever arrives or leaves.
    let single = run_one(&h, Box::new(Single), &[Client::Every]);
    assert!(single.iter().all(|u| u.replanned_bytes == 0));
}
