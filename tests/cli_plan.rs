//! `rechunk plan` and `rechunk strategies` as a user runs them: on the real FCOS contentmeta
//! files (ostree-rs-ext's fixtures) and on a root filesystem built by real rpm (see
//! `fixture`), checked against the loaders and `rpm -qa`.

mod fixture;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const FC37: &str = "tests/data/fedora-coreos-contentmeta.fc37.json.gz";
const FC35: &str = "tests/data/fedora-coreos-contentmeta.fc35.json.gz";

fn rechunk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("rechunk runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "rechunk failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Component name → size, as the contentmeta loader reads the file.
fn contentmeta_sizes(file: &str) -> BTreeMap<String, u64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    rechunk_datasets::contentmeta::load(&path)
        .expect("fixture loads")
        .into_iter()
        .map(|c| (c.name, c.size))
        .collect()
}

/// Checks a `plan --json` output against the components it must place: each exactly once,
/// layer sizes the sums of their components, at most `budget` layers. Returns the layers.
fn check_plan(json: &Value, sizes: &BTreeMap<String, u64>, budget: usize) -> Vec<Vec<String>> {
    let layers = json["layers"].as_array().expect("layers is a list");
    assert!(layers.len() <= budget, "{} layers", layers.len());
    let mut placed = BTreeMap::new();
    let mut result = Vec::new();
    for layer in layers {
        let names: Vec<String> = layer["components"]
            .as_array()
            .expect("components is a list")
            .iter()
            .map(|n| n.as_str().expect("a name").to_string())
            .collect();
        let size: u64 = names.iter().map(|n| sizes[n]).sum();
        assert_eq!(layer["size"].as_u64(), Some(size), "layer {names:?}");
        for n in &names {
            assert!(placed.insert(n.clone(), ()).is_none(), "{n} placed twice");
        }
        result.push(names);
    }
    let expected: Vec<&String> = sizes.keys().collect();
    assert_eq!(placed.keys().collect::<Vec<_>>(), expected);
    result
}

fn strategy_names() -> Vec<String> {
    let list = json_of(&rechunk(&["strategies", "--json"]));
    list.as_array()
        .expect("a list")
        .iter()
        .map(|s| s["name"].as_str().expect("a name").to_string())
        .collect()
}

#[test]
fn contentmeta_plan_json_places_every_component_once() {
    let out = rechunk(&["plan", "--contentmeta", FC37, "--json"]);
    let json = json_of(&out);
    assert_eq!(json["strategy"], "cluster");
    let sizes = contentmeta_sizes(FC37);
    assert_eq!(sizes.len(), 396);
    let layers = check_plan(&json, &sizes, 64);
    assert_eq!(json["size"].as_u64(), Some(sizes.values().sum::<u64>()));
    // 396 components and 64 layers: the budget is used, and the biggest source package
    // (linux-firmware and its subpackage linux-firmware-whence, 177 MiB) gets a layer of its
    // own: subpackages of one source rpm travel together.
    assert_eq!(layers.len(), 64);
    let firmware = vec!["linux-firmware".to_string(), "linux-firmware-whence".into()];
    assert!(layers.iter().any(|l| {
        let mut l = l.clone();
        l.sort();
        l == firmware
    }));
}

#[test]
fn every_strategy_plans_both_fcos_contentmeta_files() {
    let names = strategy_names();
    assert!(names.len() >= 7, "{names:?}");
    for file in [FC37, FC35] {
        let sizes = contentmeta_sizes(file);
        for name in &names {
            let out = rechunk(&[
                "plan",
                "--contentmeta",
                file,
                "--strategy",
                name,
                "--max-layers",
                "48",
                "--json",
            ]);
            let json = json_of(&out);
            let budget = if name == "per-package" {
                usize::MAX
            } else {
                48
            };
            check_plan(&json, &sizes, budget);
        }
    }
}

#[test]
fn rpm_ostree_packs_fcos_like_ostree_ext() {
    // ostree-ext's test_packing_fcos on this very file: exactly MAX_CHUNKS (64) bins, all bytes
    // kept; the last bin is the empty one reserved for new packages, and the one before holds
    // the "changes always" content.
    let json = json_of(&rechunk(&[
        "plan",
        "--contentmeta",
        FC37,
        "--strategy",
        "rpm-ostree",
        "--json",
    ]));
    let layers = check_plan(&json, &contentmeta_sizes(FC37), 64);
    assert_eq!(layers.len(), 64);
    assert_eq!(layers[63], Vec::<String>::new());
    let mut always = layers[62].clone();
    always.sort();
    assert_eq!(always, vec!["initramfs", "rpmostree-unpackaged-content"]);
    // The largest packages come first, one per layer.
    assert_eq!(layers[0], vec!["linux-firmware"]);
    assert_eq!(layers[1], vec!["containerd"]);
}

