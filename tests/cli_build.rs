//! `rechunk build` (the default action), `inspect` and `diff`, driving the binary on a real
//! rpm-built root filesystem and checking the result with umoci and skopeo.

mod fixture;

use std::fs;
use std::path::Path;
use std::process::Command;

use fixture::{differences, ok, rechunk, scan_tree, Fixture, EPOCH};
use serde_json::Value;

fn inspect(reference: &str) -> Value {
    serde_json::from_str(&ok(&["inspect", "--json", reference])).expect("inspect --json")
}

fn layer_digests(v: &Value) -> Vec<String> {
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn default_action_builds_an_image_umoci_unpacks_to_the_input() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("img");
    let out = format!("oci:{}:v1", layout.display());
    let root = f.root.to_str().unwrap();
    let built = rechunk(&[
        "--rootfs",
        root,
        "--output",
        &out,
        "--label",
        "org.example=1",
    ]);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("wrote {out}")),
        "summary: {stderr}"
    );

    let bundle = work.path().join("bundle");
    let umoci = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        umoci.status.success(),
        "{}",
        String::from_utf8_lossy(&umoci.stderr)
    );
    let input = scan_tree(&f.root);
    let unpacked = scan_tree(&bundle.join("rootfs"));
    let diffs = differences(&input, &unpacked, EPOCH.parse().unwrap());
    assert!(
        diffs.is_empty(),
        "unpacked image differs:\n{}",
        diffs.join("\n")
    );
    let find = |p: &str| {
        input
            .entries
            .iter()
            .find(|e| e.path == Path::new(p))
            .unwrap()
    };
    assert_eq!(find("usr/bin/su-helper").mode, 0o4755);
    assert!(find("usr/bin/ping-helper")
        .xattrs
        .iter()
        .any(|(n, v)| n == "security.capability" && v[..] == fixture::CAP_NET_RAW_EP));
    assert!(find("usr/bin/tool-hard1").hardlink.is_some());

    let v = inspect(&out);
    let labels: Vec<&str> = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"org.example") && labels.contains(&"dev.rechunk.plan"),
        "{labels:?}"
    );
    assert_eq!(v["plan_format"], "Record");
    let all: Vec<String> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["components"].as_array().unwrap().clone())
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(all.contains(&"fixture-tools".to_string()), "{all:?}");
    assert!(all.contains(&"fixture-libs".to_string()), "{all:?}");

    let skopeo = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:v1", layout.display()))
        .output()
        .unwrap();
    assert!(
        skopeo.status.success(),
        "{}",
        String::from_utf8_lossy(&skopeo.stderr)
    );
}

#[test]
fn jobs_do_not_change_the_manifest_and_previous_keeps_unchanged_layers() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let root = f.root.to_str().unwrap();
    let layout = work.path().join("img");
    let v1 = format!("oci:{}:v1", layout.display());
    let archive = format!("oci-archive:{}:v1", work.path().join("v1.tar").display());
    ok(&["build", "--rootfs", root, "--output", &v1, "--jobs", "1"]);
    ok(&[
        "build", "--rootfs", root, "--output", &archive, "--jobs", "2",
    ]);
    let a = inspect(&v1);
    let b = inspect(&archive);
    assert_eq!(a["manifest_digest"], b["manifest_digest"]);

    // Change one package's file in place (same size), then build v2 against v1.
    let lib = f.path("usr/lib/fixture/libfixture.so.1");
    let mut content = fs::read(&lib).unwrap();
    content[0] ^= 0x55;
    fs::write(&lib, &content).unwrap();
    let v2 = format!("oci:{}:v2", layout.display());
    let out = rechunk(&["--rootfs", root, "--output", &v2, "--previous", &v1]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("previous plan from Record"), "{stderr}");
    let c = inspect(&v2);
    let (old, new) = (layer_digests(&a), layer_digests(&c));
    assert_eq!(old.len(), new.len());
    let holds_libs: Vec<bool> = a["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["components"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "fixture-libs")
        })
        .collect();
    let changed: Vec<bool> = old.iter().zip(&new).map(|(x, y)| x != y).collect();
    assert_eq!(
        changed, holds_libs,
        "only the layer holding fixture-libs may change"
    );

    let diff: Value = serde_json::from_str(&ok(&["diff", "--json", &v1, &v2])).unwrap();
    assert_eq!(diff["layers_fetched"], 1);
    assert_eq!(diff["layers_total"], new.len());
}

