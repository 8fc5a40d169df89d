//! Package component versions move with the bytes the image writer puts in their layers: the
//! EVR when the tree is exactly as rpm installed it (real `rpm -Va` agrees: nothing differs),
//! EVR + `+digest` once an entry differs from its record, and only for that package. Checked
//! on real rpm installs (see `fixture`), against real `rpm -Va`, and end to end on built images:
//! a layer's digest changes exactly when its layer key does.

mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use fixture::Fixture;
use rechunk_model::ComponentKind;
use rechunk_rootfs::{load, LoadOptions, LoadedRoot, WarningKind};
use serde_json::Value;

fn load_with(f: &Fixture, clamp_mtime: Option<i64>) -> LoadedRoot {
    let opts = LoadOptions {
        rules: rechunk_rootfs::WriteRules {
            clamp_mtime,
            ..Default::default()
        },
        ..LoadOptions::default()
    };
    load(&f.root, &opts).expect("fixture loads")
}

fn versions(l: &LoadedRoot) -> BTreeMap<String, String> {
    l.components
        .iter()
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect()
}

fn version(l: &LoadedRoot, name: &str) -> String {
    versions(l)
        .remove(name)
        .unwrap_or_else(|| panic!("{name} is a component"))
}

/// Components present before whose version differs after.
fn changed(before: &LoadedRoot, after: &LoadedRoot) -> Vec<String> {
    let after = versions(after);
    versions(before)
        .into_iter()
        .filter(|(name, v)| after.get(name) != Some(v))
        .map(|(name, _)| name)
        .collect()
}

fn drifted(l: &LoadedRoot) -> Vec<(String, Vec<&'static str>)> {
    l.drift
        .iter()
        .map(|d| (d.path.display().to_string(), d.differs.clone()))
        .collect()
}

/// Our `rpm -V` view: (kind, root-relative path) of every warning.
fn warnings(f: &Fixture, l: &LoadedRoot) -> BTreeSet<(WarningKind, String)> {
    l.warnings
        .iter()
        .map(|w| {
            let rel = w.path.strip_prefix(&f.root).unwrap_or(&w.path);
            (w.kind, rel.display().to_string())
        })
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The recorded mtime of a package file (what rpm gave it).
fn recorded_mtime(l: &LoadedRoot, rpm_path: &str) -> i64 {
    l.packages
        .iter()
        .flat_map(|p| &p.files)
        .find(|f| f.path == rpm_path)
        .unwrap_or_else(|| panic!("{rpm_path} recorded"))
        .mtime
}

#[test]
fn an_untouched_install_has_pure_evr_versions() {
    let f = Fixture::pristine();
    // Real rpm finds nothing to report: owners, mtimes, modes, capability, digests all match.
    assert_eq!(f.rpm_va(&[]), vec![]);
    let l = load_with(&f, None);
    assert_eq!(l.drift, vec![]);
    let evrs: BTreeMap<String, String> = l
        .packages
        .iter()
        .map(|p| (p.name.clone(), format!("{}.{}", p.evr(), p.arch)))
        .collect();
    let packages: BTreeMap<String, String> = l
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Package)
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect();
    assert_eq!(packages, evrs);
    // What makes the fixture a real check: a non-root owner resolved through the tree's
    // passwd, a capability rpm set, a doc file --excludedocs kept out, a ghost not created.
    let meta = |rel: &str| std::fs::symlink_metadata(f.path(rel));
    use std::os::unix::fs::MetadataExt;
    let owned = meta("usr/share/tool/owned").unwrap();
    assert_eq!((owned.uid(), owned.gid()), (1234, 4321));
    assert!(meta("usr/share/doc/fixture-libs/README").is_err());
    assert!(meta("var/log/tool.log").is_err());
    let ping = l
        .tree
        .entries
        .iter()
        .find(|e| e.path.ends_with("ping-helper"))
        .unwrap();
    assert!(ping.xattrs.iter().any(|(n, _)| n == "security.capability"));
    // Clamping to any SOURCE_DATE_EPOCH clamps record and tree alike; source groups too.
    let newest = l.tree.entries.iter().map(|e| e.mtime).max().unwrap();
    for clamp in [1_000_000_000, newest - 1, newest + 1] {
        let clamped = load_with(&f, Some(clamp));
        assert_eq!(clamped.drift, vec![], "{clamp}");
        for (name, evr) in &evrs {
            assert_eq!(&version(&clamped, name), evr, "{clamp}");
        }
    }
    let opts = LoadOptions {
        group_by_source: true,
        ..LoadOptions::default()
    };
    let grouped = load(&f.root, &opts).unwrap();
    assert_eq!(grouped.drift, vec![]);
    assert_eq!(
        version(&grouped, "fixture-tools"),
        "1.0-1.x86_64",
        "a source group of one package keeps its EVR"
    );
}

