//! Planning speed: every registered strategy planning one desktop-sized image of 3,000
//! components at 64 layers, from scratch and (for the strategies that keep a previous plan)
//! replanning the next build. Targets: < 100 ms per strategy, < 1 s for `cluster`. `single` is
//! the baseline measured in the same run (the cost of walking the input at all).
//!
//! The input is generated deterministically: log-normal sizes (median ~70 KiB, a few
//! components of hundreds of MiB), 1-4 subpackages per source rpm, requires pointing mostly at
//! a popular core of libraries, per-source change rates from 1% to 60% per weekly build over a
//! 104-build history, changelog dates that match it, and the always-changing rpmdb and
//! initramfs.
//!
//! `cargo bench -p rechunk-bench --bench strategies`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rechunk_model::{ChangeHistory, Component, ComponentKind, Plan, PlanInput, Snapshot, DAY};

const COMPONENTS: usize = 3_000;
const BUILDS: usize = 104;
const BUDGET: usize = 64;
/// First build date: 2024-01-01.
const START: i64 = 1_704_067_200;

/// xorshift64*: a fixed, dependency-free generator, so every run benches the same input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One generated source package and its binary packages.
struct Source {
    members: Vec<usize>,
    rate: f64,
}

/// The components of every build and the change history up to the last one.
fn generate() -> (Vec<Snapshot>, ChangeHistory) {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut comps: Vec<Component> = Vec::with_capacity(COMPONENTS);
    let mut sources: Vec<Source> = Vec::new();
    while comps.len() < COMPONENTS - 2 {
        let subpackages = 1 + (rng.next() % 4) as usize;
        let src = format!("src{:04}", sources.len());
        // Change probability per build: log-uniform between 1% and 60%.
        let rate = (0.01f64.ln() + rng.unit() * (0.6f64 / 0.01).ln()).exp();
        let mut members = Vec::new();
        for k in 0..subpackages.min(COMPONENTS - 2 - comps.len()) {
            let i = comps.len();
            let size = (11.2 + 2.2 * rng.normal()).exp().clamp(1_000.0, 400e6) as u64;
            let mut c = Component::new(format!("{src}-p{k}"), ComponentKind::Package, "0", size);
            c.source = Some(src.clone());
            c.files = 1 + size / 40_000;
            // Requires: mostly the first 200 components (a popular core), some anywhere.
            for _ in 0..(rng.next() % 5) {
                if i > 0 {
                    let core = (i as u64).min(200);
                    let j = if rng.unit() < 0.8 {
                        rng.next() % core
                    } else {
                        rng.next() % i as u64
                    };
                    c.requires.push(format!("{}", j));
                }
            }
            members.push(i);
            comps.push(c);
        }
        sources.push(Source { members, rate });
    }
    // Requires were recorded as indices; resolve them to names.
    let names: Vec<String> = comps.iter().map(|c| c.name.clone()).collect();
    for c in &mut comps {
        for r in &mut c.requires {
            if let Ok(j) = r.parse::<usize>() {
                *r = names[j].clone();
            }
        }
    }
    comps.push(Component::new(
        "rpmdb",
        ComponentKind::Rpmdb,
        "0",
        12_000_000,
    ));
    comps.push(Component::new(
        "initramfs",
        ComponentKind::Initramfs,
        "0",
        80_000_000,
    ));

    let mut snapshots = Vec::with_capacity(BUILDS);
    let mut history = ChangeHistory::default();
    for b in 0..BUILDS {
        let date = START + b as i64 * 7 * DAY;
        if b > 0 {
            for s in &sources {
                if rng.unit() < s.rate {
                    for &m in &s.members {
                        let c = &mut comps[m];
                        c.version = b.to_string();
                        c.build_time = Some(date - DAY);
                        c.changelog_times.insert(0, date - DAY);
                    }
                }
            }
            for c in comps.iter_mut().filter(|c| c.kind.changes_always()) {
                c.version = b.to_string();
            }
        }
        let snap = Snapshot::new(format!("b{b}"), date, comps.clone());
        history.observe(&snap);
        snapshots.push(snap);
    }
    (snapshots, history)
}

/// Planning `build` at the benched budget.
fn input<'a>(
    build: &'a Snapshot,
    history: &'a ChangeHistory,
    previous: Option<&'a Plan>,
) -> PlanInput<'a> {
    PlanInput {
        components: &build.components,
        now: build.date,
        history,
        previous,
        max_layers: BUDGET,
    }
}

fn plan(c: &mut Criterion) {
    let (snapshots, history) = generate();
    let last = &snapshots[BUILDS - 1];
    // The history as it stood one build earlier, for the previous plan.
    let before = ChangeHistory::from_snapshots(&snapshots[..BUILDS - 1]);
    let mut group = c.benchmark_group(format!("plan-{COMPONENTS}-components-{BUDGET}-layers"));
    group.sample_size(10);
    for strategy in rechunk_strategies::registry() {
        let name = strategy.name();
        let fresh = input(last, &history, None);
        group.bench_function(format!("{name} (fresh)"), |b| {
            b.iter(|| strategy.plan(black_box(&fresh)).expect("plans"))
        });
        if ["cluster", "rpm-ostree", "hhd-rechunk"].contains(&name) {
            let prev_input = input(&snapshots[BUILDS - 2], &before, None);
            let previous: Plan = strategy.plan(&prev_input).expect("plans");
            let next = input(last, &history, Some(&previous));
            group.bench_function(format!("{name} (next build)"), |b| {
                b.iter(|| strategy.plan(black_box(&next)).expect("plans"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, plan);
criterion_main!(benches);