/// The component versions an image's plan label records (name → version).
fn label_versions(layout: &Path) -> serde_json::Map<String, Value> {
    let read = |digest: &str| -> Value {
        let hex = digest.trim_start_matches("sha256:");
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    let config = read(manifest["config"]["digest"].as_str().unwrap());
    let label = config["config"]["Labels"]["dev.rechunk.plan"]
        .as_str()
        .unwrap();
    let record: Value = serde_json::from_str(label).unwrap();
    record["components"].as_object().unwrap().clone()
}

/// A build without `--previous` finishes the versions that hash file contents from the bytes
/// its writer streams, so each file is read once; they must be exactly what `rechunk scan`
/// computes by reading the files first, or the next build's `--previous` would see every
/// unowned component change. Hardlinked unowned files and tagged directories included.
#[test]
fn a_first_build_records_the_versions_a_scan_reads() {
    let f = Fixture::standard();
    f.file("opt/data/a.txt", b"alpha", 0o644);
    fs::hard_link(f.path("opt/data/a.txt"), f.path("opt/data/b.txt")).unwrap();
    f.file("opt/data/sub/c.bin", &[7; 70_000], 0o600);
    f.file("srv/tagged/d.txt", b"delta", 0o644);
    f.set_xattr("srv/tagged", "user.component", b"tagged");
    let work = tempfile::tempdir().unwrap();
    let root = f.root.to_str().unwrap();
    let layout = work.path().join("img");
    ok(&[
        "build",
        "--rootfs",
        root,
        "--output",
        &format!("oci:{}", layout.display()),
    ]);
    let built = label_versions(&layout);
    let scanned: Value = serde_json::from_str(&ok(&["scan", "--rootfs", root, "--json"])).unwrap();
    let mut content_hashed = 0;
    for c in scanned["components"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        assert_eq!(
            built.get(name),
            Some(&c["version"]),
            "component {name}: the built label and the scan disagree"
        );
        if c["kind"] != "package" {
            content_hashed += 1;
        }
    }
    assert_eq!(built.len(), scanned["components"].as_array().unwrap().len());
    assert!(
        content_hashed >= 3,
        "{content_hashed} content-hashed components"
    );
}

/// What a real rebuild does to a tree even when no package changed: `dnf` touches directories
/// (their mtimes change whenever a name is added or removed in them), and CI rarely sets
/// `SOURCE_DATE_EPOCH`. No layer may change for that.
#[test]
fn touched_directories_do_not_change_any_layer() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let root = f.root.to_str().unwrap();
    let v1 = format!("oci:{}:v1", work.path().join("img").display());
    let v2 = format!("oci:{}:v2", work.path().join("img").display());
    let build = |output: &str, previous: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rechunk"));
        cmd.args(["--rootfs", root, "--output", output]);
        if let Some(p) = previous {
            cmd.args(["--previous", p]);
        }
        let out = cmd.env_remove("SOURCE_DATE_EPOCH").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    build(&v1, None);
    for dir in ["usr", "usr/lib", "usr/bin", "etc"] {
        f.set_mtime(dir, 1_800_000_000);
    }
    build(&v2, Some(&v1));
    assert_eq!(layer_digests(&inspect(&v1)), layer_digests(&inspect(&v2)));
}

#[test]
fn previous_plans_from_rpm_ostree_and_hhd_formats_are_used() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let root = f.root.to_str().unwrap();
    // rpm-ostree: a manifest whose layers carry `ostree.components`.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", "0".repeat(64)), "size": 2},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": format!("sha256:{}", "1".repeat(64)), "size": 10,
             "annotations": {"ostree.components": "fixture-tools,fixture-libs"}}
        ]
    });
    let manifest_path = work.path().join("manifest.json");
    fs::write(&manifest_path, manifest.to_string()).unwrap();
    // hhd-dev/rechunk: a config with its label.
    let info = r#"{"version":2,"uniq":"","revision":null,"packages":{"fixture-tools":"1.0-1"},"layers":[["dedi:meta:fixture-libs"],["fixture-tools"]]}"#;
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "config": {"Labels": {"dev.hhd.rechunk.info": info}},
        "rootfs": {"type": "layers", "diff_ids": []}});
    let config_path = work.path().join("config.json");
    fs::write(&config_path, config.to_string()).unwrap();
    for (previous, format) in [(&manifest_path, "OstreeComponents"), (&config_path, "Hhd")] {
        let out_path = work.path().join(format);
        let out = rechunk(&[
            "--rootfs",
            root,
            "--output",
            &format!("oci:{}", out_path.display()),
            "--previous",
            previous.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("previous plan from {format}")),
            "{stderr}"
        );
    }
}

#[test]
fn config_is_carried_over_and_bad_input_fails_cleanly() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let root = f.root.to_str().unwrap();
    let config = work.path().join("config.json");
    fs::write(
        &config,
        r#"{"architecture":"arm64","os":"linux","config":{"Env":["A=1"],"Cmd":["/sbin/init"],"Labels":{"from.base":"yes"}}}"#,
    )
    .unwrap();
    let out = format!("oci:{}", work.path().join("img").display());
    ok(&[
        "--rootfs",
        root,
        "--output",
        &out,
        "--config",
        config.to_str().unwrap(),
        "--compression",
        "zstd",
    ]);
    let layout = work.path().join("img");
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    let v = inspect(&out);
    assert_eq!(v["architecture"], "arm64");
    assert!(v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "from.base"));
    assert!(v["layers"][0]["media_type"]
        .as_str()
        .unwrap()
        .ends_with("+zstd"));

    // Missing rootfs: an error naming it, exit 1, and nothing created.
    let missing = work.path().join("nope");
    let dest = work.path().join("never");
    let failed = rechunk(&[
        "--rootfs",
        missing.to_str().unwrap(),
        "--output",
        &format!("oci:{}", dest.display()),
    ]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains(missing.to_str().unwrap()));
    assert!(!dest.exists());
    let siblings: Vec<_> = fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        siblings
            .iter()
            .all(|n| !n.to_string_lossy().contains("rechunk-")),
        "{siblings:?}"
    );
    // Bad option values are usage errors.
    assert_eq!(
        rechunk(&["--rootfs", root, "--output", &out, "--compression", "xz"])
            .status
            .code(),
        Some(2)
    );
    let out = rechunk(&["--rootfs", root, "--output", "docker://x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oci:DIR"));
}

#[test]
fn diff_of_the_two_real_fcos_manifests() {
    let v: Value = serde_json::from_str(&ok(&[
        "diff",
        "--json",
        "tests/data/manifest1.json",
        "tests/data/manifest2.json",
    ]))
    .unwrap();
    assert_eq!(v["download_bytes"], 170_472_856);
    assert_eq!(v["layers_total"], 51);
    assert_eq!(v["layers_fetched"], 4);
    let reuse = v["reuse_ratio"].as_f64().unwrap();
    assert!((reuse - (1.0 - 170_472_856.0 / v["image_bytes"].as_f64().unwrap())).abs() < 1e-12);
}