/// One change to the tree after install, and what it must do.
struct Case {
    name: &'static str,
    change: fn(&Fixture, &LoadedRoot),
    /// Our drift: (path, what differs).
    drift: &'static [(&'static str, &'static [&'static str])],
    /// What real `rpm -Va` says: (path, attribute letters it must show).
    rpm_va: &'static [(&'static str, &'static str)],
    /// Our `rpm -V` warnings after the change (none before).
    warnings: &'static [(WarningKind, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "edit a %config file's content (same size, so only a read can tell)",
        change: |f, _| std::fs::write(f.path("etc/tool.conf"), b"key = 2\n").unwrap(),
        drift: &[("etc/tool.conf", &["content", "mtime"])],
        rpm_va: &[("/etc/tool.conf", "5T")],
        warnings: &[], // rpm -V's view: a config file is expected to be edited
    },
    Case {
        name: "chmod a packaged file",
        change: |f, _| {
            run(Command::new("chmod")
                .arg("0700")
                .arg(f.path("usr/bin/tool")))
        },
        drift: &[("usr/bin/tool", &["mode"])],
        rpm_va: &[("/usr/bin/tool", "M")],
        warnings: &[(WarningKind::Modified, "usr/bin/tool")],
    },
    Case {
        name: "set a user.* xattr on a packaged file",
        change: |f, _| f.set_xattr("usr/bin/tool", "user.note", b"hi"),
        drift: &[("usr/bin/tool", &["xattrs"])],
        rpm_va: &[],
        warnings: &[],
    },
    Case {
        name: "touch a packaged file (same bytes, new mtime in the layer)",
        change: |f, l| f.set_mtime("usr/bin/tool", recorded_mtime(l, "/usr/bin/tool") + 1000),
        drift: &[("usr/bin/tool", &["mtime"])],
        rpm_va: &[("/usr/bin/tool", "T")],
        warnings: &[],
    },
    Case {
        name: "chown a file recorded as tooluser:toolgroup",
        change: |f, _| {
            run(Command::new("chown")
                .arg("0:0")
                .arg(f.path("usr/share/tool/owned")))
        },
        drift: &[("usr/share/tool/owned", &["owner"])],
        rpm_va: &[("/usr/share/tool/owned", "UG")],
        warnings: &[],
    },
    Case {
        name: "replace the recorded capability (cap_net_raw=ep -> =p)",
        change: |f, _| {
            let mut caps = fixture::CAP_NET_RAW_EP;
            caps[0] = 0; // clear VFS_CAP_FLAGS_EFFECTIVE
            f.set_xattr("usr/bin/ping-helper", "security.capability", &caps)
        },
        drift: &[("usr/bin/ping-helper", &["xattrs"])],
        rpm_va: &[("/usr/bin/ping-helper", "P")],
        warnings: &[],
    },
    Case {
        name: "remove a packaged file",
        change: |f, _| std::fs::remove_file(f.path("usr/bin/legacy")).unwrap(),
        drift: &[("bin/legacy", &["missing"])],
        rpm_va: &[("/bin/legacy", "missing")],
        warnings: &[(WarningKind::Missing, "bin/legacy")],
    },
    Case {
        name: "break a hardlink rpm made (copy keeping content and mtime)",
        change: |f, _| {
            let p = f.path("usr/bin/tool-hard2");
            let copy = f.path("usr/bin/tool-hard2.copy");
            run(Command::new("cp").arg("-p").arg(&p).arg(&copy));
            std::fs::rename(&copy, &p).unwrap();
        },
        drift: &[
            ("usr/bin/tool-hard1", &["links"]),
            ("usr/bin/tool-hard2", &["links"]),
        ],
        rpm_va: &[],
        warnings: &[],
    },
    Case {
        name: "chmod a packaged directory",
        change: |f, _| {
            run(Command::new("chmod")
                .arg("0700")
                .arg(f.path("usr/share/tool/empty")))
        },
        drift: &[("usr/share/tool/empty", &["mode"])],
        rpm_va: &[("/usr/share/tool/empty", "M")],
        warnings: &[(WarningKind::Modified, "usr/share/tool/empty")],
    },
];

