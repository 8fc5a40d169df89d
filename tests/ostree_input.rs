//! ostree commits as inputs (feature `ostree`): `--from ostree:REPO:REF` scans and builds a
//! commit made by real `ostree commit` of a real-rpm fixture tree exactly as `--rootfs` does
//! the tree itself (no checkout on disk); `compare --history ostree:` replays the ref's commit
//! log; `--previous ostree:` takes its change history. Needs root, rpm, ostree and umoci.

mod fixture;

use std::path::Path;
use std::process::Command;

use fixture::{differences, ok, rechunk, run, scan_tree, Fixture};
use serde_json::Value;

/// Commits `root` to branch `os` of `repo` (created in `mode` if need be).
fn commit(repo: &Path, root: &Path, version: &str) -> String {
    if !repo.exists() {
        run(Command::new("ostree")
            .arg("init")
            .arg("--repo")
            .arg(repo)
            .arg("--mode=bare"));
    }
    run(Command::new("ostree")
        .arg("commit")
        .arg("--repo")
        .arg(repo)
        .arg("--branch=os")
        .arg("--subject=fixture")
        .arg(format!("--add-metadata-string=version={version}"))
        .arg(format!("--tree=dir={}", root.display())))
}

/// (name, kind, size) per component, and the packages' NEVRAs.
fn summary(scan: &Value) -> (Vec<(String, String, u64)>, Vec<String>) {
    let components = scan["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
                c["size"].as_u64().unwrap(),
            )
        })
        .collect();
    let packages = scan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}-{}-{}", p["name"], p["version"], p["release"]))
        .collect();
    (components, packages)
}

#[test]
fn from_ostree_scans_and_builds_as_the_committed_tree() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let checksum = commit(&repo, &f.root, "1");
    let from = format!("ostree:{}:os", repo.display());

    let by_commit: Value = serde_json::from_str(&ok(&["scan", "--from", &from, "--json"])).unwrap();
    let by_dir: Value = serde_json::from_str(&ok(&[
        "scan",
        "--rootfs",
        f.root.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    // ostree has no hardlinks: the second path of /usr/bin/tool-hard{1,2} ("hard\n") counts
    // its 5 bytes again in the commit's tree.
    let (mut components, packages) = summary(&by_dir);
    for c in components.iter_mut().filter(|c| c.0 == "fixture-tools") {
        c.2 += 5;
    }
    assert_eq!(summary(&by_commit), (components, packages));
    assert!(by_commit["rpmdb"]
        .as_str()
        .unwrap()
        .contains("usr/lib/sysimage/rpm"));

    let out = work.path().join("img");
    let built = rechunk(&[
        "--from",
        &from,
        "--output",
        &format!("oci:{}:v1", out.display()),
    ]);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains(&checksum), "{stderr}");
    let bundle = work.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", out.display()))
        .arg(&bundle));
    // ostree keeps no mtimes (a clamp of 0 compares them as 0) and no hardlinks (identical
    // files are one object; the commit lists each path on its own).
    let diffs: Vec<String> =
        differences(&scan_tree(&f.root), &scan_tree(&bundle.join("rootfs")), 0)
            .into_iter()
            .filter(|d| !d.starts_with("hardlink groups"))
            .collect();
    assert!(diffs.is_empty(), "differs:\n{}", diffs.join("\n"));
}

#[test]
fn history_and_previous_come_from_the_commit_log() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    commit(&repo, &f.root, "40.1");
    let mut extra = rpm::PackageBuilder::new("fixture-extra", "1.0", "MIT", "noarch", "extra");
    extra.release("1");
    extra
        .with_file_contents(
            vec![3u8; 5000],
            rpm::FileOptions::new("/usr/share/extra/data").permissions(0o644),
        )
        .unwrap();
    let extra = f.write_rpm(&mut extra);
    f.install(&[&extra]);
    commit(&repo, &f.root, "40.2");
    let from = format!("ostree:{}:os", repo.display());

    let csv = work.path().join("history.csv");
    let reports = work.path().join("reports");
    ok(&[
        "compare",
        "--history",
        &from,
        "--strategies",
        "cluster",
        "--no-sweep",
        "--client",
        "every",
        "--output",
        reports.to_str().unwrap(),
        "--export-history",
        csv.to_str().unwrap(),
    ]);
    let exported = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = exported.lines().collect();
    let in_version = |v: &str, pkg: &str| rows.iter().any(|r| r.contains(v) && r.contains(pkg));
    assert!(in_version("40.1", "fixture-tools"), "{exported}");
    assert!(!in_version("40.1", "fixture-extra"), "{exported}");
    assert!(in_version("40.2", "fixture-extra"), "{exported}");
    // Sizes come from each commit's rpm database.
    assert!(
        rows.iter()
            .any(|r| r.contains("fixture-extra") && r.contains("5000")),
        "{exported}"
    );
    let updates = std::fs::read_to_string(reports.join("updates.csv")).unwrap();
    assert!(updates.lines().count() > 1, "{updates}");

    let out = work.path().join("img");
    let built = rechunk(&[
        "--from",
        &from,
        "--output",
        &format!("oci:{}:v3", out.display()),
        "--previous",
        &format!("ostree:{}:os^", repo.display()),
    ]);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains("previous plan from OstreeLog"), "{stderr}");
}

