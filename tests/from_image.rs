//! `rechunk --from IMAGE`: re-layering an existing image without root, podman or a mount.
//!
//! Two independent producers make an image of the same real-rpm tree: our own writer, and
//! umoci (`init`/`new`/`unpack`/`repack`), the latter with a second layer that deletes and
//! replaces files and directories (whiteouts). `rechunk --from` each, unpack the result with
//! umoci and compare with the expected tree entry by entry. `--from` and `--rootfs` of the same
//! content give the same image; `docker-archive` (skopeo), `oci-archive` and zstd forms of the
//! image read the same; it all works as an unprivileged user; hostile layers are refused.

mod fixture;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fixture::{differences, ok, rechunk, run, scan_tree, Fixture, EPOCH};
use serde_json::Value;

/// An mtime before [`EPOCH`], so it is written as it is (not clamped).
const OLD: i64 = 1_600_000_000;

fn umoci(args: &[&str], extra: &[&Path]) {
    run(Command::new("umoci").args(args).args(extra));
}

/// (manifest digest, layer digests) as `rechunk inspect --json` reads them.
fn digests(reference: &str) -> (String, Vec<String>) {
    let v: Value = serde_json::from_str(&ok(&["inspect", "--json", reference])).unwrap();
    let layers = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (
        v["manifest_digest"].as_str().unwrap_or_default().to_owned(),
        layers,
    )
}

/// Unpacks `image` (an OCI layout reference `DIR:TAG`) with umoci; returns the rootfs.
fn unpack(image: &str, bundle: &Path) -> PathBuf {
    umoci(&["unpack", "--image", image], &[bundle]);
    bundle.join("rootfs")
}

/// Asserts that umoci unpacks `image` to exactly `expected` (as scanned).
fn assert_unpacks_to(image: &str, expected: &Path, bundle: &Path) {
    let rootfs = unpack(image, bundle);
    let diffs = differences(
        &scan_tree(expected),
        &scan_tree(&rootfs),
        EPOCH.parse().unwrap(),
    );
    assert!(
        diffs.is_empty(),
        "{image} unpacks differently:\n{}",
        diffs.join("\n")
    );
}

/// The trees and images every test starts from.
struct Images {
    _fixture: Fixture,
    work: tempfile::TempDir,
    /// The expected tree: the fixture after the second umoci layer's changes.
    expected: PathBuf,
    /// umoci's layout, tag `v2` = the fixture + a layer with whiteouts.
    umoci: PathBuf,
}

impl Images {
    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn umoci_ref(&self) -> String {
        format!("oci:{}:v2", self.umoci.display())
    }
}

/// The fixture as umoci's first layer; then, unpacked again, changed and repacked as a second
/// layer: a package file deleted, a directory deleted, a file replaced by a directory and a
/// directory by a file, a package file rewritten, a new hardlink to a setuid file, a mode
/// changed, mtimes set in the past.
fn images() -> Images {
    let f = Fixture::standard();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let layout = w.join("umoci");
    let layout_ref = |tag: &str| format!("{}:{tag}", layout.display());
    umoci(&["init", "--layout"], &[&layout]);
    umoci(&["new", "--image", &layout_ref("base")], &[]);
    let b1 = w.join("b1");
    umoci(&["unpack", "--image", &layout_ref("base")], &[&b1]);
    run(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", f.root.display()))
        .arg(b1.join("rootfs")));
    umoci(&["repack", "--image", &layout_ref("v1")], &[&b1]);
    let b2 = w.join("b2");
    umoci(&["unpack", "--image", &layout_ref("v1")], &[&b2]);
    let r = b2.join("rootfs");
    fs::remove_file(r.join("usr/lib/fixture/libfixture.so.1")).unwrap();
    fs::remove_dir_all(r.join("srv/custom/sub")).unwrap();
    fs::remove_file(r.join("etc/hostname")).unwrap();
    fs::create_dir(r.join("etc/hostname")).unwrap();
    fs::write(r.join("etc/hostname/inner"), b"now a directory\n").unwrap();
    fs::remove_dir_all(r.join("var/lib/app")).unwrap();
    fs::write(r.join("var/lib/app"), b"now a file\n").unwrap();
    fs::write(r.join("usr/bin/tool"), b"#!/bin/sh\necho rewritten\n").unwrap();
    fs::hard_link(r.join("usr/bin/su-helper"), r.join("usr/bin/su-helper-2")).unwrap();
    fs::set_permissions(r.join("usr/bin/tool"), fs::Permissions::from_mode(0o2755)).unwrap();
    for p in [
        "usr/bin/tool",
        "etc/hostname/inner",
        "usr/bin/tool-link",
        "opt/big.bin",
    ] {
        set_mtime(&r.join(p), OLD);
    }
    umoci(&["repack", "--image", &layout_ref("v2")], &[&b2]);
    umoci(
        &[
            "config",
            "--image",
            &layout_ref("v2"),
            "--config.env=REPO=x",
            "--config.cmd=/sbin/init",
            "--config.label=org.example.role=test",
            "--architecture=arm64",
        ],
        &[],
    );
    // The second layer really deletes and replaces things.
    let listing = layer_listing(&layout, "v2", 1);
    for want in [
        "usr/lib/fixture/.wh.libfixture.so.1",
        "srv/custom/.wh.sub",
        "etc/hostname/inner",
        "var/lib/app",
    ] {
        assert!(listing.iter().any(|l| l == want), "{want} in {listing:?}");
    }
    Images {
        _fixture: f,
        work,
        expected: r,
        umoci: layout,
    }
}

