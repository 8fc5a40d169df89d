//! `rechunk compare` end to end: the binary on a short slice of the shipped FCOS history.

use std::process::{Command, Output};

use serde_json::Value;

fn rechunk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rechunk"))
}

/// The JSON a successful run printed (its stderr shown when it failed).
fn json_of<T: serde::de::DeserializeOwned>(output: &Output) -> T {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn json_on_a_short_slice_reports_every_row_and_writes_the_files() {
    let out = tempfile::tempdir().unwrap();
    let output = rechunk()
        .args([
            "compare",
            "--json",
            "--strategies",
            "single",
            "--to-version",
            "6bd4b0d8",
        ])
        .args(["--sweep", "max-layers=8,64", "--output"])
        .arg(out.path())
        .output()
        .unwrap();
    let rows: Value = json_of(&output);
    let rows = rows.as_array().unwrap();
    // single at 8 and 64 layers, then the per-package oracle once (it ignores the budget) and
    // every peer as deployed at both budgets (the best peer needs them); × 4 clients.
    let mut runs: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["strategy"].as_str().unwrap(),
                r["max_layers"].as_u64().unwrap(),
            )
        })
        .collect();
    runs.dedup();
    assert_eq!(
        runs,
        [
            ("single", 8),
            ("single", 64),
            ("per-package", 64),
            ("rpm-ostree", 8),
            ("rpm-ostree", 64),
            ("rpm-ostree+prior", 8),
            ("rpm-ostree+prior", 64),
            ("hhd-rechunk", 8),
            ("hhd-rechunk", 64),
            ("chunkah", 8),
            ("chunkah", 64)
        ]
    );
    assert_eq!(rows.len(), 11 * 4);
    for r in rows {
        for field in [
            "strategy",
            "client",
            "max_layers",
            "updates",
            "mean_download_bytes",
            "median_download_bytes",
            "p90_download_bytes",
            "mean_reuse_ratio",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
    }
    let row = |strategy: &str, client: &str, layers: u64| {
        rows.iter()
            .find(|r| {
                r["strategy"] == strategy && r["client"] == client && r["max_layers"] == layers
            })
            .unwrap_or_else(|| panic!("no row {strategy} {client} {layers}"))
    };
    // Five versions (2019-09-05 .. 2019-11-26): 4 every-updates, 5 fresh installs.
    assert_eq!(row("single", "every", 8)["updates"], 4);
    assert_eq!(row("single", "fresh", 64)["updates"], 5);
    // One layer that always changes: no reuse, and the oracle does better.
    let single = row("single", "every", 64);
    assert_eq!(single["mean_reuse_ratio"], 0.0);
    let oracle = row("per-package", "every", 64);
    assert!(oracle["mean_download_bytes"].as_f64() < single["mean_download_bytes"].as_f64());
    assert_eq!(oracle["ratio_to_per_package"], 1.0);
    // × best peer: against the lowest of the four peers in the same table.
    let peers = ["rpm-ostree", "rpm-ostree+prior", "hhd-rechunk", "chunkah"];
    let best = peers
        .iter()
        .map(|p| row(p, "every", 64)["mean_download_bytes"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let ratio = single["best_peer_ratio"].as_f64().unwrap();
    assert!((ratio - single["mean_download_bytes"].as_f64().unwrap() / best).abs() < 1e-9);
    assert!(peers.contains(&single["best_peer"].as_str().unwrap()));
    assert!(
        single["ratio_to_rpm_ostree"].is_number(),
        "the old field stays"
    );

    for file in [
        "updates.csv",
        "summary.md",
        "cumulative.svg",
        "distribution.svg",
        "budget.svg",
    ] {
        let path = out.path().join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.len() > 100, "{file} is nearly empty");
    }
    let csv = std::fs::read_to_string(out.path().join("updates.csv")).unwrap();
    assert!(csv.starts_with(
        "history,strategy,params,max_layers,oracle,client,from,to,date,download_bytes"
    ));
    // Header + (4 every + weekly + monthly + 5 fresh) per run.
    assert!(csv.lines().filter(|l| l.contains(",single,,8,")).count() >= 9);
    let svg = std::fs::read_to_string(out.path().join("cumulative.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("per-package"));
}

#[test]
fn bad_options_fail_with_the_cause() {
    // Exit 1: the arguments parse but name something that is not there; exit 2: usage.
    let cases: [(&[&str], i32, &str); 6] = [
        (&["--to-version", "nope"], 1, "no such version"),
        (&["--history", "/no/such/file.csv"], 1, "/no/such/file.csv"),
        (&["--strategies", "nope"], 1, "unknown strategy"),
        (&["--client", "daily"], 2, "daily"),
        (&["--sweep", "max-layers=0"], 2, "max-layers"),
        (&["--max-layers", "0"], 1, "--max-layers"),
    ];
    for (args, code, want) in cases {
        let output = rechunk().arg("compare").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

#[test]
fn an_exported_history_replays_to_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fcos.csv");
    let run = |history: &str, export: bool| {
        let mut cmd = rechunk();
        cmd.args(["compare", "--json", "--no-sweep", "--strategies", "single"])
            .args(["--to-version", "6bd4b0d8", "--history", history, "--output"])
            .arg(dir.path().join("out"));
        if export {
            cmd.arg("--export-history").arg(&csv);
        }
        let output = cmd.output().unwrap();
        let rows: Value = json_of(&output);
        let rows: Vec<String> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["strategy"], r["client"], r["mean_download_bytes"]
                )
            })
            .collect();
        rows
    };
    let shipped = run("fcos-stable", true);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("version,date,component,evr,size,source,requires,kind,change_frequency\n")
    );
    // Every version is exported, not only the replayed slice: 149 versions, 60,169 package
    // rows plus 2 synthetic components each, plus the header.
    assert_eq!(text.lines().count(), 1 + 60_169 + 2 * 149);
    let reloaded = run(csv.to_str().unwrap(), false);
    assert_eq!(shipped, reloaded);
}