#[test]
fn each_change_moves_exactly_its_packages_version() {
    for case in CASES {
        let f = Fixture::pristine();
        let before = load_with(&f, None);
        assert_eq!(warnings(&f, &before), BTreeSet::new());
        (case.change)(&f, &before);
        let after = load_with(&f, None);
        let name = case.name;
        assert_eq!(changed(&before, &after), vec!["fixture-tools"], "{name}");
        let v = version(&after, "fixture-tools");
        let (evr, digest) = v.split_once('+').unwrap_or_else(|| panic!("{name}: {v}"));
        assert_eq!((evr, digest.len()), ("1.0-1.x86_64", 16), "{name}");
        assert_eq!(version(&after, "fixture-libs"), "2:3.1-4.noarch", "{name}");
        let want: Vec<(String, Vec<&str>)> = case
            .drift
            .iter()
            .map(|(p, d)| (p.to_string(), d.to_vec()))
            .collect();
        assert_eq!(drifted(&after), want, "{name}");
        assert!(after.drift.iter().all(|d| d.component == "fixture-tools"));
        // Real rpm -Va sees the same change, where it checks that attribute at all.
        let theirs: BTreeMap<String, String> =
            f.rpm_va(&[]).into_iter().map(|(a, p)| (p, a)).collect();
        let paths: BTreeSet<&str> = theirs.keys().map(String::as_str).collect();
        let want_paths: BTreeSet<&str> = case.rpm_va.iter().map(|(p, _)| *p).collect();
        assert_eq!(paths, want_paths, "{name}: rpm -Va said {theirs:?}");
        for (path, letters) in case.rpm_va {
            let attrs = &theirs[*path];
            let shown = *letters == "missing" && attrs == "missing"
                || letters.chars().all(|c| attrs.contains(c));
            assert!(
                shown,
                "{name}: rpm -Va shows {attrs} for {path}, want {letters}"
            );
        }
        // Our rpm -V view reports what it did before this change.
        let want: BTreeSet<(WarningKind, String)> = case
            .warnings
            .iter()
            .map(|(k, p)| (*k, p.to_string()))
            .collect();
        assert_eq!(warnings(&f, &after), want, "{name}");
        // Stable: loading the changed tree again gives the same version.
        assert_eq!(version(&load_with(&f, None), "fixture-tools"), v, "{name}");
    }
}

/// A new mtime only counts when the writer writes it: `SOURCE_DATE_EPOCH` older than both the
/// recorded and the new mtime clamps both to the same value; one between them does not.
#[test]
fn touched_files_and_source_date_epoch() {
    let f = Fixture::pristine();
    let l = load_with(&f, None);
    let recorded = recorded_mtime(&l, "/usr/bin/tool");
    let pure = version(&l, "fixture-tools");
    f.set_mtime("usr/bin/tool", recorded + 1000);
    assert_ne!(version(&load_with(&f, None), "fixture-tools"), pure);
    let older = load_with(&f, Some(recorded - 1));
    assert_eq!(version(&older, "fixture-tools"), pure);
    assert_eq!(older.drift, vec![]);
    let between = load_with(&f, Some(recorded + 500));
    assert_eq!(
        drifted(&between),
        vec![("usr/bin/tool".into(), vec!["mtime"])]
    );
    // A directory's mtime is never written.
    f.set_mtime("usr/bin/tool", recorded);
    f.set_mtime("usr/share/tool/empty", recorded + 1000);
    assert_eq!(version(&load_with(&f, None), "fixture-tools"), pure);
}

