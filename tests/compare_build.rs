//! `rechunk compare --build` end to end, small: three versions of a small history synthesized
//! with real rpm, built with every strategy at 4 and 12 layers (each build given its previous
//! image), measured with `rechunk diff`'s rule. The simulator's download agrees with the built
//! images' within 3% (uncompressed) for every strategy, every build planned what the simulator
//! planned, the compressed figures are measured (not the fixed ratio), and the file-level bound
//! is reported beside per-package and never above it; the measured ratios are written as the
//! ratio file, which `compare --ratios` reads back and applies. Needs Debian's `rpm` and root
//! (scripts/test.sh). The desktop-size run is `bench/results/agreement.md`.

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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let strategies: Vec<&str> = rows
        .iter()
        .filter(|r| !r["simulated_bytes"].is_null())
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    for s in ["cluster", "rpm-ostree", "single", "per-package", "chunkah"] {
        assert!(strategies.contains(&s), "{s} missing: {strategies:?}");
    }
    for r in rows.iter().filter(|r| !r["simulated_bytes"].is_null()) {
        let (label, layers) = (&r["label"], &r["max_layers"]);
        assert_eq!(r["updates"], 2, "{label} at {layers} layers");
        let deviation = r["deviation"].as_f64().unwrap();
        assert!(
            deviation.abs() <= 0.03,
            "{label} at {layers} layers: simulated {} vs built {} bytes ({:+.2}%)",
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
    // file the client lacks is in a component that changed).
    let find = |label: &str| rows.iter().find(|r| r["label"] == label).unwrap();
    let files = find("file-level");
    let per_package = find("per-package");
    let file_bytes = files["built_bytes"].as_f64().unwrap();
    assert!(file_bytes > 0.0);
    assert!(
        file_bytes <= per_package["built_content_bytes"].as_f64().unwrap(),
        "{files} vs {per_package}"
    );
    assert!(files["built_compressed_bytes"].as_f64().unwrap() > 0.0);
    // The report shows it beside per-package, and every build planned what the simulator did.
    let md = fs::read_to_string(out_dir.join("agreement.md")).unwrap();
    assert!(
        md.contains("| file-level (oracle: changed files) |"),
        "{md}"
    );
    assert!(md.contains("| per-package (oracle) |"), "{md}");
    let planned = md
        .lines()
        .find(|l| l.contains("builds planned exactly"))
        .unwrap();
    let numbers: Vec<&str> = planned.split_whitespace().collect();
    assert_eq!(numbers[0], numbers[2], "{planned}");
    let csv = fs::read_to_string(out_dir.join("agreement-updates.csv")).unwrap();
    assert!(csv.lines().count() > 2 * strategies.len());
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
    for r in &built_rows {
        let (label, layers) = (r["label"].as_str().unwrap(), r["max_layers"].to_string());
        let find = |client: &str| {
            file_rows
                .iter()
                .find(|f| &f[0] == label && f[1] == *layers && &f[2] == client)
                .unwrap_or_else(|| panic!("no {client} row for {label} at {layers}"))
        };
        // serde_json parses floats to within an ulp, the file's text is read exactly.
        let close = |a: f64, b: &Value| (a - b.as_f64().unwrap()).abs() < 1e-12;
        let every: f64 = find("every")[4].parse().unwrap();
        assert!(close(every, &r["download_ratio"]), "{label}: {every} {r}");
        assert_eq!(&find("every")[3], "gzip:6");
        let fresh: f64 = find("fresh")[4].parse().unwrap();
        assert!(close(fresh, &r["image_ratio"]), "{label}: {fresh} {r}");
    }
    assert_eq!(file_rows.len(), 2 * built_rows.len());
    let replay_dir = work.path().join("replay");
    let replay = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["compare", "--json", "--client", "every", "--history"])
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
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let replayed: Vec<Value> = serde_json::from_slice(&replay.stdout).unwrap();
    for r in &built_rows {
        let s = replayed
            .iter()
            .find(|s| s["label"] == r["label"] && s["max_layers"] == r["max_layers"])
            .unwrap();
        let applied = &s["compression_ratio"];
        let measured = r["download_ratio"].as_f64().unwrap();
        assert!(
            (applied["ratio"].as_f64().unwrap() - measured).abs() < 1e-12,
            "{s}"
        );
        assert_eq!(applied["basis"], "measured");
        assert_eq!(applied["compression"], "gzip:6");
        let mean = s["mean_download_bytes"].as_f64().unwrap();
        let compressed = s["mean_compressed_download_bytes"].as_f64().unwrap();
        let ratio = applied["ratio"].as_f64().unwrap();
        assert!((compressed - mean * ratio).abs() <= 0.5, "{s}");
    }
    // Trees and images are gone; the package cache stays for the next run.
    assert!(!out_dir.join(".build").exists());
    assert!(out_dir.join(".rpm-cache").is_dir());
}
