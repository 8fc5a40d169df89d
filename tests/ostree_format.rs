//! `--format ostree`: bootc's chunked ostree-container layout, checked with real tools and
//! against what ostree-ext's importer enforces.
//!
//! - umoci unpacks the image; `ostree fsck` passes on the repository it holds, and `ostree
//!   checkout` of the commit the `ostree.commit` label names equals the input tree (content,
//!   types, modes incl. setuid, owners, xattrs); the unpacked image itself, outside
//!   `/sysroot`, equals the input too (what `podman run` shows).
//! - bootc and rpm-ostree are not packaged for Debian, so their import cannot run here; the
//!   invariants ostree-ext's importer (`tar/import.rs`, `container/store.rs`) enforces are
//!   checked on the produced layers instead ([`import_problems`]), and that check is shown to
//!   catch each kind of breakage.
//! - the default format and `--format ostree` of the same tree and plan put the same
//!   components in each layer (after the commit layer).

mod fixture;

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fixture::{differences, rechunk, run, scan_tree, Fixture};
use rechunk_ostree::object::{file_header, xattrs_bytes, Checksum, S_IFLNK, S_IFREG};
use serde_json::Value;

const REPO: &str = "sysroot/ostree/repo/";

/// The standard fixture, made bootable (a kernel where bootc looks for one).
fn bootable_fixture() -> Fixture {
    let f = Fixture::standard();
    f.file("usr/lib/modules/6.1.0/vmlinuz", b"kernel", 0o755);
    f.file("usr/share/empty-file", b"", 0o640);
    f
}

fn build(root: &Path, out: &Path, extra: &[&str]) -> String {
    let reference = format!("oci:{}:v1", out.display());
    let mut args = vec!["--rootfs", root.to_str().unwrap(), "--output", &reference];
    args.extend_from_slice(extra);
    let built = rechunk(&args);
    let stderr = String::from_utf8_lossy(&built.stderr).into_owned();
    assert!(built.status.success(), "{stderr}");
    stderr
}

