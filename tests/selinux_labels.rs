//! `--selinux`: labels a build host puts on a tree never bust layers by default, `keep` writes
//! them as found, and `policy` writes what the tree's own policy says, checked against
//! libselinux's `matchpathcon` on a real policy (Debian's `selinux-policy-default`, installed
//! with `selinux-utils` by scripts/test.sh) and read back from the layers by GNU tar.

mod fixture;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fixture::{ok, rechunk, set_xattr, Fixture};
use serde_json::Value;

const SELINUX: &str = "security.selinux";

/// Every path under `root` (not `root` itself), parents first.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for c in children {
            if std::fs::symlink_metadata(&c).unwrap().is_dir() {
                stack.push(c.clone());
            }
            out.push(c);
        }
    }
    out
}

/// Layer digests of an image, in order.
fn layers(image: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(&ok(&["inspect", "--json", image])).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// A copy of `from` (xattrs included) at `to` with every entry labelled `label`.
fn labelled_copy(from: &Path, to: &Path, label: &str) {
    let status = Command::new("cp")
        .args(["-a", "--"])
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
    let mut value = label.as_bytes().to_vec();
    value.push(0);
    for p in walk(to) {
        set_xattr(&p, SELINUX, &value);
    }
}

/// The experiment: one real-rpm tree labelled by two build containers (other MCS
/// categories each run). By default the layers are identical; under `keep` every layer moves.
#[test]
fn host_labels_change_no_layer_by_default_and_every_layer_under_keep() {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    labelled_copy(&f.root, &a, "system_u:object_r:container_file_t:s0:c1,c2");
    labelled_copy(&f.root, &b, "system_u:object_r:container_file_t:s0:c7,c9");

    let build = |root: &Path, name: &str, mode: Option<&str>| {
        let image = format!("oci:{}", work.path().join(name).display());
        let mut args = vec!["--rootfs", root.to_str().unwrap(), "--output", &image];
        if let Some(mode) = mode {
            args.extend(["--selinux", mode]);
        }
        ok(&args);
        layers(&image)
    };
    let (strip_a, strip_b) = (build(&a, "sa", None), build(&b, "sb", None));
    assert!(strip_a.len() > 5, "{strip_a:?}");
    assert_eq!(strip_a, strip_b, "default (strip): the same layers");
    let (keep_a, keep_b) = (build(&a, "ka", Some("keep")), build(&b, "kb", Some("keep")));
    assert_eq!(keep_a.len(), keep_b.len());
    let same = keep_a.iter().zip(&keep_b).filter(|(x, y)| x == y).count();
    assert_eq!(
        same, 0,
        "keep: every layer holds labels, so every one moves"
    );

    // scan warns under keep; by default the labels are left out, so it is only a note.
    let root = a.to_str().unwrap();
    let warned = ok(&["scan", "--rootfs", root, "--selinux", "keep"]);
    assert!(
        warned.contains("look assigned by the build host"),
        "{warned}"
    );
    assert!(warned.contains("container_file_t:s0:c1,c2"), "{warned}");
    let quiet = ok(&["scan", "--rootfs", root]);
    let warnings = |out: &str| -> usize {
        let line = out.lines().find(|l| l.starts_with("warnings: ")).unwrap();
        line["warnings: ".len()..].parse().unwrap()
    };
    assert_eq!(warnings(&warned), warnings(&quiet) + 1, "{quiet}");
    assert!(
        quiet.contains("left out of the image (--selinux strip)"),
        "{quiet}"
    );
    assert!(
        quiet.contains("note: ") && quiet.contains("build host"),
        "{quiet}"
    );
    let clean = ok(&["scan", "--rootfs", f.root.to_str().unwrap()]);
    assert!(!clean.contains("build host"), "{clean}");
}

/// The host's installed policy, text files only, copied into `root/etc/selinux`.
fn copy_host_policy(root: &Path) {
    let config = std::fs::read("/etc/selinux/config")
        .expect("/etc/selinux/config: install selinux-policy-default (scripts/test.sh does)");
    let text = String::from_utf8_lossy(&config);
    let kind = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("SELINUXTYPE="))
        .expect("SELINUXTYPE")
        .trim()
        .to_string();
    let rel = format!("etc/selinux/{kind}/contexts/files");
    std::fs::create_dir_all(root.join(&rel)).unwrap();
    std::fs::write(root.join("etc/selinux/config"), &config).unwrap();
    let host = Path::new("/etc/selinux").join(&kind).join("contexts/files");
    for name in [
        "file_contexts",
        "file_contexts.homedirs",
        "file_contexts.local",
        "file_contexts.subs",
        "file_contexts.subs_dist",
    ] {
        if let Ok(bytes) = std::fs::read(host.join(name)) {
            std::fs::write(root.join(&rel).join(name), bytes).unwrap();
        }
    }
}

