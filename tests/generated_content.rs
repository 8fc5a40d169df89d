//! Generated content never rides in a package's layer: a `%ghost` claim does not own content.
//! On trees installed by real rpm, whose `rpm` package `%ghost`-owns the rpm database as
//! Fedora's does: the database is the `rpmdb` component's and the package keeps its EVR; other
//! present `%ghost` files and compose outputs go to `generated:*` components; and two builds
//! with a changed rpm database differ in the rpmdb's layer only.

mod fixture;

use std::collections::BTreeSet;
use std::process::Command;

use fixture::Fixture;
use rechunk_model::ComponentKind;
use rechunk_rootfs::{load, LoadOptions, LoadedRoot, Rule};
use rpm::{FileOptions, PackageBuilder};
use serde_json::Value;

const RPMDB: &str = "rpmdb:/usr/lib/sysimage/rpm";

/// `rpm-4.19.1.1-8.fc41`-like: a binary, and the database files as `%ghost`s (as Fedora's
/// rpm.spec lists them), `/var/log/rpm.log` too.
fn rpm_package() -> PackageBuilder {
    let mut b = PackageBuilder::new("rpm", "4.19.1.1", "GPLv2+", "x86_64", "rpm");
    b.release("8.fc41");
    b.with_file_contents(
        b"#!/bin/sh\necho rpm\n".to_vec(),
        FileOptions::new("/usr/bin/rpm").permissions(0o755),
    )
    .unwrap();
    for ghost in [
        "/usr/lib/sysimage/rpm/rpmdb.sqlite",
        "/usr/lib/sysimage/rpm/rpmdb.sqlite-shm",
        "/usr/lib/sysimage/rpm/rpmdb.sqlite-wal",
        "/usr/lib/sysimage/rpm/.rpm.lock",
        "/var/log/rpm.log",
    ] {
        b.with_ghost(FileOptions::ghost(ghost).permissions(0o644))
            .unwrap();
    }
    b
}

/// `glibc`-like: a library, and `/etc/ld.so.cache` as a `%ghost` (ldconfig writes it).
fn libc_package() -> PackageBuilder {
    let mut b = PackageBuilder::new("libc", "2.40", "LGPLv2+", "x86_64", "libc");
    b.release("1");
    b.with_file_contents(
        vec![0x7f; 8192],
        FileOptions::new("/usr/lib64/libc.so.6").permissions(0o755),
    )
    .unwrap()
    .with_ghost(FileOptions::ghost("/etc/ld.so.cache").permissions(0o644))
    .unwrap();
    b
}

/// A package without files: installing it changes the rpm database and nothing else.
fn empty_package(name: &str) -> PackageBuilder {
    let mut b = PackageBuilder::new(name, "1", "MIT", "noarch", "nothing");
    b.release("1");
    b
}

/// A tree like a compose leaves it: packages by real rpm, then what the compose generates.
fn composed() -> Fixture {
    let f = Fixture::empty();
    f.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644);
    f.file("etc/group", b"root:x:0:\n", 0o644);
    let rpms = [
        f.write_rpm(&mut rpm_package()),
        f.write_rpm(&mut libc_package()),
    ];
    f.install(&[&rpms[0], &rpms[1]]);
    f.file("etc/ld.so.cache", b"ld.so-1.7.0 cache", 0o644);
    f.file("var/log/rpm.log", b"installed\n", 0o644);
    f.file("usr/lib/udev/hwdb.bin", &[3u8; 3 << 20], 0o444);
    f.file("etc/hostname", b"compose\n", 0o644);
    f
}

fn loaded(f: &Fixture) -> LoadedRoot {
    load(&f.root, &LoadOptions::default()).expect("the tree loads")
}

fn component_of(l: &LoadedRoot, rel: &str) -> (String, Rule) {
    let i = l
        .tree
        .entries
        .iter()
        .position(|e| e.path.as_os_str() == rel)
        .unwrap_or_else(|| panic!("{rel} is in the tree"));
    (l.components[l.owner[i]].name.clone(), l.rule[i])
}

fn version(l: &LoadedRoot, name: &str) -> String {
    l.components
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is a component"))
        .version
        .clone()
}

