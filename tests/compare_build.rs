//! `rechunk compare --build` end to end, small: three versions of a small history synthesized
//! with real rpm, built with every strategy at 4 and 12 layers (each build given its previous
//! image), measured with `rechunk diff`'s rule. The simulator's download agrees with the built
//! images' within 3% (uncompressed) for every strategy, every build planned what the simulator
//! planned, the compressed figures are measured (not the fixed ratio), and the file-level bound
//! is reported beside per-package and never above it; the clients `weekly` and `monthly` are
//! measured on the same images (`monthly` skips v2: v1's image diffed against v3's); the
//! measured ratios are written as the ratio file, which `compare --ratios` reads back and
//! applies, each client its own, and a file without the weekly/monthly rows still loads and
//! falls back on the share rule. Needs Debian's `rpm` and root (scripts/test.sh). The
//! desktop-size run is `bench/results/agreement.md`.

use std::fs;
use std::process::Command;

use serde_json::Value;

/// Small packages, a kernel with its initramfs; v2 updates a library and the kernel, v3 the
/// shell and a subpackage pair.
const HISTORY: &str = "\
version,date,component,evr,size,source,kind
v1,2024-09-02,bash,5.2.26-1.fc40.x86_64,900000,bash,
v1,2024-09-02,glibc,2.39-1.fc40.x86_64,1500000,glibc,
v1,2024-09-02,openssl-libs,3.2.2-1.fc40.x86_64,700000,openssl,
v1,2024-09-02,rpm,4.19.1.1-1.fc40.x86_64,300000,rpm,
v1,2024-09-02,systemd,256.4-1.fc40.x86_64,1200000,systemd,
v1,2024-09-02,systemd-libs,256.4-1.fc40.x86_64,400000,systemd,
v1,2024-09-02,kernel-core,6.10.12-200.fc40.x86_64,1600000,kernel,
v1,2024-09-02,initramfs,built-v1,500000,,initramfs
v2,2024-09-09,bash,5.2.26-1.fc40.x86_64,900000,bash,
v2,2024-09-09,glibc,2.39-1.fc40.x86_64,1500000,glibc,
v2,2024-09-09,openssl-libs,3.2.2-2.fc40.x86_64,700000,openssl,
v2,2024-09-09,rpm,4.19.1.1-1.fc40.x86_64,300000,rpm,
v2,2024-09-09,systemd,256.4-1.fc40.x86_64,1200000,systemd,
v2,2024-09-09,systemd-libs,256.4-1.fc40.x86_64,400000,systemd,
v2,2024-09-09,kernel-core,6.10.14-200.fc40.x86_64,1650000,kernel,
v2,2024-09-09,initramfs,built-v2,500000,,initramfs
v3,2024-09-16,bash,5.2.26-2.fc40.x86_64,910000,bash,
v3,2024-09-16,glibc,2.39-1.fc40.x86_64,1500000,glibc,
v3,2024-09-16,openssl-libs,3.2.2-2.fc40.x86_64,700000,openssl,
v3,2024-09-16,rpm,4.19.1.1-1.fc40.x86_64,300000,rpm,
v3,2024-09-16,systemd,256.5-1.fc40.x86_64,1210000,systemd,
v3,2024-09-16,systemd-libs,256.5-1.fc40.x86_64,400000,systemd,
v3,2024-09-16,kernel-core,6.10.14-200.fc40.x86_64,1650000,kernel,
v3,2024-09-16,initramfs,built-v3,500000,,initramfs
";

