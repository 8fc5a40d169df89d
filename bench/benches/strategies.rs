//! Planning speed: every registered strategy planning one desktop-sized image of 3,000
//! components at 64 layers, from scratch and (for the strategies that keep a previous plan)
//! replanning the next build. Targets: < 100 ms per strategy, < 1 s for `cluster`. `single` is
//! the baseline measured in the same run (the cost of walking the input at all).
//!
//! Then `cluster` at scale (`cluster-scale-*`), from scratch, on 10,000 and 100,000 components
//! (a desktop without source grouping, a per-file research split), with `single` on the same
//! input as the baseline: targets ≤ 1 s at 10,000 and ≤ 10 s at 100,000.
//!
//! The input is generated deterministically: log-normal sizes (median ~70 KiB, a few
//! components of hundreds of MiB), 1-4 subpackages per source rpm, requires pointing mostly at
//! a popular core of libraries, per-source change rates from 1% to 60% per weekly build over a
//! 104-build history, changelog dates that match it, and the always-changing rpmdb and
//! initramfs.
//!
//! `cargo bench -p rechunk-bench --bench strategies`

use std::hint::black_box;

use std::time::Instant;

use criterion::Criterion;
use std::collections::{HashMap, HashSet};

use rechunk_model::{ChangeHistory, Component, ComponentKind, Plan, PlanInput, Snapshot, DAY};
use rechunk_strategies::{by_name, Params, Strategy};

const COMPONENTS: usize = 3_000;
/// Component counts of the scale runs.
const SCALES: [usize; 2] = [10_000, 100_000];
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

/// The last two builds of a generated history, the history up to the last one and up to the
/// one before (only two snapshots are kept: at 100,000 components all 104 would not fit).
struct Generated {
    last: Snapshot,
    previous: Snapshot,
    history: ChangeHistory,
    before: ChangeHistory,
}

/// `count` components over [`BUILDS`] weekly builds.
fn generate(count: usize) -> Generated {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut comps: Vec<Component> = Vec::with_capacity(count);
    let mut sources: Vec<Source> = Vec::new();
    while comps.len() < count - 2 {
        let subpackages = 1 + (rng.next() % 4) as usize;
        let src = format!("src{:05}", sources.len());
        // Change probability per build: log-uniform between 1% and 60%.
        let rate = (0.01f64.ln() + rng.unit() * (0.6f64 / 0.01).ln()).exp();
        let mut members = Vec::new();
        for k in 0..subpackages.min(count - 2 - comps.len()) {
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

    let mut kept: Vec<Snapshot> = Vec::with_capacity(2);
    let mut history = ChangeHistory::default();
    let mut before = ChangeHistory::default();
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
        if b == BUILDS - 1 {
            before = history.clone();
        }
        history.observe(&snap);
        if b + 2 >= BUILDS {
            kept.push(snap);
        }
    }
    let last = kept.pop().expect("two builds kept");
    let previous = kept.pop().expect("two builds kept");
    Generated {
        last,
        previous,
        history,
        before,
    }
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
    let g = generate(COMPONENTS);
    let (last, history, before) = (&g.last, &g.history, &g.before);
    let mut group = c.benchmark_group(format!("plan-{COMPONENTS}-components-{BUDGET}-layers"));
    group.sample_size(10);
    for strategy in rechunk_strategies::registry() {
        let name = strategy.name();
        let fresh = input(last, history, None);
        group.bench_function(format!("{name} (fresh)"), |b| {
            b.iter(|| strategy.plan(black_box(&fresh)).expect("plans"))
        });
        if ["cluster", "rpm-ostree+prior", "hhd-rechunk"].contains(&name) {
            let prev_input = input(&g.previous, before, None);
            let previous: Plan = strategy.plan(&prev_input).expect("plans");
            let next = input(last, history, Some(&previous));
            group.bench_function(format!("{name} (next build)"), |b| {
                b.iter(|| strategy.plan(black_box(&next)).expect("plans"))
            });
        }
    }
    group.finish();
}

/// `cluster` on big inputs, with `single` on the same input as the baseline. At the smallest
/// scale also the exact greedy on every unit (`exact_units` above the unit count: what
/// `cluster` did before it packed units).
fn plan_at_scale(c: &mut Criterion) {
    let unpacked: Params = [("exact_units".to_string(), "1000000000".to_string())].into();
    for count in SCALES {
        let g = generate(count);
        let fresh = input(&g.last, &g.history, None);
        let mut contenders = vec![("single", Params::new()), ("cluster", Params::new())];
        if count == SCALES[0] {
            contenders.push(("cluster", unpacked.clone()));
        }
        let mut group = c.benchmark_group(format!("cluster-scale-{count}-components"));
        group.sample_size(10);
        for (name, params) in &contenders {
            let strategy = by_name(name, params).expect(name);
            let label = if params.is_empty() {
                name.to_string()
            } else {
                format!("{name} (exact greedy)")
            };
            group.bench_function(label, |b| {
                b.iter(|| strategy.plan(black_box(&fresh)).expect("plans"))
            });
        }
        group.finish();
    }
}

/// Bytes `plan` would have downloaded over the last 26 builds of `g`'s history: each layer's
/// size for every build at which one of its components changed.
fn recent_download(plan: &Plan, g: &Generated) -> f64 {
    let builds = &g.history.builds[g.history.builds.len() - 26..];
    let size: HashMap<&str, u64> = g
        .last
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.size))
        .collect();
    let mut total = 0.0;
    for layer in &plan.layers {
        let bytes: u64 = layer.components.iter().map(|n| size[n.as_str()]).sum();
        let changed: HashSet<i64> = layer
            .components
            .iter()
            .flat_map(|n| g.history.changes_of(n).iter().copied())
            .collect();
        total += bytes as f64 * builds.iter().filter(|b| changed.contains(b)).count() as f64;
    }
    total
}