#[test]
fn a_parameter_sweep_adds_one_labelled_row_per_value() {
    let out = tempfile::tempdir().unwrap();
    let output = rechunk()
        .args([
            "compare",
            "--json",
            "--client",
            "every",
            "--strategies",
            "chunkah",
        ])
        .args([
            "--to-version",
            "6bd4b0d8",
            "--sweep",
            "chunkah.period_days=30,365",
        ])
        .arg("--output")
        .arg(out.path())
        .output()
        .unwrap();
    let rows: Value = json_of(&output);
    let labels: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["strategy"] == "chunkah")
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "chunkah",
            "chunkah period_days=30",
            "chunkah period_days=365"
        ]
    );
    let swept = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "chunkah period_days=30");
    assert_eq!(swept.unwrap()["params"]["period_days"], "30");
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary.contains("| chunkah period_days=30 "), "{summary}");
}

/// The shipped ratio file, as the test reads it: (strategy, max_layers, client) → ratio.
fn shipped_ratios() -> Vec<(String, u64, String, f64)> {
    let text = include_str!("../datasets/data/compression-ratios.csv");
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[0].to_owned(),
                rec[1].parse().unwrap(),
                rec[2].to_owned(),
                rec[4].parse().unwrap(),
            )
        })
        .collect()
}