/// (manifest, config) of the image tagged v1 in `layout`.
fn image(layout: &Path) -> (Value, Value) {
    let blob = |digest: &str| -> Vec<u8> {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest: Value = serde_json::from_slice(&blob(&digest)).unwrap();
    let config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    (manifest, config)
}

fn components(manifest: &Value) -> Vec<Option<String>> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["annotations"]["ostree.components"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn unpacks_to_a_repository_that_fscks_and_checks_out_to_the_input() {
    let f = bootable_fixture();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("img");
    let stderr = build(&f.root, &out, &["--format", "ostree"]);
    let (manifest, config) = image(&out);
    let labels = &config["config"]["Labels"];
    let commit = labels["ostree.commit"].as_str().unwrap().to_owned();
    assert!(stderr.contains(&commit), "{stderr}");
    assert_eq!(labels["containers.bootc"], "1");
    assert_eq!(labels["ostree.bootable"], "true");
    assert_eq!(labels["ostree.linux"], "6.1.0");

    let bundle = work.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", out.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let repo = rootfs.join("sysroot/ostree/repo");
    let fsck = run(Command::new("ostree").arg("fsck").arg("--repo").arg(&repo));
    assert!(fsck.contains("no errors found"), "{fsck}");
    let checkout = work.path().join("checkout");
    run(Command::new("ostree")
        .arg("checkout")
        .arg("--repo")
        .arg(&repo)
        .arg(&commit)
        .arg(&checkout));

    // mtimes: ostree keeps none (a clamp of 0 compares them as 0); hardlinks: ostree has none
    // (identical files are one object).
    let input = scan_tree(&f.root);
    let no_links = |d: &String| !d.starts_with("hardlink groups");
    let diffs: Vec<String> = differences(&input, &scan_tree(&checkout), 0)
        .into_iter()
        .filter(no_links)
        .collect();
    assert!(diffs.is_empty(), "checkout differs:\n{}", diffs.join("\n"));

    // What a container sees: the same tree, plus the repository under /sysroot.
    let mut unpacked = scan_tree(&rootfs);
    unpacked.entries.retain(|e| !e.path.starts_with("sysroot"));
    let diffs: Vec<String> = differences(&input, &unpacked, 0)
        .into_iter()
        .filter(no_links)
        .collect();
    assert!(
        diffs.is_empty(),
        "unpacked image differs:\n{}",
        diffs.join("\n")
    );

    // The layers hold what ostree-ext's importer requires.
    let layers = read_layers(&out, &manifest);
    assert_eq!(
        import_problems(&manifest, &config, &layers),
        Vec::<String>::new()
    );
}

#[test]
fn same_components_per_layer_as_the_default_format() {
    let f = bootable_fixture();
    let work = tempfile::tempdir().unwrap();
    let (plain, tree) = (work.path().join("plain"), work.path().join("ostree"));
    for max in ["4", "64"] {
        let _ = std::fs::remove_dir_all(&plain);
        let _ = std::fs::remove_dir_all(&tree);
        build(&f.root, &plain, &["--max-layers", max]);
        build(&f.root, &tree, &["--max-layers", max, "--format", "ostree"]);
        let (a, b) = (image(&plain).0, image(&tree).0);
        let (a, b) = (components(&a), components(&b));
        assert_eq!(b[0], None, "the commit layer names no components");
        assert_eq!(a, b[1..], "--max-layers {max}");
    }
}

#[test]
fn layers_are_reproducible_and_unchanged_layers_keep_their_digests() {
    let f = bootable_fixture();
    let work = tempfile::tempdir().unwrap();
    let (one, two) = (work.path().join("one"), work.path().join("two"));
    build(&f.root, &one, &["--format", "ostree", "-j", "1"]);
    build(&f.root, &two, &["--format", "ostree", "-j", "4"]);
    assert_eq!(
        image(&one).0,
        image(&two).0,
        "same manifest whatever --jobs is"
    );
    // Change one unowned file: only its layer and the commit layer change.
    f.file("etc/hostname", b"changed\n", 0o644);
    let three = work.path().join("three");
    build(
        &f.root,
        &three,
        &[
            "--format",
            "ostree",
            "--previous",
            &format!("oci:{}:v1", one.display()),
        ],
    );
    let digests = |m: &Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    let (before, after) = (digests(&image(&one).0), digests(&image(&three).0));
    assert_eq!(before.len(), after.len());
    let changed: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    assert_eq!(
        changed.len(),
        2,
        "commit layer and one plan layer: {changed:?}"
    );
    assert_eq!(changed[0], 0);
}

#[test]
fn trees_the_format_cannot_hold_are_refused_with_the_path() {
    let f = Fixture::empty();
    f.file("sysroot/ostree/deploy/x", b"x", 0o644);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("img");
    let built = rechunk(&[
        "--rootfs",
        f.root.to_str().unwrap(),
        "--output",
        &format!("oci:{}", out.display()),
        "--format",
        "ostree",
    ]);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success());
    assert!(stderr.contains("/sysroot/ostree"), "{stderr}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn the_import_check_catches_each_kind_of_breakage() {
    let f = bootable_fixture();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("img");
    build(
        &f.root,
        &out,
        &["--format", "ostree", "--compression", "none"],
    );
    let (manifest, config) = image(&out);
    let layers = read_layers(&out, &manifest);
    assert!(import_problems(&manifest, &config, &layers).is_empty());
    let chunk = layers
        .iter()
        .position(|l| {
            l.iter()
                .any(|m| m.path.to_string_lossy().ends_with(".file"))
        })
        .unwrap();
    let breakages: Vec<(&str, Box<Breakage>)> = vec![
        (
            "xattrs",
            Box::new(move |l, _| {
                let i = find(&l[chunk], ".file-xattrs-link");
                l[chunk].remove(i);
            }),
        ),
        (
            "checksum",
            Box::new(move |l, _| {
                let regular = |m: &Member| {
                    m.kind == tar::EntryType::Regular && m.path.to_string_lossy().ends_with(".file")
                };
                let i = l[chunk].iter().position(regular).unwrap();
                l[chunk][i].mode ^= 0o1;
            }),
        ),
        (
            "commit",
            Box::new(|l, _| {
                let i = find(&l[0], ".commit");
                let c = l[0].remove(i);
                l[0].push(c);
            }),
        ),
        (
            "metadata object",
            Box::new(move |l, _| {
                let i = find(&l[0], ".dirtree");
                let d = l[0][i].clone();
                l[chunk].push(d);
            }),
        ),
        (
            "hardlink",
            Box::new(move |l, _| {
                let i = find(&l[chunk], ".file");
                l[chunk].remove(i);
            }),
        ),
        (
            "final-diffid",
            Box::new(|_, c| {
                c["config"]["Labels"]["ostree.final-diffid"] = "sha256:00".into();
            }),
        ),
        (
            "mtime",
            Box::new(move |l, _| {
                l[chunk][0].mtime = 1;
            }),
        ),
    ];
    for (what, breakage) in breakages {
        let mut l = layers.clone();
        let mut c = config.clone();
        breakage(&mut l, &mut c);
        let problems = import_problems(&manifest, &c, &l);
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "breaking {what} went unnoticed: {problems:?}"
        );
    }
}

/// The first member whose path ends with `suffix`.
fn find(l: &[Member], suffix: &str) -> usize {
    l.iter()
        .position(|m| m.path.to_string_lossy().ends_with(suffix))
        .unwrap()
}

/// A change to an image's layers or config that its import must notice.
type Breakage = dyn Fn(&mut Vec<Vec<Member>>, &mut Value);

/// One tar member of a layer.
#[derive(Clone, Debug)]
struct Member {
    path: PathBuf,
    kind: tar::EntryType,
    link: Option<PathBuf>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    xattrs: Vec<(OsString, Vec<u8>)>,
    content: Vec<u8>,
}

/// Every layer of the image, decompressed (gzip or none) and parsed.
fn read_layers(layout: &Path, manifest: &Value) -> Vec<Vec<Member>> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let hex = l["digest"].as_str().unwrap().trim_start_matches("sha256:");
            let bytes = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
            let tar = if bytes.starts_with(&[0x1f, 0x8b]) {
                let out = Command::new("gzip")
                    .arg("-dc")
                    .stdin(std::fs::File::open(layout.join("blobs/sha256").join(hex)).unwrap())
                    .output()
                    .unwrap();
                out.stdout
            } else {
                bytes
            };
            let mut archive = tar::Archive::new(tar.as_slice());
            archive
                .entries()
                .unwrap()
                .map(|e| {
                    let mut e = e.unwrap();
                    let mut xattrs = Vec::new();
                    if let Some(pax) = e.pax_extensions().unwrap() {
                        for ext in pax {
                            let ext = ext.unwrap();
                            if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                                xattrs.push((
                                    OsString::from(std::ffi::OsStr::from_bytes(name)),
                                    ext.value_bytes().to_vec(),
                                ));
                            }
                        }
                    }
                    let h = e.header().clone();
                    let mut content = Vec::new();
                    e.read_to_end(&mut content).unwrap();
                    Member {
                        path: e.path().unwrap().into_owned(),
                        kind: h.entry_type(),
                        link: e.link_name().unwrap().map(|l| l.into_owned()),
                        mode: h.mode().unwrap(),
                        uid: h.uid().unwrap() as u32,
                        gid: h.gid().unwrap() as u32,
                        mtime: h.mtime().unwrap(),
                        xattrs,
                        content,
                    }
                })
                .collect()
        })
        .collect()
}