/// The check reads a package file only when its size or mtime says it may have changed: a
/// same-size edit that restores the recorded mtime is not seen (`rpm -Va --nofiledigest`
/// does not see it either; only a digest check does).
#[test]
fn content_is_read_only_when_metadata_differs() {
    let f = Fixture::pristine();
    let l = load_with(&f, None);
    let recorded = recorded_mtime(&l, "/usr/bin/tool");
    std::fs::write(f.path("usr/bin/tool"), b"#!/bin/sh\necho TOOL\n").unwrap();
    f.set_mtime("usr/bin/tool", recorded);
    assert_eq!(versions(&load_with(&f, None)), versions(&l));
    assert_eq!(f.rpm_va(&["--nofiledigest"]), vec![]);
    assert_eq!(
        f.rpm_va(&[]),
        vec![("..5......".to_owned(), "/usr/bin/tool".to_owned())]
    );
}

/// An ostree checkout gives every file mtime 0: the layer holds 0, not the recorded mtime, so
/// the version is EVR+digest, the same on every such build; content is not read for it
/// unless the size differs.
#[test]
fn ostree_style_zero_mtimes() {
    let f = Fixture::pristine();
    let pure = version(&load_with(&f, None), "fixture-tools");
    for rel in ["usr/bin/tool", "usr/bin/su-helper", "etc/tool.conf"] {
        f.set_mtime(rel, 0);
    }
    let l = load_with(&f, None);
    let zeroed = version(&l, "fixture-tools");
    assert_ne!(zeroed, pure);
    assert!(
        l.drift.iter().all(|d| d.differs == ["mtime"]),
        "{:?}",
        l.drift
    );
    assert_eq!(l.drift.len(), 3);
    assert_eq!(version(&load_with(&f, None), "fixture-tools"), zeroed);
    f.file("etc/tool.conf", b"key = 22\n", 0o644);
    f.set_mtime("etc/tool.conf", 0);
    let l = load_with(&f, None);
    let conf = l
        .drift
        .iter()
        .find(|d| d.path.ends_with("tool.conf"))
        .unwrap();
    assert_eq!(conf.differs, ["content", "mtime"]);
}

/// The tree's own image layers agree: building twice with `--previous`, a layer's blob is new
/// exactly when its key (components and versions) is, for changes the EVR does not show.
#[test]
fn layer_blobs_change_exactly_when_layer_keys_do() {
    let f = Fixture::pristine();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("img");
    let image = |tag: &str| format!("oci:{}:{tag}", layout.display());
    let build = |tag: &str, previous: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rechunk"));
        cmd.env_remove("SOURCE_DATE_EPOCH")
            .arg("--rootfs")
            .arg(&f.root)
            .args(["--output", &image(tag)]);
        if let Some(p) = previous {
            cmd.args(["--previous", &image(p)]);
        }
        run(&mut cmd);
        layers(&layout, tag)
    };
    let v1 = build("v1", None);
    f.set_mtime("usr/bin/tool", 2_000_000_000);
    let v2 = build("v2", Some("v1"));
    f.set_xattr("usr/lib/fixture/libfixture.so.1", "user.note", b"hi");
    let v3 = build("v3", Some("v2"));
    for (old, new, package) in [(&v1, &v2, "fixture-tools"), (&v2, &v3, "fixture-libs")] {
        let old_keys: BTreeSet<&Vec<(String, String)>> = old.iter().map(|(_, k)| k).collect();
        let old_digests: BTreeSet<&String> = old.iter().map(|(d, _)| d).collect();
        let mut new_blobs = Vec::new();
        for (digest, key) in new {
            let reused = old_digests.contains(digest);
            assert_eq!(old_keys.contains(key), reused, "layer {key:?}");
            if !reused {
                new_blobs.push(key.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>());
            }
        }
        assert_eq!(new_blobs.len(), 1, "{new_blobs:?}");
        assert!(new_blobs[0].contains(&package), "{new_blobs:?}");
    }
}

