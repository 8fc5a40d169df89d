//! Attribution of simulated updates: a hand-computed case for each cause, then the FCOS stable
//! replay, where every update's attributed bytes add up to its download and the two extreme
//! strategies give what they must (one layer: everything unchanged is fetched along; one layer
//! per component: nothing is).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use rechunk_model::{
    Cause, Component, ComponentKind, History, Layer, Plan, PlanInput, Role, Snapshot, Totals, DAY,
};
use rechunk_sim::{
    attribute_update, replay_images, simulate, Client, Contender, SimConfig, UpdateAttribution,
};
use rechunk_strategies::{ParamSpec, PerPackage, Single, Strategy, StrategyError};

/// Places components by a per-version table of layers.
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
    fn plan(&self, input: &PlanInput) -> Result<Plan, StrategyError> {
        let t = self.calls.fetch_add(1, Ordering::SeqCst);
        let layout = &self.layouts[t.min(self.layouts.len() - 1)];
        let present = |n: &&str| input.components.iter().any(|c| c.name == *n);
        Ok(Plan::new(
            layout
                .iter()
                .map(|l| Layer::new(l.iter().copied().filter(present)))
                .collect(),
        ))
    }
}

/// (layer, cause, members as (component, role, bytes)).
type Shares = (u32, Cause, Vec<(u32, Role, u64)>);

fn contender(strategy: Box<dyn Strategy>) -> Contender {
    Contender {
        strategy,
        params: BTreeMap::new(),
        max_layers: 8,
    }
}

fn snapshot(i: usize, comps: &[(&str, &str, u64)]) -> Snapshot {
    let comps = comps
        .iter()
        .map(|(n, v, s)| Component::new(*n, ComponentKind::Package, *v, *s))
        .collect();
    Snapshot::new(format!("v{i}"), i as i64 * DAY, comps)
}

