//! `rechunk compare --history images:...`: a history from a series of built images, read
//! through the OCI reader (here: two manifests annotated the way rpm-ostree annotates layers).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// A manifest whose layers are (digest hex digit, size, `ostree.components`).
fn manifest(dir: &Path, name: &str, layers: &[(char, u64, &str)]) -> String {
    let layers: Vec<Value> = layers
        .iter()
        .map(|(d, size, comps)| {
            json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": format!("sha256:{}", d.to_string().repeat(64)),
                "size": size,
                "annotations": {"ostree.components": comps},
            })
        })
        .collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", "f".repeat(64)),
            "size": 2,
        },
        "layers": layers,
    });
    let path = dir.join(name);
    std::fs::write(&path, m.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn two_images_make_a_one_update_history() {
    let dir = tempfile::tempdir().unwrap();
    // Image 1: [a b] 100 bytes, [c] 50. Image 2: [a b] changed (120 bytes), [c] unchanged.
    let m1 = manifest(dir.path(), "m1.json", &[('1', 100, "a,b"), ('2', 50, "c")]);
    let m2 = manifest(dir.path(), "m2.json", &[('3', 120, "a,b"), ('2', 50, "c")]);
    let output = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["compare", "--json", "--no-sweep", "--client", "every"])
        .args(["--strategies", "single", "--output"])
        .arg(dir.path().join("out"))
        .arg("--history")
        .arg(format!("images:{m1},{m2}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mean = |strategy: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["strategy"] == strategy)
            .map(|r| {
                (
                    r["updates"].as_u64().unwrap(),
                    r["mean_download_bytes"].as_f64().unwrap(),
                )
            })
            .unwrap()
    };
    // Components take an even share of their layer: a and b become 60 bytes each in image 2.
    // single refetches all 170 bytes; per-package refetches a and b only, 120.
    assert_eq!(mean("single"), (1, 170.0));
    assert_eq!(mean("per-package"), (1, 120.0));
}

#[test]
fn an_image_that_names_no_components_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/manifest1.json");
    let output = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["compare", "--no-sweep", "--output"])
        .arg(dir.path())
        .arg("--history")
        .arg(format!("images:{}", data.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("manifest1.json") && stderr.contains("ostree.components"),
        "{stderr}"
    );
}
