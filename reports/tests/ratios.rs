//! The ratio file: what `compare --build` writes from its measurements is what `compare` reads
//! back, and the shipped file covers every registered strategy.

use rechunk_model::UpdateCost;
use rechunk_reports::ratios;
use rechunk_sim::agreement::{agreement_rows, measured_ratios, BuiltRun, BuiltUpdate};
use rechunk_sim::{Client, CompressionModel, RatioBasis, Run, Simulation, Update};
use rechunk_strategies::Params;

fn cost(bytes: u64) -> UpdateCost {
    UpdateCost {
        download_bytes: bytes,
        ..UpdateCost::default()
    }
}

fn sim_update(to: &str, bytes: u64) -> Update {
    Update {
        client: Client::Every,
        from: Some("v0".into()),
        to: to.into(),
        date: 0,
        cost: cost(bytes),
        compressed_download_bytes: 0,
        replanned_bytes: 0,
        layer_count: 1,
        attribution: None,
    }
}

fn run(label: &str, max_layers: usize) -> Run {
    Run {
        label: label.into(),
        strategy: label.split(' ').next().unwrap().into(),
        params: Params::new(),
        max_layers,
        oracle: false,
        peer: false,
        updates: vec![sim_update("v1", 1000), sim_update("v2", 3000)],
        ratios: vec![],
    }
}

fn built(label: &str, max_layers: usize, blobs: [u64; 2], image: (u64, u64)) -> BuiltRun {
    let update = |to: &str, tar: u64, blob: u64| BuiltUpdate {
        client: Client::Every,
        from: Some("v0".into()),
        to: to.into(),
        compressed: cost(blob),
        uncompressed: cost(tar),
        content: cost(tar),
    };
    BuiltRun {
        label: label.into(),
        max_layers,
        updates: vec![update("v1", 1000, blobs[0]), update("v2", 3000, blobs[1])],
        compressed_bytes: image.0,
        uncompressed_bytes: image.1,
        versions: 3,
    }
}

#[test]
fn what_compare_build_writes_compare_reads_back() {
    let sim = Simulation {
        history: "h".into(),
        versions: vec!["v0".into(), "v1".into(), "v2".into()],
        runs: vec![run("cluster", 12), run("cluster", 64), run("single", 64)],
        compression: CompressionModel::Fixed,
    };
    let built = vec![
        built("cluster", 12, [600, 1700], (5200, 10_000)),
        built("cluster", 64, [700, 2000], (5170, 10_000)),
        built("single", 64, [520, 1550], (5180, 10_000)),
    ];
    let rows = agreement_rows(&sim, &built, &[], &[Client::Every]).unwrap();
    let measured = measured_ratios(&rows, &built, "zstd:3", "h v0..v2 (scale real)");
    let mut text = Vec::new();
    let comments = ["made by a test".to_owned(), "second line".to_owned()];
    ratios::write(&measured, &comments, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("# made by a test\n# second line\nstrategy,max_layers,"));
    assert_eq!(ratios::comments(&text), ["made by a test", "second line"]);

    let table = ratios::read(&text, "test file").unwrap();
    assert_eq!(table.rows(), measured.as_slice());
    assert_eq!(table.compression(), "zstd:3");
    assert_eq!(table.budgets(), [12, 64]);
    let model = CompressionModel::Measured(table);
    // Updates: blob / tar bytes of the downloads; fresh installs: of the whole images.
    let every = model.ratio("cluster", "cluster", 64, Client::Every, None);
    assert_eq!(every.ratio, 2700.0 / 4000.0);
    assert_eq!(every.basis, RatioBasis::Measured);
    assert_eq!(
        model
            .ratio("cluster", "cluster", 12, Client::Every, None)
            .ratio,
        2300.0 / 4000.0
    );
    assert_eq!(
        model
            .ratio("cluster", "cluster", 64, Client::Fresh, None)
            .ratio,
        0.517
    );
    assert_eq!(
        model
            .ratio("single", "single", 64, Client::Every, None)
            .ratio,
        2070.0 / 4000.0
    );
    // Not measured: the fixed ratio, marked.
    let graph = model.ratio("graph", "graph", 64, Client::Every, None);
    assert_eq!(graph.basis, RatioBasis::Fallback);
    assert_eq!(graph.ratio, rechunk_sim::COMPRESSION_RATIO);
}

#[test]
fn a_malformed_file_is_refused_with_its_name() {
    for (text, cause) in [
        ("strategy,ratio\ncluster,0.5\n", "header"),
        (
            "strategy,max_layers,client,compression,ratio,updates,source\ncluster,64,daily,zstd:3,0.5,4,s\n",
            "data row 1",
        ),
        (
            "strategy,max_layers,client,compression,ratio,updates,source\n",
            "unusable ratios",
        ),
    ] {
        let err = format!("{:#}", ratios::read(text, "`bad.csv`").unwrap_err());
        assert!(err.contains("`bad.csv`") && err.contains(cause), "{err}");
    }
}

#[test]
fn the_shipped_file_measures_every_registered_strategy_with_zstd_3() {
    let text = include_str!("../../datasets/data/compression-ratios.csv");
    let table = ratios::read(text, "shipped").unwrap();
    assert_eq!(table.compression(), "zstd:3");
    // The budgets scripts/agreement.sh sweeps.
    assert_eq!(table.budgets(), [12, 64, 127]);
    assert!(ratios::comments(text)
        .iter()
        .any(|l| l.contains("rechunk compare --build")));
    let model = CompressionModel::Measured(table);
    for name in rechunk_strategies::names() {
        for client in [Client::Every, Client::Fresh] {
            let r = model.ratio(name, name, 64, client, None);
            assert_eq!(r.basis, RatioBasis::Measured, "{name} {client:?}");
        }
        // What a fresh install fetches (the whole image) compresses at least as well as
        // what an update fetches.
        let every = model.ratio(name, name, 64, Client::Every, None).ratio;
        let fresh = model.ratio(name, name, 64, Client::Fresh, None).ratio;
        assert!(fresh <= every, "{name}: {fresh} > {every}");
    }
}

#[test]
fn a_file_without_weekly_and_monthly_rows_still_loads_and_those_clients_fall_back() {
    let old = "# written before weekly and monthly were measured\n\
               strategy,max_layers,client,compression,ratio,updates,source\n\
               cluster,64,every,zstd:3,0.678,4,s: downloads\n\
               cluster,64,fresh,zstd:3,0.518,5,s: whole images\n";
    let shares = Some(rechunk_sim::Shares {
        client: 0.7,
        every: 0.4,
    });
    let model = CompressionModel::Measured(ratios::read(old, "old").unwrap());
    let weekly = model.ratio("cluster", "cluster", 64, Client::Weekly, shares);
    assert_eq!(weekly.share_scaled, Some(0.7));
    assert!((weekly.ratio - (0.678 + 0.5 * (0.518 - 0.678))).abs() < 1e-12);
    // With the rows a newer `compare --build` writes, each client's own, as measured.
    let new = format!(
        "{old}cluster,64,weekly,zstd:3,0.66,4,s: downloads\n\
         cluster,64,monthly,zstd:3,0.61,2,s: downloads\n"
    );
    let model = CompressionModel::Measured(ratios::read(&new, "new").unwrap());
    for (client, want) in [(Client::Weekly, 0.66), (Client::Monthly, 0.61)] {
        let r = model.ratio("cluster", "cluster", 64, client, shares);
        assert_eq!(
            (r.ratio, r.basis, r.share_scaled),
            (want, RatioBasis::Measured, None)
        );
    }
}