/// Populates `root` with the Fedora paths of `engine/selinux/tests/data/paths.tsv` (what an
/// image cannot hold, /boot and the volatile directories, left out).
fn add_sample_paths(root: &Path) {
    let text = include_bytes!("../engine/selinux/tests/data/paths.tsv");
    for line in text.split(|&b| b == b'\n') {
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let tab = line.iter().position(|&b| b == b'\t').unwrap();
        let (kind, path) = (&line[..tab], &line[tab + 1..]);
        let rel: PathBuf = Path::new(OsStr::from_bytes(path))
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        let top = rel.iter().next().map(|t| t.as_bytes().to_vec());
        let volatile = [&b"boot"[..], b"proc", b"sys", b"dev", b"run", b"tmp"];
        if rel.as_os_str().is_empty()
            || top.is_some_and(|t| volatile.contains(&t.as_slice()))
            || rel.starts_with("var/tmp")
        {
            continue;
        }
        let full = root.join(&rel);
        // A path under something that is not a directory here cannot be made: skip it.
        let blocked = rel
            .ancestors()
            .skip(1)
            .any(|a| std::fs::symlink_metadata(root.join(a)).is_ok_and(|m| !m.is_dir()));
        if blocked || std::fs::symlink_metadata(&full).is_ok() {
            continue;
        }
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        match kind {
            b"dir" => std::fs::create_dir(&full).unwrap(),
            b"file" => std::fs::write(&full, path).unwrap(),
            b"lnk" => std::os::unix::fs::symlink("target", &full).unwrap(),
            other => panic!("unknown type {other:?}"),
        }
    }
}

/// `matchpathcon -N -n -m TYPE -f FILE PATH...` for every path of one type.
fn matchpathcon(file_contexts: &Path, mode: &str, paths: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in paths.chunks(500) {
        let run = Command::new("matchpathcon")
            .args(["-N", "-n", "-m", mode, "-f"])
            .arg(file_contexts)
            .args(chunk.iter().map(|p| OsStr::from_bytes(p)))
            .output()
            .expect("running matchpathcon (Debian package selinux-utils)");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        out.extend(
            String::from_utf8_lossy(&run.stdout)
                .lines()
                .map(String::from),
        );
    }
    assert_eq!(out.len(), paths.len());
    out
}

/// `--selinux policy` writes exactly the label libselinux computes for every path of the
/// image, read back by GNU tar from the layers (umoci 0.4.7 does not restore
/// `security.selinux` when it unpacks, so it cannot show them).
#[test]
fn policy_labels_equal_matchpathcon_for_every_path_of_the_image() {
    let f = Fixture::standard();
    copy_host_policy(&f.root);
    add_sample_paths(&f.root);
    // What the build host left: wrong labels that policy mode must replace.
    set_xattr(
        &f.path("usr/bin/tool"),
        SELINUX,
        b"system_u:object_r:container_file_t:s0:c1,c2\0",
    );
    let work = tempfile::tempdir().unwrap();
    let image = format!("oci:{}", work.path().join("img").display());
    let root = f.root.to_str().unwrap();
    ok(&[
        "--rootfs",
        root,
        "--output",
        &image,
        "--selinux",
        "policy",
        "--compression",
        "none",
    ]);

    // Unpack every layer in order with GNU tar, xattrs included.
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let blobs = work.path().join("img/blobs/sha256");
    for digest in layers(&image) {
        let blob = blobs.join(digest.trim_start_matches("sha256:"));
        let status = Command::new("tar")
            .args(["--xattrs", "--xattrs-include=*", "-xf"])
            .arg(&blob)
            .arg("-C")
            .arg(&unpacked)
            .status()
            .unwrap();
        assert!(status.success(), "tar -xf {}", blob.display());
    }

    // Expected: matchpathcon on the policy the tree carries, per file type.
    let fc = f.path("etc/selinux/default/contexts/files/file_contexts");
    let mut by_mode: BTreeMap<&str, Vec<(PathBuf, Vec<u8>)>> = BTreeMap::new();
    for p in walk(&unpacked) {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = if meta.is_dir() {
            "dir"
        } else if meta.file_type().is_symlink() {
            "lnk"
        } else {
            "file"
        };
        let mut abs = b"/".to_vec();
        abs.extend_from_slice(p.strip_prefix(&unpacked).unwrap().as_os_str().as_bytes());
        by_mode.entry(mode).or_default().push((p, abs));
    }
    let mut checked = 0;
    let mut differences = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    for (mode, entries) in &by_mode {
        let paths: Vec<Vec<u8>> = entries.iter().map(|(_, abs)| abs.clone()).collect();
        for ((p, abs), want) in entries.iter().zip(matchpathcon(&fc, mode, &paths)) {
            let got = rustix::fs::lgetxattr(p, SELINUX, &mut [0u8; 512][..])
                .ok()
                .map(|n| {
                    let mut v = vec![0u8; n];
                    rustix::fs::lgetxattr(p, SELINUX, &mut v).unwrap();
                    String::from_utf8_lossy(v.strip_suffix(b"\0").unwrap_or(&v)).into_owned()
                })
                .unwrap_or_else(|| "<<none>>".into());
            checked += 1;
            distinct.insert(want.clone());
            if got != want {
                differences.push(format!(
                    "{mode} {}: matchpathcon {want}, image {got}",
                    String::from_utf8_lossy(abs)
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(checked >= 1000, "only {checked} paths in the image");
    assert!(
        distinct.len() >= 30,
        "only {} distinct labels",
        distinct.len()
    );

    let scan = ok(&["scan", "--rootfs", root, "--selinux", "policy"]);
    assert!(scan.contains("SELinux labels from the policy in"), "{scan}");
}

#[test]
fn policy_without_a_policy_in_the_tree_is_a_clear_error() {
    let f = Fixture::standard();
    let out = rechunk(&[
        "scan",
        "--rootfs",
        f.root.to_str().unwrap(),
        "--selinux",
        "policy",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("etc/selinux/config"), "{err}");
    assert!(err.contains("no SELinux policy"), "{err}");
}