/// The JSON rows a successful `rechunk compare --json` printed (its stderr on failure).
fn json_rows(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_simulator_agrees_with_the_built_images_within_3_percent() {
    let work = tempfile::tempdir().unwrap();
    let history = work.path().join("history.csv");
    fs::write(&history, HISTORY).unwrap();
    let out_dir = work.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["compare", "--build", "--json", "--history"])
        .arg(&history)
        .args(["--max-layers", "12", "--sweep", "max-layers=4,12"])
        .args(["--jobs", "2", "--output"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let rows = json_rows(&out);
    let strategies: Vec<&str> = rows
        .iter()
        .filter(|r| !r["simulated_bytes"].is_null())
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    for s in ["cluster", "rpm-ostree", "single", "per-package", "chunkah"] {
        assert!(strategies.contains(&s), "{s} missing: {strategies:?}");
    }
    // Default clients: every, weekly (checks on 09-09 and 09-16: the same fetches as every) and
    // monthly (one check, on 10-02: v1 → v3).
    let fetches = |client: &str| -> Vec<(&str, &str)> {
        match client {
            "every" | "weekly" => vec![("v1", "v2"), ("v2", "v3")],
            "monthly" => vec![("v1", "v3")],
            other => panic!("client {other} was not asked for"),
        }
    };
    for client in ["every", "weekly", "monthly"] {
        for s in ["cluster", "rpm-ostree", "single", "per-package", "chunkah"] {
            assert!(
                rows.iter()
                    .any(|r| r["label"] == s && r["client"] == client),
                "{s} {client} missing"
            );
        }
    }
    for r in rows.iter().filter(|r| !r["simulated_bytes"].is_null()) {
        let (label, layers, client) = (&r["label"], &r["max_layers"], &r["client"]);
        let n = fetches(client.as_str().unwrap()).len();
        assert_eq!(r["updates"], n, "{label} at {layers} layers, {client}");
        let deviation = r["deviation"].as_f64().unwrap();
        assert!(
            deviation.abs() <= 0.03,
            "{label} at {layers} layers, {client}: simulated {} vs built {} bytes ({:+.2}%)",
            r["simulated_bytes"],
            r["built_bytes"],
            deviation * 100.0
        );
        // The compressed figure is measured on the blobs: gzip of this content, well under
        // the tar bytes, and not the fixed ratio applied.
        let built = r["built_bytes"].as_f64().unwrap();
        let compressed = r["built_compressed_bytes"].as_f64().unwrap();
        assert!(
            compressed > 0.2 * built && compressed < 0.95 * built,
            "{label}: {compressed} of {built}"
        );
        let ratio = r["download_ratio"].as_f64().unwrap();
        assert!(
            (ratio - compressed / built).abs() < 1e-9,
            "{label}: {ratio}"
        );
    }
    // The file-level bound: the changed files, never more than per-package's file bytes (every
    // file the client lacks is in a component that changed), for every client: monthly's v1 →
    // v3 included (diffed against v2's image instead, it would lack v2's changes).
    for client in ["every", "weekly", "monthly"] {
        let find = |label: &str| {
            rows.iter()
                .find(|r| r["label"] == label && r["client"] == client)
                .unwrap()
        };
        let files = find("file-level");
        let per_package = find("per-package");
        let file_bytes = files["built_bytes"].as_f64().unwrap();
        assert!(file_bytes > 0.0);
        assert!(
            file_bytes <= per_package["built_content_bytes"].as_f64().unwrap(),
            "{files} vs {per_package}"
        );
        assert!(files["built_compressed_bytes"].as_f64().unwrap() > 0.0);
    }
    // The report shows it beside per-package, and every build planned what the simulator did.
    let md = fs::read_to_string(out_dir.join("agreement.md")).unwrap();
    assert!(
        md.contains("| file-level (oracle: changed files) |"),
        "{md}"
    );
    // One table per client and budget, each once.
    for client in ["every", "weekly", "monthly"] {
        for layers in [4, 12] {
            let heading = format!("### client `{client}`, {layers} layers\n");
            assert_eq!(md.matches(&heading).count(), 1, "{heading}: {md}");
        }
    }
    assert!(md.contains("`monthly` v1 → v3."), "{md}");
    assert!(md.contains("| per-package (oracle) |"), "{md}");
    let planned = md
        .lines()
        .find(|l| l.contains("builds planned exactly"))
        .unwrap();
    let numbers: Vec<&str> = planned.split_whitespace().collect();
    assert_eq!(numbers[0], numbers[2], "{planned}");
    // The built fetches, update by update: each client's are the ones its schedule names,
    // per contender.
    let csv = fs::read_to_string(out_dir.join("agreement-updates.csv")).unwrap();
    let updates: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap())
        .collect();
    let built_updates = |label: &str, layers: &str, client: &str| -> Vec<&csv::StringRecord> {
        updates
            .iter()
            .filter(|u| &u[0] == label && &u[1] == layers && &u[2] == client)
            .collect()
    };
    // The measured ratios, as the ratio file: one `every` row per built contender with its
    // download ratio exactly, and a `fresh` row (the whole images); `compare --ratios` reads
    // the file and applies them to the same history's replay.
    let ratio_text = fs::read_to_string(out_dir.join("compression-ratios.csv")).unwrap();
    assert!(ratio_text.starts_with("# "), "{ratio_text}");
    assert!(ratio_text.contains("compare --build"), "{ratio_text}");
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(ratio_text.as_bytes());
    let file_rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let built_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| !r["simulated_bytes"].is_null())
        .collect();
    let mut contenders = std::collections::BTreeSet::new();
    for r in &built_rows {
        let (label, layers) = (r["label"].as_str().unwrap(), r["max_layers"].to_string());
        let client = r["client"].as_str().unwrap();
        contenders.insert((label, layers.clone()));
        let find = |client: &str| {
            file_rows
                .iter()
                .find(|f| &f[0] == label && f[1] == *layers && &f[2] == client)
                .unwrap_or_else(|| panic!("no {client} row for {label} at {layers}"))
        };
        // The client's row: blob / tar bytes summed over the built diffs of exactly the
        // fetches its schedule names (for monthly, v1's image against v3's).
        let ups = built_updates(label, &layers, client);
        let pairs: Vec<(&str, &str)> = ups.iter().map(|u| (&u[3], &u[4])).collect();
        assert_eq!(pairs, fetches(client), "{label} at {layers}, {client}");
        let sum = |col: usize| {
            ups.iter()
                .map(|u| u[col].parse::<u64>().unwrap())
                .sum::<u64>()
        };
        let (tar, blob) = (sum(6), sum(8));
        assert!(tar > 0, "{label} at {layers}, {client}");
        let own: f64 = find(client)[4].parse().unwrap();
        assert!(
            (own - blob as f64 / tar as f64).abs() < 1e-12,
            "{label} at {layers}, {client}: {own} vs {blob} / {tar}"
        );
        assert_eq!(find(client)[5], ups.len().to_string());
        assert_eq!(&find(client)[3], "gzip:6");
        // serde_json parses floats to within an ulp, the file's text is read exactly.
        let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() < 1e-12;
        assert!(close(own, &r["download_ratio"]), "{label}: {own} {r}");
        let fresh: f64 = find("fresh")[4].parse().unwrap();
        assert!(close(fresh, &r["image_ratio"]), "{label}: {fresh} {r}");
    }
    // Per contender: every, weekly, monthly and fresh (the whole images).
    assert_eq!(file_rows.len(), 4 * contenders.len());
    assert_eq!(built_rows.len(), 3 * contenders.len());
    let replay_dir = work.path().join("replay");
    let replay = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["compare", "--json", "--client", "every,weekly,monthly"])
        .arg("--history")
        .arg(&history)
        .args([
            "--max-layers",
            "12",
            "--sweep",
            "max-layers=4,12",
            "--ratios",
        ])
        .arg(out_dir.join("compression-ratios.csv"))
        .arg("--output")
        .arg(&replay_dir)
        .output()
        .unwrap();
    let replayed = json_rows(&replay);
    for r in &built_rows {
        let s = replayed
            .iter()
            .find(|s| {
                s["label"] == r["label"]
                    && s["max_layers"] == r["max_layers"]
                    && s["client"] == r["client"]
            })
            .unwrap();
        let applied = &s["compression_ratio"];
        let measured = r["download_ratio"].as_f64().unwrap();
        // Each client its own measured ratio, not every's moved by the share (`†`).
        assert!(
            (applied["ratio"].as_f64().unwrap() - measured).abs() < 1e-12,
            "{s}"
        );
        assert_eq!(applied["basis"], "measured");
        assert!(applied["share_scaled"].is_null(), "{s}");
        assert_eq!(applied["compression"], "gzip:6");
        let mean = s["mean_download_bytes"].as_f64().unwrap();
        let compressed = s["mean_compressed_download_bytes"].as_f64().unwrap();
        let ratio = applied["ratio"].as_f64().unwrap();
        assert!((compressed - mean * ratio).abs() <= 0.5, "{s}");
    }
    // A ratio file written before weekly and monthly were measured still loads: those
    // clients fall back on every's ratio moved toward the whole images' by their share.
    let old: Vec<&str> = ratio_text
        .lines()
        .filter(|l| !l.contains(",weekly,") && !l.contains(",monthly,"))
        .collect();
    let old_file = work.path().join("old-ratios.csv");
    fs::write(&old_file, old.join("\n") + "\n").unwrap();
    let fallback = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["compare", "--json", "--client", "every,monthly,fresh"])
        .arg("--history")
        .arg(&history)
        .args(["--max-layers", "12", "--sweep", "max-layers=4,12"])
        .arg("--ratios")
        .arg(&old_file)
        .arg("--output")
        .arg(work.path().join("fallback"))
        .output()
        .unwrap();
    let fallback = json_rows(&fallback);
    let applied = |label: &str, client: &str| {
        let s = fallback
            .iter()
            .find(|s| s["label"] == label && s["max_layers"] == 12 && s["client"] == client)
            .unwrap();
        s["compression_ratio"].clone()
    };
    let monthly = applied("cluster", "monthly");
    assert!(monthly["share_scaled"].as_f64().is_some(), "{monthly}");
    let ratio = |v: &Value| v["ratio"].as_f64().unwrap();
    let (every, fresh) = (
        ratio(&applied("cluster", "every")),
        ratio(&applied("cluster", "fresh")),
    );
    let (lo, hi) = (every.min(fresh), every.max(fresh));
    assert!(
        ratio(&monthly) >= lo - 1e-12 && ratio(&monthly) <= hi + 1e-12,
        "{monthly}: not between every {every} and fresh {fresh}"
    );

    // Trees and images are gone; the package cache stays for the next run.
    assert!(!out_dir.join(".build").exists());
    assert!(out_dir.join(".rpm-cache").is_dir());
}