/// (checksum, extension) of an object path `…/objects/ab/cdef….ext`, as the importer parses it.
fn object_name(rel: &Path) -> Option<(String, String)> {
    let rel = rel.strip_prefix("objects").ok()?;
    let dir = rel.parent()?.to_str()?;
    let name = rel.file_name()?.to_str()?;
    let (rest, ext) = name.split_once('.')?;
    (dir.len() == 2 && rest.len() == 62).then(|| (format!("{dir}{rest}"), ext.to_owned()))
}

/// What ostree-ext's importer would refuse (tar/import.rs, container/store.rs), and what
/// podman's unpacking needs (hardlink targets earlier in the same layer), with reasons.
fn import_problems(manifest: &Value, config: &Value, layers: &[Vec<Member>]) -> Vec<String> {
    let mut problems = Vec::new();
    let labels = &config["config"]["Labels"];
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    if labels["ostree.final-diffid"].as_str() != diff_ids.last().copied() {
        problems.push("ostree.final-diffid is not the last layer's diff_id".to_owned());
    }
    if diff_ids.len() != layers.len() {
        problems.push("diff_ids and layers differ in number".into());
    }
    let annotations = components(manifest);
    if annotations[0].is_some() || annotations[1..].iter().any(Option::is_none) {
        problems.push("ostree.components: none on the commit layer, one on every other".into());
    }
    for (l, members) in layers.iter().enumerate() {
        let mut written: HashSet<PathBuf> = HashSet::new();
        let mut pending_xattrs: Option<(String, Vec<u8>)> = None;
        let mut first_object = true;
        let mut files: HashSet<String> = HashSet::new();
        for (k, m) in members.iter().enumerate() {
            if m.mtime != 0 {
                problems.push(format!(
                    "layer {l}: {} has mtime {}",
                    m.path.display(),
                    m.mtime
                ));
            }
            if m.kind == tar::EntryType::Link {
                let target = m.link.clone().unwrap_or_default();
                if !written.contains(&target) {
                    problems.push(format!(
                        "layer {l}: hardlink {} to {} not written before it",
                        m.path.display(),
                        target.display()
                    ));
                }
            }
            written.insert(m.path.clone());
            let Ok(rel) = m.path.strip_prefix(REPO) else {
                continue;
            };
            if m.kind == tar::EntryType::Directory
                || rel == Path::new("config")
                || rel.starts_with("refs")
            {
                continue;
            }
            let Some((sum, ext)) = object_name(rel) else {
                problems.push(format!(
                    "layer {l}: {} is not an object path",
                    m.path.display()
                ));
                continue;
            };
            if l == 0 {
                let want_commit = std::mem::replace(&mut first_object, false);
                if want_commit != (ext == "commit") {
                    problems.push(format!(
                        "layer 0: the commit object must come first, then no other ({})",
                        m.path.display()
                    ));
                }
                if !["commit", "dirtree", "dirmeta", "commitmeta"].contains(&ext.as_str()) {
                    problems.push(format!(
                        "layer 0: unexpected metadata object {}",
                        m.path.display()
                    ));
                }
                if ext != "commitmeta" && Checksum::of(&m.content).to_hex() != sum {
                    problems.push(format!(
                        "layer 0: metadata object {} has the wrong checksum",
                        m.path.display()
                    ));
                }
                if ext == "commit" && labels["ostree.commit"].as_str() != Some(sum.as_str()) {
                    problems.push("ostree.commit names another commit".into());
                }
                continue;
            }
            match ext.as_str() {
                "file-xattrs-link" => {
                    if pending_xattrs.is_some() {
                        problems.push(format!(
                            "layer {l}: dangling xattrs before {}",
                            m.path.display()
                        ));
                    }
                    pending_xattrs = Some((sum, m.content.clone()));
                }
                "file" => {
                    let Some((xsum, xbytes)) = pending_xattrs.take() else {
                        problems.push(format!(
                            "layer {l}: {} without xattrs before it",
                            m.path.display()
                        ));
                        continue;
                    };
                    if xsum != sum {
                        problems.push(format!(
                            "layer {l}: xattrs of another object before {}",
                            m.path.display()
                        ));
                    }
                    if !files.insert(sum.clone()) {
                        problems.push(format!("layer {l}: duplicate object {sum}"));
                    }
                    let named: Vec<(&std::ffi::OsStr, &[u8])> = m
                        .xattrs
                        .iter()
                        .map(|(n, v)| (n.as_os_str(), v.as_slice()))
                        .collect();
                    if xattrs_bytes(&named) != xbytes {
                        problems.push(format!(
                            "layer {l}: xattrs of {sum} differ from its PAX xattrs"
                        ));
                    }
                    let (mode, target) = match m.kind {
                        tar::EntryType::Regular => (S_IFREG | m.mode, String::new()),
                        tar::EntryType::Symlink => (
                            S_IFLNK | 0o777,
                            m.link
                                .clone()
                                .unwrap_or_default()
                                .to_string_lossy()
                                .into_owned(),
                        ),
                        other => {
                            problems.push(format!("layer {l}: object {sum} is a {other:?}"));
                            continue;
                        }
                    };
                    let mut bytes = file_header(m.uid, m.gid, mode, &target, &named);
                    bytes.extend_from_slice(&m.content);
                    if Checksum::of(&bytes).to_hex() != sum {
                        problems.push(format!(
                            "layer {l}: object {sum} has the wrong checksum (member {k})"
                        ));
                    }
                }
                other => problems.push(format!(
                    "layer {l}: metadata object {} ({other}) outside the commit layer",
                    m.path.display()
                )),
            }
        }
        if l == 0 && first_object {
            problems.push("layer 0: no commit object".into());
        }
    }
    problems
}