/// Median wall time of `runs` plans, in seconds.
fn time_plan(strategy: &dyn Strategy, input: &PlanInput, runs: usize) -> f64 {
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(strategy.plan(black_box(input)).expect("plans"));
            start.elapsed().as_secs_f64()
        })
        .collect();
    rechunk_bench::median(times)
}

fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1e3)
}

/// The README's planning-speed tables, measured again in one run (median of 5 plans each;
/// criterion's figures above are for looking closer) and written to
/// `bench/results/strategies.md`.
fn report() {
    const RUNS: usize = 5;
    let g = generate(COMPONENTS);
    let fresh = input(&g.last, &g.history, None);
    let mut md = format!(
        "### Planning\n\n{COMPONENTS} generated components ({} source packages, {BUILDS} weekly \
         builds of history) at {BUDGET} layers, median of {RUNS} plans, release build:\n\n\
         | strategy | fresh plan | next build (previous plan given) |\n|---|---:|---:|\n",
        g.last
            .components
            .iter()
            .filter_map(|c| c.source.as_deref())
            .collect::<HashSet<_>>()
            .len()
    );
    for strategy in rechunk_strategies::registry() {
        let name = strategy.name();
        let t = time_plan(strategy.as_ref(), &fresh, RUNS);
        let next = if ["cluster", "rpm-ostree+prior", "hhd-rechunk"].contains(&name) {
            let previous = strategy
                .plan(&input(&g.previous, &g.before, None))
                .expect("plans");
            let next = input(&g.last, &g.history, Some(&previous));
            ms(time_plan(strategy.as_ref(), &next, RUNS))
        } else {
            String::new()
        };
        md += &format!("| `{name}` | {} | {next} |\n", ms(t));
    }
    md += "\n`cluster` on bigger inputs (a desktop without source grouping, a per-file split), \
           with `single` on the same input as the baseline; the exact greedy (every unit merged \
           pairwise, what `cluster` did before it packed same-history units) at 10,000 for \
           comparison, with the bytes each plan would have downloaded over the last 26 builds:\n\n\
           | components | `single` | `cluster` | × `single` | target | exact greedy | download vs exact |\n\
           |---:|---:|---:|---:|---|---:|---:|\n";
    let unpacked: Params = [("exact_units".to_string(), "1000000000".to_string())].into();
    let single = by_name("single", &Params::new()).expect("single");
    let cluster = by_name("cluster", &Params::new()).expect("cluster");
    let exact = by_name("cluster", &unpacked).expect("cluster");
    for (count, target) in SCALES.into_iter().zip(["≤ 1 s", "≤ 10 s"]) {
        let g = generate(count);
        let fresh = input(&g.last, &g.history, None);
        let base = time_plan(single.as_ref(), &fresh, RUNS);
        let t = time_plan(cluster.as_ref(), &fresh, RUNS);
        let (exact_time, quality) = if count == SCALES[0] {
            let packed = recent_download(&cluster.plan(&fresh).expect("plans"), &g);
            let greedy = recent_download(&exact.plan(&fresh).expect("plans"), &g);
            (
                format!("{:.2} s", time_plan(exact.as_ref(), &fresh, 3)),
                format!("{:+.2}%", (packed / greedy - 1.0) * 100.0),
            )
        } else {
            (String::new(), String::new())
        };
        md += &format!(
            "| {count} | {} | {:.3} s | {:.0} | {target} | {exact_time} | {quality} |\n",
            ms(base),
            t,
            t / base
        );
    }
    print!("{md}");
    let path = rechunk_bench::write_result(
        "strategies",
        "cargo bench -p rechunk-bench --bench strategies",
        &md,
    )
    .expect("writing the result");
    println!("written to {}", path.display());
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    plan(&mut c);
    plan_at_scale(&mut c);
    report();
    c.final_summary();
}