fn set_mtime(path: &Path, sec: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A blob of a layout, as JSON.
fn blob_json(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// The manifest tagged `tag` (the last one, as umoci re-tags).
fn manifest(layout: &Path, tag: &str) -> Value {
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    blob_json(layout, m["digest"].as_str().unwrap())
}

/// The config of the image tagged `tag`.
fn config(layout: &Path, tag: &str) -> Value {
    let m = manifest(layout, tag);
    blob_json(layout, m["config"]["digest"].as_str().unwrap())
}

/// Member names of layer `n` of `tag` in a layout (GNU tar reads it).
fn layer_listing(layout: &Path, tag: &str, n: usize) -> Vec<String> {
    let manifest = manifest(layout, tag);
    let digest = manifest["layers"][n]["digest"].as_str().unwrap();
    let blob = layout.join("blobs/sha256").join(&digest[7..]);
    run(Command::new("tar").arg("-tzf").arg(blob))
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_owned())
        .collect()
}

#[test]
fn both_producers_images_rechunked_unpack_to_the_expected_tree() {
    let im = images();
    // umoci's image, with the whiteout layer.
    let from_umoci = im.path("from-umoci");
    let out = rechunk(&[
        "--from",
        &im.umoci_ref(),
        "--output",
        &format!("oci:{}:r", from_umoci.display()),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The last layer is staged as it is indexed; only the first is read again.
    assert!(
        stderr.contains("compressed layers read twice 1, read once 1"),
        "the summary says what was staged: {stderr}"
    );
    assert_unpacks_to(
        &format!("{}:r", from_umoci.display()),
        &im.expected,
        &im.path("u1"),
    );
    // Our writer's image of the same tree, rechunked again.
    let ours = format!("oci:{}:v1", im.path("ours").display());
    ok(&["--rootfs", im.expected.to_str().unwrap(), "--output", &ours]);
    let again = format!("oci:{}:v1", im.path("ours-again").display());
    ok(&["--from", &ours, "--output", &again]);
    assert_unpacks_to(
        &format!("{}:v1", im.path("ours-again").display()),
        &im.expected,
        &im.path("u2"),
    );
    // Our own output read back is the same image: same tree, components, plan and config.
    assert_eq!(digests(&again), digests(&ours));

    // The expected tree exercises what it claims to.
    let t = scan_tree(&im.expected);
    let get = |p: &str| t.entries.iter().find(|e| e.path == Path::new(p)).unwrap();
    assert_eq!(get("usr/bin/su-helper").mode, 0o4755);
    assert_eq!(get("usr/bin/tool").mode, 0o2755);
    assert_eq!(
        get("usr/bin/su-helper").hardlink,
        get("usr/bin/su-helper-2").hardlink
    );
    assert!(get("usr/bin/ping-helper")
        .xattrs
        .iter()
        .any(|(n, _)| n == "security.capability"));
    assert!(get("srv/custom")
        .xattrs
        .iter()
        .any(|(n, _)| n == "user.component"));
    assert!(get("usr/share/tool/empty").is_dir());
    assert_eq!(get("usr/bin/tool").mtime, OLD);
    assert!(get("etc/hostname").is_dir());
}

#[test]
fn from_and_rootfs_of_the_same_content_give_the_same_image() {
    let im = images();
    let rootfs = unpack(&format!("{}:v2", im.umoci.display()), &im.path("unpacked"));
    let out = im.path("out");
    let from = format!("oci:{}:from", out.display());
    let dir = format!("oci:{}:dir", out.display());
    ok(&["--from", &im.umoci_ref(), "--output", &from]);
    // The same config as --from carries over, so the whole image can be compared.
    ok(&[
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--config",
        &im.umoci_ref(),
        "--output",
        &dir,
    ]);
    let (manifest, layers) = digests(&from);
    assert!(layers.len() > 3, "{layers:?}");
    assert_eq!(digests(&dir), (manifest, layers));
    let plan = |input: &[&str]| {
        let mut args = vec!["plan", "--json"];
        args.extend_from_slice(input);
        ok(&args)
    };
    assert_eq!(
        plan(&["--from", &im.umoci_ref()]),
        plan(&["--rootfs", rootfs.to_str().unwrap()])
    );
    // The image's config is carried over.
    let c = config(&out, "from");
    assert_eq!(c["architecture"], "arm64");
    assert_eq!(c["config"]["Env"], serde_json::json!(["REPO=x"]));
    assert_eq!(c["config"]["Cmd"], serde_json::json!(["/sbin/init"]));
    assert_eq!(c["config"]["Labels"]["org.example.role"], "test");
    assert!(c["config"]["Labels"]["dev.rechunk.plan"].is_string());
}

#[test]
fn docker_archive_oci_archive_and_zstd_forms_read_the_same() {
    let im = images();
    let skopeo = |from: &str, to: &str, extra: &[&str]| {
        run(Command::new("skopeo")
            .arg("copy")
            .args(extra)
            .arg(from)
            .arg(to));
    };
    let docker = format!("docker-archive:{}", im.path("img.docker.tar").display());
    let archive = format!("oci-archive:{}:v2", im.path("img.oci.tar").display());
    let zstd = format!("oci:{}:v2", im.path("zstd").display());
    skopeo(&im.umoci_ref(), &docker, &[]);
    skopeo(&im.umoci_ref(), &archive, &[]);
    skopeo(&im.umoci_ref(), &zstd, &["--dest-compress-format", "zstd"]);
    let out = im.path("out");
    let build = |input: &str, tag: &str| {
        let output = format!("oci:{}:{tag}", out.display());
        let stderr = ok_stderr(&["--from", input, "--output", &output]);
        (digests(&output), stderr)
    };
    let ((manifest, layers), _) = build(&im.umoci_ref(), "oci");
    let ((_, docker_layers), docker_log) = build(&docker, "docker");
    assert_eq!(docker_layers, layers, "docker-archive");
    // skopeo writes docker-archive layers uncompressed: their files are read in place.
    assert!(docker_log.contains("0 B copied out"), "{docker_log}");
    assert_eq!(
        build(&archive, "archive").0,
        (manifest.clone(), layers.clone())
    );
    let ((_, zstd_layers), _) = build(&zstd, "zstd");
    assert_eq!(zstd_layers, layers, "zstd layers");
    // Our own uncompressed and zstd output reads the same as its gzip form.
    let ours = |compression: &str| {
        let r = format!("oci:{}:{compression}", im.path("ours").display());
        ok(&[
            "--rootfs",
            im.expected.to_str().unwrap(),
            "--compression",
            compression,
            "--output",
            &r,
        ]);
        let again = format!("oci:{}:{compression}", im.path("ours-again").display());
        ok(&["--from", &r, "--compression", "gzip", "--output", &again]);
        digests(&again).1
    };
    let gzip = ours("gzip");
    assert_eq!(ours("none"), gzip);
    assert_eq!(ours("zstd"), gzip);
}

fn ok_stderr(args: &[&str]) -> String {
    let out = rechunk(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "rechunk {args:?} failed: {stderr}");
    stderr
}

/// No root: an unprivileged user reads the image and writes the same result.
#[test]
fn an_unprivileged_user_rechunks_an_image() {
    let im = images();
    let shared = im.path("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(im.work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let archive = shared.join("img.tar");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(im.umoci_ref())
        .arg(format!("oci-archive:{}:v2", archive.display())));
    fs::set_permissions(&archive, fs::Permissions::from_mode(0o644)).unwrap();
    let as_root = format!("oci:{}:root", im.path("root-out").display());
    ok(&[
        "--from",
        &format!("oci-archive:{}", archive.display()),
        "--output",
        &as_root,
    ]);
    let out_dir = shared.join("out");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_rechunk"))
        .arg("--from")
        .arg(format!("oci-archive:{}", archive.display()))
        .arg("--output")
        .arg(format!("oci:{}:user", out_dir.display()))
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .expect("setpriv runs (util-linux)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        digests(&format!("oci:{}:user", out_dir.display())),
        digests(&as_root)
    );
    // The staging directory is gone.
    let left: Vec<_> = fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

/// Writes an OCI layout whose one layer is `tar` (uncompressed); returns its reference.
fn layout_with_layer(dir: &Path, tar: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = hex::encode(Sha256::digest(bytes));
        fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_size) = put(tar);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer]}
    });
    let (config, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}]
    });
    let (manifest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest,
                       "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": "t"}}]
    });
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    format!("oci:{}:t", dir.display())
}