/// Per layer of an OCI layout's tagged image: its digest and key (sorted component, version
/// pairs: `ostree.components` of the layer, versions from the plan record in the config),
/// checking that the layer's `dev.rechunk.layer-key` annotation is `layer_key` of that key.
fn layers(layout: &Path, tag: &str) -> Vec<(String, Vec<(String, String)>)> {
    let json = |digest: &str| -> Value {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        let blob = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
        serde_json::from_slice(&blob).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("{tag} in {index}"));
    let manifest = json(entry["digest"].as_str().unwrap());
    let config = json(manifest["config"]["digest"].as_str().unwrap());
    let label = config["config"]["Labels"][rechunk_model::PLAN_LABEL]
        .as_str()
        .expect("plan label");
    let record: Value = serde_json::from_str(label).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let names = l["annotations"]["ostree.components"].as_str().unwrap();
            let mut key: Vec<(String, String)> = names
                .split(',')
                .map(|name| {
                    let version = record["components"][name].as_str().unwrap();
                    (name.to_owned(), version.to_owned())
                })
                .collect();
            key.sort();
            // The writer annotates each layer with the simulator's key of the same members.
            let model_key =
                rechunk_model::layer_key(key.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            assert_eq!(
                l["annotations"][rechunk_oci::LAYER_KEY],
                model_key.to_string()
            );
            (l["digest"].as_str().unwrap().to_owned(), key)
        })
        .collect()
}

/// rpm-ostree keeps system users in `/usr/lib/passwd` (nss-altfiles): owner names resolve
/// there too; a name the tree does not define is what rpm falls back to, root.
#[test]
fn owner_names_resolve_through_the_trees_account_files() {
    let f = Fixture::pristine();
    let pure = versions(&load_with(&f, None));
    std::fs::rename(f.path("etc/passwd"), f.path("usr/lib/passwd")).unwrap();
    std::fs::rename(f.path("etc/group"), f.path("usr/lib/group")).unwrap();
    let moved = load_with(&f, None);
    assert_eq!(moved.drift, vec![]);
    assert_eq!(version(&moved, "fixture-tools"), pure["fixture-tools"]);
    std::fs::remove_file(f.path("usr/lib/passwd")).unwrap();
    let unknown = load_with(&f, None);
    assert_eq!(
        drifted(&unknown),
        vec![("usr/share/tool/owned".into(), vec!["owner"])],
        "tooluser is no longer defined: rpm would have installed it as root"
    );
}

/// With `--group-by-source` the source component carries the drift of its packages.
#[test]
fn source_groups_move_with_their_packages() {
    let f = Fixture::pristine();
    let opts = LoadOptions {
        group_by_source: true,
        ..LoadOptions::default()
    };
    let before = load(&f.root, &opts).unwrap();
    f.set_xattr("usr/lib/fixture/libfixture.so.1", "user.note", b"hi");
    let after = load(&f.root, &opts).unwrap();
    assert_eq!(changed(&before, &after), vec!["fixture-libs"]);
    assert!(version(&after, "fixture-libs").starts_with("2:3.1-4.noarch+"));
    assert_eq!(after.drift[0].component, "fixture-libs");
}

/// `rechunk scan --json` lists the drift that moved a package's version, path and attribute.
#[test]
fn scan_json_reports_drift() {
    let f = Fixture::pristine();
    run(Command::new("chmod")
        .arg("0700")
        .arg(f.path("usr/bin/tool")));
    let out = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["scan", "--json", "--no-verify", "--rootfs"])
        .arg(&f.root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let drift = v["drift"].as_array().expect("drift list");
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["component"], "fixture-tools");
    assert_eq!(drift[0]["path"], "usr/bin/tool");
    assert_eq!(drift[0]["differs"], serde_json::json!(["mode"]));
}