/// `ostree ls -R -C -X`: every path with its mode, owner, size, xattrs and object checksums.
fn listing(repo: &Path, rev: &str) -> String {
    run(Command::new("ostree")
        .arg("ls")
        .arg("--repo")
        .arg(repo)
        .args(["-R", "-C", "-X", rev]))
}

#[test]
fn a_commit_rechunked_into_an_ostree_image_round_trips() {
    let f = Fixture::pristine();
    fixture::set_xattr(&f.path("usr/bin/tool"), "user.note", b"kept");
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let original = commit(&repo, &f.root, "1");
    let out = work.path().join("img");
    ok(&[
        "--from",
        &format!("ostree:{}:os", repo.display()),
        "--output",
        &format!("oci:{}:v1", out.display()),
        "--format",
        "ostree",
        "--max-layers",
        "3",
    ]);
    let bundle = work.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", out.display()))
        .arg(&bundle));
    let unpacked = bundle.join("rootfs/sysroot/ostree/repo");
    run(Command::new("ostree")
        .arg("fsck")
        .arg("--repo")
        .arg(&unpacked));
    let inspect: Value = serde_json::from_str(&run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:v1", out.display()))))
    .unwrap();
    let rechunked = inspect["Labels"]["ostree.commit"].as_str().unwrap();
    assert_ne!(rechunked, original, "a new commit (date, subject)");
    // The same tree: every path, mode, owner, xattr, and every object and dirtree checksum.
    let before = listing(&repo, &original);
    assert!(before.contains("user.note"), "{before}");
    assert_eq!(listing(&unpacked, rechunked), before);
}

#[test]
fn previous_from_an_imported_image_keeps_its_plan() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let v1 = work.path().join("v1");
    let root = f.root.to_str().unwrap();
    ok(&[
        "--rootfs",
        root,
        "--output",
        &format!("oci:{}:v1", v1.display()),
    ]);
    // What an ostree-container import (bootc, rpm-ostree) records in its merge commit: the
    // image's manifest and config.
    let index: Value =
        serde_json::from_slice(&std::fs::read(v1.join("index.json")).unwrap()).unwrap();
    let blob = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        String::from_utf8(std::fs::read(v1.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = blob(digest);
    let m: Value = serde_json::from_str(&manifest).unwrap();
    let config = blob(m["config"]["digest"].as_str().unwrap());
    let repo = work.path().join("repo");
    run(Command::new("ostree")
        .arg("init")
        .arg("--repo")
        .arg(&repo)
        .arg("--mode=bare"));
    run(Command::new("ostree")
        .arg("commit")
        .arg("--repo")
        .arg(&repo)
        .arg("--branch=ostree/container/image/v1")
        .arg(format!("--add-metadata-string=ostree.manifest={manifest}"))
        .arg(format!(
            "--add-metadata-string=ostree.container.image-config={config}"
        ))
        .arg(format!(
            "--add-metadata-string=ostree.manifest-digest={digest}"
        ))
        .arg(format!("--tree=dir={}", f.root.display())));
    f.file("etc/hostname", b"changed\n", 0o644);
    let v2 = work.path().join("v2");
    let built = rechunk(&[
        "--rootfs",
        root,
        "--output",
        &format!("oci:{}:v2", v2.display()),
        "--previous",
        &format!("ostree:{}:ostree/container/image/v1", repo.display()),
    ]);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains("previous plan from Record"), "{stderr}");
    let layers = |dir: &Path| -> Vec<String> {
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let hex = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_owned();
        let m: Value =
            serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap())
                .unwrap();
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    let (before, after) = (layers(&v1), layers(&v2));
    let kept = after.iter().filter(|d| before.contains(d)).count();
    assert_eq!(
        kept,
        after.len() - 1,
        "only /etc's layer changes: {before:?} {after:?}"
    );
}