/// A tar member written by hand, so that any name can be given: (name, type flag, link).
type RawMember<'a> = (&'a str, u8, &'a str);

/// A layer tar of empty members.
fn raw_tar(entries: &[RawMember]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_mode(0o644);
        h.set_size(0);
        h.set_mtime(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// Hostile layers are refused with the layer and the path named, exit 1, and nothing is
/// written: no output, no staging directory, nothing outside.
#[test]
fn hostile_layers_are_refused_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    let cases: [(&[RawMember], &str); 5] = [
        (&[("/etc/evil", b'0', "")], "absolute path"),
        (&[("usr/../../evil", b'0', "")], "`..`"),
        (
            &[("etc/", b'5', ""), ("etc/hard", b'1', "../../etc/shadow")],
            "`..`",
        ),
        (&[("etc/", b'5', ""), ("etc/.wh...", b'0', "")], "whiteout"),
        (
            &[("lib", b'2', "/etc"), ("lib/passwd", b'0', "")],
            "symlink",
        ),
    ];
    for (k, (entries, want)) in cases.iter().enumerate() {
        let dir = work.path().join(format!("case{k}"));
        let input = layout_with_layer(&dir.join("img"), &raw_tar(entries));
        let out_dir = dir.join("out");
        fs::create_dir(&out_dir).unwrap();
        let out = rechunk(&[
            "--from",
            &input,
            "--output",
            &format!("oci:{}", out_dir.join("img").display()),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(want) && stderr.contains("layer 1 of 1"),
            "{want}: {stderr}"
        );
        assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 0, "{stderr}");
    }
    assert!(!Path::new("/etc/evil").exists());
    // A member claiming a huge size: the layer ends long before; nothing is allocated or
    // staged for it.
    let dir = work.path().join("huge");
    let mut h = tar::Header::new_gnu();
    h.set_path("big").unwrap();
    h.set_size(1 << 50);
    h.set_mode(0o644);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(&[0; 4096]);
    let input = layout_with_layer(&dir.join("img"), &tar);
    let out = rechunk(&["scan", "--from", &input, "--tmpdir", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "only the image is left"
    );
    // A truncated layer (its digest no longer matches either).
    let dir = work.path().join("truncated");
    let mut tar = raw_tar(&[("f", b'0', "")]);
    tar.truncate(300);
    let input = layout_with_layer(&dir.join("img"), &tar);
    let out = rechunk(&["scan", "--from", &input]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
}