#[test]
fn every_documented_parameter_is_accepted_at_its_default() {
    let list = json_of(&rechunk(&["strategies", "--json"]));
    for s in list.as_array().expect("a list") {
        let name = s["name"].as_str().expect("a name");
        let mut args = vec![
            "plan".to_string(),
            "--contentmeta".into(),
            FC37.into(),
            "--strategy".into(),
            name.into(),
            "--json".into(),
        ];
        for p in s["params"].as_array().expect("params") {
            let (k, v) = (p["name"].as_str(), p["default"].as_str());
            args.push("--param".into());
            args.push(format!("{}={}", k.unwrap_or(""), v.unwrap_or("")));
            assert!(!p["help"].as_str().unwrap_or("").is_empty(), "{name}: help");
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Defaults given explicitly give the same plan as no parameters.
        let with = json_of(&rechunk(&args));
        let without = json_of(&rechunk(&[
            "plan",
            "--contentmeta",
            FC37,
            "--strategy",
            name,
            "--json",
        ]));
        assert_eq!(with["layers"], without["layers"], "{name}");
    }
}

#[test]
fn strategies_text_lists_every_strategy_and_parameter() {
    let out = rechunk(&["strategies"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in strategy_names() {
        assert!(text.contains(&format!("{name}:")) || text.contains(&format!("{name} (")));
    }
    assert!(text.contains("--param half_life_builds=26"));
    assert!(text.contains("per-package (oracle)"));
}

#[test]
fn bad_input_fails_with_path_and_cause() {
    let missing = "/nonexistent/contentmeta.json";
    let out = rechunk(&["plan", "--contentmeta", missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(missing) && err.contains("No such file"),
        "{err}"
    );

    let out = rechunk(&["plan", "--contentmeta", "tests/data/manifest1.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tests/data/manifest1.json") && err.contains("not rpm-ostree contentmeta"),
        "{err}"
    );

    let cases: [(&[&str], &str); 5] = [
        (&["--strategy", "nope"], "unknown strategy \"nope\""),
        (
            &["--param", "bogus=1"],
            "cluster: unknown parameter \"bogus\"",
        ),
        (
            &["--param", "half_life_builds=-1"],
            "half_life_builds=\"-1\": must be a positive number",
        ),
        (
            &["--strategy", "hhd-rechunk", "--param", "fine_layers=maybe"],
            "hhd-rechunk: parameter fine_layers=\"maybe\"",
        ),
        (&["--max-layers", "0"], "--max-layers must be at least 1"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["plan", "--contentmeta", FC37];
        args.extend_from_slice(extra);
        let out = rechunk(&args);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{extra:?}: {err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["plan"],
        vec!["plan", "--contentmeta", FC37, "--rootfs", "/"],
        vec!["plan", "--contentmeta", FC37, "--param", "novalue"],
    ] {
        let out = rechunk(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn rootfs_plan_places_what_rpm_and_the_scan_found() {
    let f = fixture::Fixture::standard();
    let root = f.root.to_str().expect("utf-8 path");
    let loaded =
        rechunk_rootfs::load(&f.root, &rechunk_rootfs::LoadOptions::default()).expect("loads");
    let sizes: BTreeMap<String, u64> = loaded
        .components
        .iter()
        .map(|c| (c.name.clone(), c.size))
        .collect();
    // Real rpm's view of the installed packages: each is a component of the plan.
    let qa = Command::new("rpm")
        .args(["--root", root, "--dbpath", "/usr/lib/sysimage/rpm", "-qa"])
        .args(["--qf", "%{NAME}\n"])
        .output()
        .expect("rpm runs");
    let installed: Vec<String> = String::from_utf8_lossy(&qa.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(installed.len(), 2, "{installed:?}");
    for name in strategy_names() {
        let json = json_of(&rechunk(&[
            "plan",
            "--rootfs",
            root,
            "--strategy",
            &name,
            "--max-layers",
            "16",
            "--json",
        ]));
        let budget = if name == "per-package" {
            usize::MAX
        } else {
            16
        };
        let layers = check_plan(&json, &sizes, budget);
        for pkg in &installed {
            assert!(layers.iter().flatten().any(|n| n == pkg), "{name}: {pkg}");
        }
        if name == "graph" {
            // fixture-tools requires libfixture.so.1, which only fixture-libs provides: a
            // private dependency, it travels with the tool even with layers to spare.
            let of = |pkg: &str| layers.iter().position(|l| l.iter().any(|n| n == pkg));
            assert!(layers.len() < 16 && sizes.len() < 16);
            assert_eq!(of("fixture-tools"), of("fixture-libs"));
            assert!(of("fixture-tools").is_some());
        }
    }
}