fn attributions(h: &History, strategy: Box<dyn Strategy>) -> Vec<UpdateAttribution> {
    let config = SimConfig {
        clients: vec![Client::Every],
        first: 0,
        last: h.snapshots.len() - 1,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let sim = simulate(h, &[contender(strategy)], &config, &|| {}).unwrap();
    sim.runs[0]
        .updates
        .iter()
        .map(|u| {
            let a = u
                .attribution
                .clone()
                .expect("an update from a held version");
            assert_eq!(a.totals.total(), u.cost.download_bytes, "{}", u.to);
            a
        })
        .collect()
}

#[test]
fn each_cause_by_hand() {
    // a 10, b 20, c 30, d 40 bytes.
    let h = History {
        name: "tiny".into(),
        snapshots: vec![
            snapshot(
                0,
                &[
                    ("a", "1", 10),
                    ("b", "1", 20),
                    ("c", "1", 30),
                    ("d", "1", 40),
                ],
            ),
            // a changes: [a b] is fetched, b along with it.
            snapshot(
                1,
                &[
                    ("a", "2", 10),
                    ("b", "1", 20),
                    ("c", "1", 30),
                    ("d", "1", 40),
                ],
            ),
            // Nothing changes, but the plan moves b to c's layer: both layers are regrouped.
            snapshot(
                2,
                &[
                    ("a", "2", 10),
                    ("b", "1", 20),
                    ("c", "1", 30),
                    ("d", "1", 40),
                ],
            ),
            // d is removed; e arrives in a layer of its own. [b c] is untouched.
            snapshot(
                3,
                &[
                    ("a", "2", 10),
                    ("b", "1", 20),
                    ("c", "1", 30),
                    ("e", "1", 5),
                ],
            ),
        ],
    };
    let layouts = vec![
        vec![vec!["a", "b"], vec!["c"], vec!["d"]],
        vec![vec!["a", "b"], vec!["c"], vec!["d"]],
        vec![vec!["a"], vec!["b", "c"], vec!["d"]],
        vec![vec!["a"], vec!["b", "c"], vec!["e"]],
    ];
    let strategy = Box::new(Scripted {
        layouts,
        calls: AtomicUsize::new(0),
    });
    let a = attributions(&h, strategy);
    let shares = |u: &UpdateAttribution| -> Vec<Shares> {
        u.layers
            .iter()
            .map(|l| {
                let m = l
                    .members
                    .iter()
                    .map(|m| (m.component, m.role, m.bytes))
                    .collect();
                (l.layer, l.cause, m)
            })
            .collect()
    };
    // Component indices are into each version's sorted components: a=0, b=1, c=2, d/e=3.
    assert_eq!(
        shares(&a[0]),
        [(
            0,
            Cause::Changed,
            vec![(0, Role::Changed, 10), (1, Role::Shared, 20)]
        )]
    );
    assert_eq!(
        shares(&a[1]),
        [
            (0, Cause::Regrouped, vec![(0, Role::Regrouped, 10)]),
            (
                1,
                Cause::Regrouped,
                vec![(1, Role::Regrouped, 20), (2, Role::Regrouped, 30)]
            ),
        ]
    );
    assert_eq!(
        shares(&a[2]),
        [(2, Cause::Changed, vec![(3, Role::Added, 5)])]
    );
    assert_eq!(
        a.iter().map(|u| u.totals).collect::<Vec<_>>(),
        [
            Totals {
                changed: 10,
                shared: 20,
                ..Totals::default()
            },
            Totals {
                regrouped: 60,
                ..Totals::default()
            },
            Totals {
                changed: 5,
                ..Totals::default()
            },
        ]
    );
}

#[test]
fn fcos_stable_attribution_adds_up_and_the_extremes_hold() {
    let h = rechunk_datasets::open_history("fcos-stable").unwrap();
    let last = h.snapshots.len() - 1;
    let config = SimConfig {
        clients: vec![Client::Every, Client::Weekly, Client::Fresh],
        first: last - 20,
        last,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let contenders = vec![contender(Box::new(Single)), contender(Box::new(PerPackage))];
    let sim = simulate(&h, &contenders, &config, &|| {}).unwrap();
    let index: BTreeMap<&str, &Snapshot> = h.snapshots.iter().map(|s| (s.id.as_str(), s)).collect();
    for run in &sim.runs {
        for u in &run.updates {
            let Some(from) = &u.from else {
                assert!(u.attribution.is_none());
                continue;
            };
            let a = u.attribution.as_ref().unwrap();
            assert_eq!(
                a.totals.total(),
                u.cost.download_bytes,
                "{} {}",
                run.label,
                u.to
            );
            // Bytes of the components added or changed, from the snapshots alone.
            let (old, new) = (index[from.as_str()], index[u.to.as_str()]);
            let changed: u64 = new
                .components
                .iter()
                .filter(|c| {
                    old.component(&c.name)
                        .is_none_or(|o| o.version != c.version)
                })
                .map(|c| c.size)
                .sum();
            assert_eq!(a.totals.changed, changed, "{} {}", run.label, u.to);
            match run.strategy.as_str() {
                "single" => assert_eq!(a.totals.shared, new.total_size() - changed),
                "per-package" => {
                    assert_eq!(a.totals.shared + a.totals.regrouped + a.totals.rebuilt, 0)
                }
                other => unreachable!("{other}"),
            }
            assert_eq!(a.totals.unattributed, 0);
        }
    }
}

#[test]
fn replayed_images_are_the_simulated_ones() {
    let h = rechunk_datasets::open_history("fcos-stable").unwrap();
    let (a, b) = (30, 31);
    let config = SimConfig {
        clients: vec![Client::Every],
        first: a,
        last: b,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let names = ["cluster".to_string()];
    let contenders = rechunk_sim::contenders(&names, 32, &[]).unwrap();
    let sim = simulate(&h, &contenders, &config, &|| {}).unwrap();
    let update = &sim.runs[0].updates[0];
    let images = replay_images(&h, &contenders[0], &[a, b]).unwrap();
    assert_eq!(images[1].cost_from(Some(&images[0])), update.cost);
    let attribution =
        attribute_update((&h.snapshots[a], &images[0]), (&h.snapshots[b], &images[1]));
    assert_eq!(Some(attribution), update.attribution);
    assert!(replay_images(&h, &contenders[0], &[h.snapshots.len()]).is_err());
}
