//! Synthesized trees against real rpm: `rpm -qa` / `rpm -ql` / `rpm -Va` inside a written tree
//! list exactly the packages and files the generator planned, with no verify errors; writing a
//! version twice gives identical trees; consecutive versions share the bytes of unchanged
//! packages and of the unchanged files of updated ones. Needs Debian's `rpm` and root (as
//! scripts/test.sh runs the suite).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rechunk_datasets::synth::layout::EntrySpec;
use rechunk_datasets::synth::{write_version, Chain, NoProgress, RpmCache, Scale};
use rechunk_model::{Component, ComponentKind, History, Snapshot, DAY};
use sha2::{Digest, Sha256};

const T0: i64 = 1_700_000_000;

/// v1 → v2: `bash` release bump, `python3-foo` upstream update, `tzdata` unchanged, `iputils`
/// removed, `newpkg` added; `rpm` ghost-owns the rpm database; `kernel-core` gives the
/// initramfs its directory.
fn history() -> History {
    let v1: &[(&str, &str, u64)] = &[
        ("bash", "5.2.26-1.fc40.x86_64", 3_000_000),
        ("python3-foo", "1:1.0-1.fc40.noarch", 2_000_000),
        ("tzdata", "2024a-5.fc40.noarch", 1_500_000),
        ("shadow-utils", "2:4.15.1-1.fc40.x86_64", 1_200_000),
        ("iputils", "20240117-1.fc40.x86_64", 400_000),
        ("NetworkManager-libnm", "1:1.46.2-1.fc40.x86_64", 900_000),
        ("rpm", "4.19.1.1-1.fc40.x86_64", 600_000),
        ("kernel-core", "6.10.12-200.fc40.x86_64", 2_500_000),
    ];
    let mut v2: Vec<(&str, &str, u64)> = v1
        .iter()
        .filter(|c| c.0 != "iputils")
        .map(|&(n, v, s)| match n {
            "bash" => (n, "5.2.26-2.fc40.x86_64", s),
            "python3-foo" => (n, "1:1.1-1.fc40.noarch", s),
            _ => (n, v, s),
        })
        .collect();
    v2.push(("newpkg", "0.1-1.fc40.x86_64", 300_000));
    let snapshot = |id: &str, date: i64, comps: &[(&str, &str, u64)]| {
        let mut components: Vec<Component> = comps
            .iter()
            .map(|(n, v, s)| {
                let mut c = Component::new(*n, ComponentKind::Package, *v, *s);
                c.source = Some(n.trim_end_matches("-libnm").to_string());
                c
            })
            .collect();
        components.push(Component::new(
            "rpmostree-unpackaged-content",
            ComponentKind::Other,
            format!("built-{id}"),
            200_000,
        ));
        Snapshot::new(id, date, components)
    };
    History {
        name: "test".into(),
        snapshots: vec![snapshot("v1", T0, v1), snapshot("v2", T0 + 7 * DAY, &v2)],
    }
}