/// The ratio the rule gives, worked out here on its own: measured budget as is, linear in
/// ln(layers) between the two measured budgets around it, else the nearest; the client's own
/// rows, else `every`'s.
fn expected_ratio(
    table: &[(String, u64, String, f64)],
    strategy: &str,
    layers: u64,
    client: &str,
) -> (f64, &'static str) {
    let pick = |c: &str| -> Vec<(u64, f64)> {
        let mut v: Vec<(u64, f64)> = table
            .iter()
            .filter(|(s, _, cl, _)| s == strategy && cl == c)
            .map(|(_, l, _, r)| (*l, *r))
            .collect();
        v.sort_by_key(|(l, _)| *l);
        v
    };
    let mut rows = pick(client);
    if rows.is_empty() {
        rows = pick("every");
    }
    if rows.is_empty() {
        return (697_035_775.0 / 1_351_235_724.0, "fallback");
    }
    if let Some((_, r)) = rows.iter().find(|(l, _)| *l == layers) {
        return (*r, "measured");
    }
    let lo = rows.iter().rev().find(|(l, _)| *l < layers);
    let hi = rows.iter().find(|(l, _)| *l > layers);
    match (lo, hi) {
        (Some(&(l0, r0)), Some(&(l1, r1))) => {
            let t =
                ((layers as f64).ln() - (l0 as f64).ln()) / ((l1 as f64).ln() - (l0 as f64).ln());
            (r0 + t * (r1 - r0), "interpolated")
        }
        (Some(&(_, r)), None) | (None, Some(&(_, r))) => (r, "nearest"),
        (None, None) => unreachable!(),
    }
}

#[test]
fn the_compressed_column_is_uncompressed_times_the_strategys_measured_ratio() {
    let out = tempfile::tempdir().unwrap();
    let output = rechunk()
        .args(["compare", "--json", "--strategies", "cluster,single"])
        .args([
            "--to-version",
            "6bd4b0d8",
            "--client",
            "every,monthly,fresh",
        ])
        .args(["--sweep", "max-layers=8,12,32,64,127", "--output"])
        .arg(out.path())
        .output()
        .unwrap();
    let rows: Vec<Value> = json_of(&output);
    let table = shipped_ratios();
    // How much of its images each run × client fetched: Σ download / Σ image bytes.
    let csv = std::fs::read_to_string(out.path().join("updates.csv")).unwrap();
    let mut shares: std::collections::HashMap<(String, String, String), (f64, f64)> =
        Default::default();
    {
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (st, ml, cl, down, image) = (
            col("strategy"),
            col("max_layers"),
            col("client"),
            col("download_bytes"),
            col("image_bytes"),
        );
        for rec in reader.records() {
            let rec = rec.unwrap();
            let e = shares
                .entry((rec[st].into(), rec[ml].into(), rec[cl].into()))
                .or_default();
            e.0 += rec[down].parse::<f64>().unwrap();
            e.1 += rec[image].parse::<f64>().unwrap();
        }
    }
    let share = |s: &str, l: u64, c: &str| {
        let (d, i) = shares[&(s.to_owned(), l.to_string(), c.to_owned())];
        d / i
    };
    let mut bases = std::collections::BTreeSet::new();
    for r in &rows {
        let (strategy, layers, client) = (
            r["strategy"].as_str().unwrap(),
            r["max_layers"].as_u64().unwrap(),
            r["client"].as_str().unwrap(),
        );
        let (mut want, basis) = expected_ratio(&table, strategy, layers, client);
        let applied = &r["compression_ratio"];
        let measured = |c: &str| table.iter().any(|(s, _, cl, _)| s == strategy && cl == c);
        if client == "monthly" && !measured("monthly") {
            // Not measured: every's ratio moved toward the whole image's by how much more of
            // the image it fetches than `every`.
            let (every, _) = expected_ratio(&table, strategy, layers, "every");
            let (fresh, _) = expected_ratio(&table, strategy, layers, "fresh");
            let (s, s_every) = (
                share(strategy, layers, "monthly"),
                share(strategy, layers, "every"),
            );
            if s_every < 1.0 {
                let t = ((s - s_every) / (1.0 - s_every)).clamp(0.0, 1.0);
                want = every + t * (fresh - every);
                let scaled = applied["share_scaled"].as_f64().unwrap();
                assert!((scaled - s).abs() < 1e-9, "{r}");
            } else {
                // `every` already fetches the whole image (single): nothing to scale by.
                want = every;
                assert!(applied["share_scaled"].is_null(), "{r}");
            }
        } else {
            assert!(applied["share_scaled"].is_null(), "{r}");
        }
        let ratio = applied["ratio"].as_f64().unwrap();
        assert!(
            (ratio - want).abs() < 1e-9,
            "{strategy} {layers} {client}: {ratio} vs {want}"
        );
        assert_eq!(applied["basis"], basis, "{strategy} {layers} {client}");
        assert_eq!(applied["compression"], "zstd:3");
        bases.insert(basis);
        // Every update is rounded on its own: the mean is within half a byte.
        let mean = r["mean_download_bytes"].as_f64().unwrap();
        let compressed = r["mean_compressed_download_bytes"].as_f64().unwrap();
        assert!(
            (compressed - mean * ratio).abs() <= 0.5,
            "{strategy} {layers} {client}: {compressed} vs {mean} × {ratio}"
        );
    }
    // 12 and 64 are measured, 32 between them, 8 and 127 outside.
    assert_eq!(
        bases.into_iter().collect::<Vec<_>>(),
        ["interpolated", "measured", "nearest"]
    );
    // Fine-grained downloads compress worse than the whole image: a fresh install of a
    // cluster image uses the whole image's ratio, an update the downloads'.
    let ratio_of = |s: &str, l: u64, c: &str| {
        rows.iter()
            .find(|r| r["strategy"] == s && r["max_layers"] == l && r["client"] == c)
            .unwrap()["compression_ratio"]["ratio"]
            .as_f64()
            .unwrap()
    };
    assert!(ratio_of("cluster", 64, "every") > ratio_of("cluster", 64, "fresh") + 0.1);
    // Without a measured monthly ratio, a monthly client's lies between every's and the
    // whole image's (on this slice it fetches no larger a share of the image than `every`, so
    // it keeps every's: the scaling itself is `rechunk_sim::compression`'s unit test); with
    // one, it is that (checked above, row by row).
    if !table
        .iter()
        .any(|(s, _, c, _)| s == "cluster" && c == "monthly")
    {
        let monthly = ratio_of("cluster", 64, "monthly");
        assert!(monthly <= ratio_of("cluster", 64, "every"), "{monthly}");
        assert!(monthly > ratio_of("cluster", 64, "fresh"), "{monthly}");
    }

    // updates.csv: each update's compressed bytes are its bytes × the ratio it names.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (down, comp, ratio, compression) = (
        col("download_bytes"),
        col("compressed_download_bytes"),
        col("compression_ratio"),
        col("compression"),
    );
    let mut lines = 0;
    for rec in reader.records() {
        let rec = rec.unwrap();
        let d: f64 = rec[down].parse().unwrap();
        let r: f64 = rec[ratio].parse().unwrap();
        assert_eq!(rec[comp].parse::<u64>().unwrap(), (d * r).round() as u64);
        assert_eq!(&rec[compression], "zstd:3");
        lines += 1;
    }
    assert!(lines > 50);
    let md = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(md.contains("zstd:3 compression ratio measured"), "{md}");
    assert!(md.contains("datasets/data/compression-ratios.csv"), "{md}");
    assert!(
        md.contains("mean compressed MiB per update by layer budget"),
        "{md}"
    );
}

