//! `rechunk synth` end to end: a generic history CSV becomes one tree per version, and `rechunk
//! scan --rootfs` on each tree reports package components with exactly the history's names,
//! versions and sizes; the realised history is written next to the trees; clear errors for an
//! existing version and an unknown one. Needs Debian's `rpm` and root (scripts/test.sh).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const HISTORY: &str = "\
version,date,component,evr,size,source,kind
v1,2024-03-01,bash,5.2.26-1.fc40.x86_64,2500000,bash,
v1,2024-03-01,glibc.x86_64,2.39-22.fc40.x86_64,3000000,glibc,
v1,2024-03-01,glibc.i686,2.39-22.fc40.i686,1000000,glibc,
v1,2024-03-01,NetworkManager-libnm,1:1.46.2-1.fc40.x86_64,900000,NetworkManager,
v1,2024-03-01,rpm,4.19.1.1-1.fc40.x86_64,500000,rpm,
v1,2024-03-01,kernel-core,6.10.12-200.fc40.x86_64,1500000,kernel,
v1,2024-03-01,tool,build 7,40000,,
v2,2024-03-08,bash,5.2.26-2.fc40.x86_64,2500000,bash,
v2,2024-03-08,glibc,2.39-22.fc40.x86_64,3000000,glibc,
v2,2024-03-08,NetworkManager-libnm,1:1.46.4-1.fc40.x86_64,900000,NetworkManager,
v2,2024-03-08,rpm,4.19.1.1-1.fc40.x86_64,500000,rpm,
v2,2024-03-08,kernel-core,6.10.14-200.fc40.x86_64,1500000,kernel,
v2,2024-03-08,tool,build 8,40000,,
v2,2024-03-08,initramfs,built-v2,300000,,initramfs
";

fn rechunk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(args)
        .output()
        .expect("rechunk runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// name → (kind, version, size) of the package components `rechunk scan --json` reports.
fn scanned_packages(root: &Path) -> BTreeMap<String, (String, u64)> {
    let json: Value = serde_json::from_str(&ok(&rechunk(&[
        "scan",
        "--json",
        "--rootfs",
        root.to_str().unwrap(),
    ])))
    .unwrap();
    json["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "package")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                (
                    c["version"].as_str().unwrap().to_string(),
                    c["size"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// name → (version, size) of the package rows of one version of a history CSV (no quoted
/// fields in these files).
fn history_packages(csv: &str, version: &str) -> BTreeMap<String, (String, u64)> {
    let mut lines = csv.lines();
    let headers: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| headers.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|r| r[col("version")] == version && matches!(r[col("kind")], "" | "package"))
        .map(|r| {
            (
                r[col("component")].to_string(),
                (r[col("evr")].to_string(), r[col("size")].parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn synthesized_trees_scan_as_the_history_says() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.csv");
    std::fs::write(&history, HISTORY).unwrap();
    let out = dir.path().join("chain");
    let (h, o) = (history.to_str().unwrap(), out.to_str().unwrap());
    let table = ok(&rechunk(&["synth", "--history", h, "--output", o]));
    assert!(table.contains("v1") && table.contains("v2"), "{table}");
    // The realised history: the input with free-form versions mapped to what rpm holds.
    let realised = std::fs::read_to_string(out.join("history.csv")).unwrap();
    for version in ["v1", "v2"] {
        let want = history_packages(&realised, version);
        let got = scanned_packages(&out.join(version));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{version}: package components"
        );
        for (name, (version_string, size)) in &want {
            let (got_version, got_size) = &got[name];
            // `rpm` %ghost-owns the rpm database, which goes to the rpmdb component: the
            // package keeps its EVR and its own bytes.
            assert_eq!(got_version, version_string, "{version}: {name}");
            assert_eq!(got_size, size, "{version}: {name}");
        }
        let input = history_packages(HISTORY, version);
        assert_eq!(input.len(), want.len());
        assert_eq!(
            want["bash"], input["bash"],
            "well-formed versions map one to one"
        );
        assert_ne!(want["tool"].0, input["tool"].0, "free-form ones are mapped");
    }
    assert_eq!(
        history_packages(&realised, "v1")["glibc.i686"].0,
        "2.39-22.fc40.i686"
    );
    // glibc.x86_64 (beside glibc.i686 in v1) and glibc (alone in v2) are one package: the same
    // installed bytes.
    let bytes = |v: &str| std::fs::read(out.join(v).join("usr/lib64/libglibc.so.1.0.0")).unwrap();
    assert_eq!(bytes("v1"), bytes("v2"));

    // An existing version is refused without --force and replaced with it; nothing is built
    // again (the cache has every package).
    let again = rechunk(&["synth", "--history", h, "--output", o, "--last", "1"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains(&format!("{}: already exists", out.join("v2").display())),
        "{err}"
    );
    let forced = ok(&rechunk(&[
        "synth",
        "--history",
        h,
        "--output",
        o,
        "--last",
        "1",
        "--force",
        "--json",
    ]));
    let row: Value = serde_json::from_str(forced.lines().next().unwrap()).unwrap();
    assert_eq!(
        (row["version"].as_str(), row["built"].as_u64()),
        (Some("v2"), Some(0))
    );

    let unknown = rechunk(&[
        "synth",
        "--history",
        h,
        "--output",
        o,
        "--from-version",
        "v9",
    ]);
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("no version \"v9\""), "{err}");
}