#[test]
fn ghost_claims_do_not_own_content() {
    let f = composed();
    // Real rpm agrees the ghosts are the packages' to list, and that nothing was modified.
    assert_eq!(f.rpm_owner("/usr/lib/sysimage/rpm/rpmdb.sqlite"), ["rpm"]);
    assert_eq!(f.rpm_owner("/etc/ld.so.cache"), ["libc"]);
    assert_eq!(f.rpm_va(&[]), vec![]);
    let l = loaded(&f);
    for (path, component, rule) in [
        ("usr/lib/sysimage/rpm/rpmdb.sqlite", RPMDB, Rule::Rpmdb),
        ("usr/lib/sysimage/rpm", RPMDB, Rule::Rpmdb),
        ("etc/ld.so.cache", "generated:ld.so.cache", Rule::Generated),
        ("var/log/rpm.log", "generated:ghost", Rule::Generated),
        ("usr/lib/udev/hwdb.bin", "generated:hwdb", Rule::Generated),
        ("etc/hostname", "unpackaged:/etc", Rule::TopLevelDir),
        ("usr/bin/rpm", "rpm", Rule::Package),
        ("usr/lib64/libc.so.6", "libc", Rule::Package),
    ] {
        assert_eq!(
            component_of(&l, path),
            (component.to_owned(), rule),
            "{path}"
        );
    }
    // The packages are exactly as recorded: their EVR, no drift.
    assert_eq!(version(&l, "rpm"), "4.19.1.1-8.fc41.x86_64");
    assert_eq!(version(&l, "libc"), "2.40-1.x86_64");
    assert_eq!(l.drift, vec![]);
    let kind = |name: &str| l.components.iter().find(|c| c.name == name).unwrap().kind;
    assert_eq!(kind("generated:hwdb"), ComponentKind::Generated);
    assert_eq!(kind(RPMDB), ComponentKind::Rpmdb);
    // Regenerated content moves its own component only.
    std::fs::write(f.path("etc/ld.so.cache"), b"ld.so-1.7.0 cache 2").unwrap();
    let after = loaded(&f);
    let changed: BTreeSet<&str> = l
        .components
        .iter()
        .filter(|c| version(&after, &c.name) != c.version)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(changed, BTreeSet::from(["generated:ld.so.cache"]));
}

/// Two builds of the tree, the second after a package without files was installed (the rpm
/// database changes, nothing else): one layer per component, so each new blob names what
/// changed.
#[test]
fn a_changed_rpmdb_changes_only_the_rpmdb_layer() {
    let f = composed();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("img");
    let image = |tag: &str| format!("oci:{}:{tag}", layout.display());
    for strategy in ["per-package", "cluster"] {
        let v1 = format!("{strategy}-1");
        let v2 = format!("{strategy}-2");
        build(&f, strategy, &image(&v1), None);
        if strategy == "per-package" {
            let extra = f.write_rpm(&mut empty_package("extra"));
            let db = f.path("usr/lib/sysimage/rpm/rpmdb.sqlite");
            let before = std::fs::read(&db).unwrap();
            f.install(&[&extra]);
            assert_ne!(std::fs::read(&db).unwrap(), before, "the database changed");
        } else {
            let extra = f.write_rpm(&mut empty_package("extra2"));
            f.install(&[&extra]);
        }
        build(&f, strategy, &image(&v2), Some(&image(&v1)));
        let old = layers(&layout, &v1);
        let new = layers(&layout, &v2);
        let held: BTreeSet<&String> = old.iter().map(|(d, _)| d).collect();
        let fetched: Vec<&Vec<String>> = new
            .iter()
            .filter(|(d, _)| !held.contains(d))
            .map(|(_, c)| c)
            .collect();
        assert_eq!(fetched, [&vec![RPMDB.to_owned()]], "{strategy}");
        // `rechunk diff` agrees: one layer to fetch.
        let diff = Command::new(env!("CARGO_BIN_EXE_rechunk"))
            .args(["diff", "--json", &image(&v1), &image(&v2)])
            .output()
            .unwrap();
        assert!(diff.status.success());
        let diff: Value = serde_json::from_slice(&diff.stdout).unwrap();
        assert_eq!(diff["layers_fetched"], 1, "{strategy}: {diff}");
    }
}

fn build(f: &Fixture, strategy: &str, output: &str, previous: Option<&str>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rechunk"));
    cmd.env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("--rootfs")
        .arg(&f.root)
        .args(["--strategy", strategy, "--output", output]);
    if let Some(p) = previous {
        cmd.args(["--previous", p]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Per layer of a tagged image in an OCI layout: its digest and the components it holds
/// (the `ostree.components` annotation), as `rechunk inspect --json` reports them.
fn layers(layout: &std::path::Path, tag: &str) -> Vec<(String, Vec<String>)> {
    let out = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args([
            "inspect",
            "--json",
            &format!("oci:{}:{tag}", layout.display()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|l| {
            let components = l["components"]
                .as_array()
                .unwrap_or_else(|| panic!("{l}"))
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            (l["digest"].as_str().unwrap().to_owned(), components)
        })
        .collect()
}