/// path → (type, mode, uid, gid, mtime, size, content digest or link target, xattrs).
fn listing(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&p).unwrap().display())
            } else {
                hex(&Sha256::digest(fs::read(&p).unwrap()))
            };
            let mut xattrs: Vec<String> = Vec::new();
            let mut names = vec![0u8; 4096];
            if let Ok(n) = rustix::fs::llistxattr(&p, &mut names) {
                for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
                    let name = String::from_utf8_lossy(name).into_owned();
                    let mut value = vec![0u8; 256];
                    let len = rustix::fs::lgetxattr(&p, &name, &mut value).unwrap_or(0);
                    xattrs.push(format!("{name}={}", hex(&value[..len])));
                }
            }
            let line = format!(
                "{:o} {}:{} mtime={} size={} nlink={} {what} {xattrs:?}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.mtime(),
                if m.is_dir() { 0 } else { m.len() },
                if m.is_dir() { 0 } else { m.nlink() },
            );
            out.insert(p.strip_prefix(root).unwrap().to_path_buf(), line);
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn rpm(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/usr/lib/sysimage/rpm"])
        .args(args)
        .output()
        .expect("rpm is installed (scripts/test.sh installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

struct Written {
    _dir: tempfile::TempDir,
    /// With both versions recorded as written.
    chain: Chain,
    /// As planned, before anything was written.
    planned: Chain,
    v1: PathBuf,
    v1_again: PathBuf,
    v2: PathBuf,
}

fn written() -> Written {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::new(&history(), Scale::Real).unwrap();
    let planned = chain.clone();
    let cache = RpmCache::open(&dir.path().join("cache")).unwrap();
    let path = |n: &str| dir.path().join(n);
    let s1 = write_version(&chain, 0, &cache, &path("v1"), &NoProgress).unwrap();
    assert_eq!(s1.built, 8, "every package built once");
    // A second run from scratch (its own cache): the same packages, byte for byte.
    let fresh = RpmCache::open(&dir.path().join("cache-again")).unwrap();
    let again = write_version(&chain, 0, &fresh, &path("v1-again"), &NoProgress).unwrap();
    assert_eq!(again.built, 8);
    for p in &chain.versions[0].packages {
        let (a, b) = (
            fs::read(cache.path(p)).unwrap(),
            fs::read(fresh.path(p)).unwrap(),
        );
        assert!(a == b, "{} differs between two builds", p.rpm_file_name());
    }
    let s2 = write_version(&chain, 1, &cache, &path("v2"), &NoProgress).unwrap();
    assert_eq!(
        s2.built, 3,
        "only bash, python3-foo and newpkg are new in v2"
    );
    let err = write_version(&chain, 1, &cache, &path("v2"), &NoProgress).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(!path(".v2.synth-staging").exists());
    assert_eq!(s1.unowned, again.unowned);
    chain.record_written(0, &s1.unowned).unwrap();
    chain.record_written(1, &s2.unowned).unwrap();
    Written {
        chain,
        planned,
        v1: path("v1"),
        v1_again: path("v1-again"),
        v2: path("v2"),
        _dir: dir,
    }
}

#[test]
fn trees_match_real_rpm_and_are_reproducible_and_share_unchanged_bytes() {
    let w = written();
    // Two runs for one version: the same tree, metadata and rpm database included.
    let (a, b) = (listing(&w.v1), listing(&w.v1_again));
    let differ: Vec<_> = a.iter().filter(|(p, l)| b.get(*p) != Some(l)).collect();
    assert!(differ.is_empty(), "{differ:#?}");
    assert_eq!(a.len(), b.len());
    assert!(a.contains_key(Path::new("usr/lib/sysimage/rpm/rpmdb.sqlite")));

    for (v, root) in [(0, &w.v1), (1, &w.v2)] {
        let plan = &w.chain.versions[v];
        // rpm -qa: exactly the planned packages.
        let (ok, qa) = rpm(
            root,
            &[
                "-qa",
                "--qf",
                "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n",
            ],
        );
        assert!(ok, "{qa}");
        let got: BTreeSet<String> = qa.lines().map(str::to_owned).collect();
        let want: BTreeSet<String> = plan
            .packages
            .iter()
            .map(|p| format!("{} {}", p.rpm.name, p.rpm.scan_version()))
            .collect();
        assert_eq!(got, want);
        for p in &plan.packages {
            // rpm -ql: exactly the planned paths, ghosts and directories included.
            let (ok, ql) = rpm(root, &["-ql", &p.rpm.name]);
            assert!(ok, "{ql}");
            let got: BTreeSet<&str> = ql.lines().filter(|l| *l != "(contains no files)").collect();
            let files = p.files();
            let want: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(got, want, "{}", p.component);
            for f in &files {
                let on_disk = fs::symlink_metadata(root.join(&f.path[1..])).is_ok();
                let ghost = matches!(f.entry, EntrySpec::Ghost { .. });
                assert!(on_disk || ghost, "{} missing", f.path);
            }
        }
        // rpm -Va: nothing to report (dependencies included).
        let (ok, va) = rpm(root, &["-Va"]);
        assert!(
            ok && va.trim().is_empty(),
            "rpm -Va in {}:\n{va}",
            root.display()
        );
        // The rpm package %ghost-owns the database, which is on disk.
        let (_, owner) = rpm(
            root,
            &[
                "-qf",
                "--qf",
                "%{NAME}\n",
                "/usr/lib/sysimage/rpm/rpmdb.sqlite",
            ],
        );
        assert_eq!(owner.trim(), "rpm");
        // The initramfs is unowned, under the kernel's release.
        let initramfs = "/usr/lib/modules/6.10.12-200.fc40.x86_64/initramfs.img";
        assert!(root.join(&initramfs[1..]).is_file());
        let (owned, _) = rpm(root, &["-qf", initramfs]);
        assert!(!owned, "the initramfs is not owned by a package");
    }

    // Every feature the engine handles is in the tree.
    let listing1 = listing(&w.v1);
    let any = |f: &dyn Fn(&str) -> bool| listing1.values().any(|l| f(l));
    assert!(any(&|l| l.contains(" -> ")), "symlinks");
    assert!(any(&|l| l.contains("nlink=2")), "hardlinks");
    assert!(any(&|l| l.starts_with("104755")), "setuid");
    assert!(
        any(&|l| l.contains("security.capability")),
        "file capabilities"
    );
    let (_, configs) = rpm(&w.v1, &["-qac"]);
    assert!(!configs.trim().is_empty(), "%config files");

    // Unchanged packages: identical bytes and metadata in both versions; an updated one keeps
    // some files (release bump: docs, translations, data) and changes its binaries.
    let listing2 = listing(&w.v2);
    let files_of = |component: &str, v: usize| -> Vec<String> {
        let p = w.chain.versions[v]
            .packages
            .iter()
            .find(|p| p.component == component)
            .unwrap();
        p.files()
            .into_iter()
            .filter(|f| matches!(f.entry, EntrySpec::Regular { .. }))
            .map(|f| f.path[1..].to_string())
            .collect()
    };
    for unchanged in ["tzdata", "shadow-utils", "rpm", "kernel-core"] {
        for f in files_of(unchanged, 0) {
            assert_eq!(listing1[Path::new(&f)], listing2[Path::new(&f)], "{f}");
        }
    }
    for updated in ["bash", "python3-foo"] {
        let files = files_of(updated, 0);
        let same = files
            .iter()
            .filter(|f| listing1[Path::new(f.as_str())] == listing2[Path::new(f.as_str())])
            .count();
        assert!(
            same > 0 && same < files.len(),
            "{updated}: {same} of {} unchanged",
            files.len()
        );
    }
    assert!(listing1[Path::new("usr/bin/bash")] != listing2[Path::new("usr/bin/bash")]);
}

/// The realised history names what the scan sees: every component of a written tree, with its
/// kind and size, and versions that change from v1 to v2 exactly where the scan's do. The
/// plan differs from it only in the rpm database's size, planned before rpm wrote it.
#[test]
fn the_realised_history_is_what_the_scan_sees() {
    let w = written();
    let scan = |root: &Path| {
        let opts = rechunk_rootfs::LoadOptions::default();
        let loaded = rechunk_rootfs::load(root, &opts).unwrap();
        assert_eq!(loaded.drift, vec![], "{}", root.display());
        loaded.components
    };
    let key = |c: &Component| (c.name.clone(), c.kind, c.size);
    let (scanned1, scanned2) = (scan(&w.v1), scan(&w.v2));
    for (v, scanned) in [(0, &scanned1), (1, &scanned2)] {
        let realised = &w.chain.history.snapshots[v].components;
        let got: Vec<_> = realised.iter().map(key).collect();
        let want: Vec<_> = scanned.iter().map(key).collect();
        assert_eq!(got, want, "version {v}");
        let planned = &w.planned.history.snapshots[v].components;
        let names = |cs: &[Component]| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(planned), names(realised));
        let differ: Vec<&str> = planned
            .iter()
            .zip(realised)
            .filter(|(p, r)| p.size != r.size)
            .map(|(p, _)| p.name.as_str())
            .collect();
        // Only the rpm database and the unpackaged content it is carved from.
        assert!(
            differ.iter().all(|n| *n == "rpmdb:/usr/lib/sysimage/rpm"
                || n.starts_with("generated:")
                || n.starts_with("unpackaged:")),
            "{differ:?}"
        );
    }
    let changed = |a: &[Component], b: &[Component]| -> BTreeSet<String> {
        a.iter()
            .filter(|c| {
                b.iter()
                    .find(|d| d.name == c.name)
                    .is_some_and(|d| d.version != c.version)
            })
            .map(|c| c.name.clone())
            .collect()
    };
    let realised = &w.chain.history.snapshots;
    let want = changed(&scanned1, &scanned2);
    assert_eq!(
        changed(&realised[0].components, &realised[1].components),
        want
    );
    for name in [
        "bash",
        "python3-foo",
        "rpmdb:/usr/lib/sysimage/rpm",
        "generated:hwdb",
    ] {
        assert!(want.contains(name), "{name} changes: {want:?}");
    }
    assert!(
        !want.contains("rpm") && !want.contains("tzdata"),
        "{want:?}"
    );
}