#[test]
fn ratios_from_a_file_mark_unmeasured_strategies_and_fixed_ratio_is_the_old_estimate() {
    let out = tempfile::tempdir().unwrap();
    let ratios = out.path().join("ratios.csv");
    std::fs::write(
        &ratios,
        "# only single measured\n\
         strategy,max_layers,client,compression,ratio,updates,source\n\
         single,64,every,gzip:6,0.6,4,hand-made\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let output = rechunk()
            .args(["compare", "--json", "--strategies", "single", "--no-sweep"])
            .args(["--to-version", "6bd4b0d8", "--client", "every"])
            .args(extra)
            .arg("--output")
            .arg(dir.path())
            .output()
            .unwrap();
        let rows: Vec<Value> = json_of(&output);
        let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        (rows, md)
    };
    let fixed = 697_035_775.0 / 1_351_235_724.0;
    let (rows, md) = run(&["--ratios", ratios.to_str().unwrap()]);
    for r in &rows {
        let applied = &r["compression_ratio"];
        if r["strategy"] == "single" {
            assert_eq!(applied["ratio"], 0.6);
            assert_eq!(applied["basis"], "measured");
        } else {
            // Peers and the oracle have no row: the fixed ratio, marked.
            assert_eq!(applied["ratio"].as_f64().unwrap(), fixed, "{r}");
            assert_eq!(applied["basis"], "fallback");
        }
    }
    assert!(md.contains("ratios.csv"), "{md}");
    assert!(md.contains("gzip:6 compression ratio"), "{md}");
    let single = md.lines().find(|l| l.starts_with("| single ")).unwrap();
    assert!(single.contains(" 0.600 "), "{single}");
    let chunkah = md.lines().find(|l| l.starts_with("| chunkah ")).unwrap();
    assert!(chunkah.contains(" 0.516* "), "{chunkah}");

    let (rows, md) = run(&["--fixed-ratio"]);
    for r in &rows {
        assert_eq!(r["compression_ratio"]["ratio"].as_f64().unwrap(), fixed);
        assert_eq!(r["compression_ratio"]["basis"], "fixed");
    }
    assert!(md.contains("--fixed-ratio"), "{md}");
    assert!(!md.contains('*'), "{md}");

    // A file that mixes compressions is refused, naming it.
    std::fs::write(
        &ratios,
        "strategy,max_layers,client,compression,ratio,updates,source\n\
         single,64,every,gzip:6,0.6,4,a\n\
         single,12,every,zstd:3,0.6,4,b\n",
    )
    .unwrap();
    let output = rechunk()
        .args([
            "compare",
            "--strategies",
            "single",
            "--no-sweep",
            "--ratios",
        ])
        .arg(&ratios)
        .arg("--output")
        .arg(out.path().join("o"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ratios.csv") && stderr.contains("more than one compression"),
        "{stderr}"
    );
}

#[test]
fn a_cold_window_replays_as_a_history_of_only_its_versions() {
    // --last 3 --cold up to the 21st version (June 2020): every strategy starts at the 19th,
    // as if the history began there. The same figures come from an exported history cut to those
    // three versions; without --cold the strategies also see the three versions before.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fcos.csv");
    let run = |args: &[&str]| -> Vec<String> {
        let output = rechunk()
            .args(["compare", "--json", "--no-sweep", "--max-layers", "8"])
            .args([
                "--strategies",
                "cluster",
                "--client",
                "every,fresh",
                "--output",
            ])
            .arg(dir.path().join("out"))
            .args(args)
            .output()
            .unwrap();
        let rows: Value = json_of(&output);
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r["strategy"], r["client"], r["updates"], r["mean_download_bytes"]
                )
            })
            .collect()
    };
    let export = csv.to_str().unwrap();
    let cold = run(&[
        "--to-version",
        "32.20200615.3.0",
        "--last",
        "3",
        "--cold",
        "--export-history",
        export,
    ]);
    let warm = run(&["--to-version", "32.20200615.3.0", "--last", "3"]);
    // Three versions reported either way: two updates, three fresh installs.
    for rows in [&cold, &warm] {
        assert!(rows
            .iter()
            .any(|r| r.starts_with("\"cluster\" \"every\" 2 ")));
        assert!(rows
            .iter()
            .any(|r| r.starts_with("\"cluster\" \"fresh\" 3 ")));
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut versions: Vec<&str> = Vec::new();
    for line in text.lines().skip(1) {
        let v = line.split(',').next().unwrap();
        if versions.last() != Some(&v) {
            versions.push(v);
        }
    }
    let end = versions
        .iter()
        .position(|v| *v == "32.20200615.3.0")
        .unwrap();
    let kept = &versions[end - 2..=end];
    let cut: String = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || kept.contains(&l.split(',').next().unwrap()))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let cut_path = dir.path().join("cut.csv");
    std::fs::write(&cut_path, cut).unwrap();
    let truncated = run(&["--history", cut_path.to_str().unwrap()]);
    assert_eq!(cold, truncated);
    // Shown the versions before the window, the strategies that learn from history (cluster,
    // the previous-plan chains) plan otherwise.
    assert_ne!(cold, warm);
}
