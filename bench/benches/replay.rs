//! Replay speed: the whole shipped FCOS stable history (149 versions, 148 updates) through every
//! registered strategy at 64 layers, all four clients, as `rechunk compare` runs it. The
//! `single` replay is the baseline measured in the same run: the simulator's own cost (history
//! walk, layer keys, client costs) with the cheapest possible strategy.
//!
//! `cargo bench -p rechunk-bench --bench replay`

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion};
use rechunk_sim::{contenders, simulate, Client, Contender, SimConfig};
use rechunk_strategies::Single;

fn replay(c: &mut Criterion) {
    let history = rechunk_datasets::open_history("fcos-stable").expect("shipped history loads");
    let config = SimConfig {
        clients: Client::ALL.to_vec(),
        first: 0,
        last: history.snapshots.len() - 1,
        compression: rechunk_sim::CompressionModel::Fixed,
    };
    let names: Vec<String> = rechunk_strategies::names()
        .into_iter()
        .map(String::from)
        .collect();
    let mut group = c.benchmark_group("replay-fcos-stable");
    group.sample_size(10);
    group.bench_function("single (baseline)", |b| {
        b.iter(|| {
            let single = [Contender {
                strategy: Box::new(Single),
                params: BTreeMap::new(),
                max_layers: 64,
            }];
            simulate(&history, &single, &config, &|| {}).expect("replay")
        })
    });
    group.bench_function(format!("all {} strategies", names.len()), |b| {
        b.iter(|| {
            let all = contenders(&names, 64, &[]).expect("registered strategies");
            simulate(&history, &all, &config, &|| {}).expect("replay")
        })
    });
    group.bench_function("load history", |b| {
        b.iter(|| rechunk_datasets::open_history("fcos-stable").expect("loads"))
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
