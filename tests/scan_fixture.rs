//! The scan on a real root filesystem built by real rpm (see `fixture`): every file found (as
//! `find` sees it), the owner `rpm -qf` names, modes, capability, hardlinks, the unowned
//! split, skips, `rpm -V` warnings, and the `rechunk scan --json` contract.

mod fixture;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use fixture::Fixture;
use rechunk_model::ComponentKind;
use rechunk_rootfs::{load, EntryKind, LoadOptions, LoadedRoot, Rule, SkipReason, WarningKind};

fn load_verified(f: &Fixture) -> LoadedRoot {
    let opts = LoadOptions {
        verify_digests: true,
        ..LoadOptions::default()
    };
    load(&f.root, &opts).expect("fixture loads")
}

fn entry<'a>(l: &'a LoadedRoot, rel: &str) -> (usize, &'a rechunk_rootfs::Entry) {
    let i = l
        .tree
        .entries
        .iter()
        .position(|e| e.path == Path::new(rel))
        .unwrap_or_else(|| panic!("{rel} not in the tree"));
    (i, &l.tree.entries[i])
}

fn component_of<'a>(l: &'a LoadedRoot, rel: &str) -> (&'a str, Rule) {
    let (i, _) = entry(l, rel);
    (l.components[l.owner[i]].name.as_str(), l.rule[i])
}

/// Every path `find` lists, minus what the scan must skip, and nothing else.
#[test]
fn finds_every_file_find_finds() {
    let f = Fixture::standard();
    let l = load_verified(&f);
    let out = Command::new("find")
        .arg(&f.root)
        .args(["-mindepth", "1", "-printf", "%P\\n"])
        .output()
        .unwrap();
    let skipped = |p: &str| {
        p.starts_with("tmp/")
            || p.starts_with("var/cache/app/")
            || p.starts_with("usr/local/skipme")
    };
    let found: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|p| !skipped(p))
        .map(str::to_owned)
        .collect();
    let ours: BTreeSet<String> = l
        .tree
        .entries
        .iter()
        .map(|e| e.path.display().to_string())
        .collect();
    assert_eq!(ours, found);
    let mut sorted = l.tree.entries.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(sorted, l.tree.entries, "entries are sorted by path");
    // The skips are reported with their reason.
    let reasons: Vec<(String, SkipReason)> = l
        .skipped
        .iter()
        .map(|s| (s.path.display().to_string(), s.reason))
        .collect();
    for want in [
        ("tmp".to_owned(), SkipReason::VolatileDir),
        ("var/cache/app".to_owned(), SkipReason::CacheDir),
        ("usr/local/skipme".to_owned(), SkipReason::SkipXattr),
    ] {
        assert!(reasons.contains(&want), "{want:?} in {reasons:?}");
    }
}

/// Owners equal what real rpm answers with `rpm -qf`, including through `bin -> usr/bin`.
#[test]
fn owners_match_rpm_qf() {
    let f = Fixture::standard();
    let l = load_verified(&f);
    for (rel, rpm_path) in [
        ("usr/bin/tool", "/usr/bin/tool"),
        ("usr/bin/tool-link", "/usr/bin/tool-link"),
        ("usr/bin/legacy", "/bin/legacy"),
        ("etc/tool.conf", "/etc/tool.conf"),
        ("usr/share/tool/empty", "/usr/share/tool/empty"),
        (
            "usr/lib/fixture/libfixture.so.1",
            "/usr/lib/fixture/libfixture.so.1",
        ),
        (
            "usr/share/doc/fixture-libs/README",
            "/usr/share/doc/fixture-libs/README",
        ),
    ] {
        let owners = f.rpm_owner(rpm_path);
        assert_eq!(owners.len(), 1, "{rpm_path}: {owners:?}");
        assert_eq!(
            component_of(&l, rel),
            (owners[0].as_str(), Rule::Package),
            "{rel}"
        );
    }
    // Owned by both packages: the rule picks the first name.
    let both = f.rpm_owner("/usr/share/fixture-shared");
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(
        component_of(&l, "usr/share/fixture-shared").0,
        "fixture-libs"
    );
}

#[test]
fn modes_capability_hardlinks_and_symlinks_are_recorded() {
    let f = Fixture::standard();
    let l = load_verified(&f);
    assert_eq!(entry(&l, "usr/bin/su-helper").1.mode, 0o4755);
    assert_eq!(entry(&l, "usr/bin/tool").1.mode, 0o755);
    assert_eq!(entry(&l, "etc/tool.conf").1.mode, 0o644);
    let ping = entry(&l, "usr/bin/ping-helper").1;
    let cap = ping.xattrs.iter().find(|(n, _)| n == "security.capability");
    assert_eq!(
        cap.map(|(_, v)| v.as_slice()),
        Some(&fixture::CAP_NET_RAW_EP[..])
    );
    let h1 = entry(&l, "usr/bin/tool-hard1").1.hardlink;
    let h2 = entry(&l, "usr/bin/tool-hard2").1.hardlink;
    assert!(h1.is_some() && h1 == h2, "{h1:?} {h2:?}");
    assert_eq!(entry(&l, "usr/bin/tool").1.hardlink, None);
    assert_eq!(
        entry(&l, "usr/bin/tool-link").1.kind,
        EntryKind::Symlink("tool".into())
    );
    assert_eq!(
        entry(&l, "bin").1.kind,
        EntryKind::Symlink("usr/bin".into())
    );
    assert!(entry(&l, "usr/share/tool/empty").1.is_dir());
    let custom = entry(&l, "srv/custom").1;
    assert!(custom
        .xattrs
        .iter()
        .any(|(n, v)| n == "user.component" && v == b"custom-data"));
    // Sizes and owners as the filesystem says.
    let meta = std::fs::metadata(f.path("opt/big.bin")).unwrap();
    assert_eq!(entry(&l, "opt/big.bin").1.size, meta.len());
}

#[test]
fn unowned_content_is_split_by_rule() {
    let f = Fixture::standard();
    let l = load_verified(&f);
    assert_eq!(
        component_of(&l, "etc/hostname"),
        ("unpackaged:/etc", Rule::TopLevelDir)
    );
    assert_eq!(
        component_of(&l, "var/lib/app/state"),
        ("unpackaged:/var", Rule::TopLevelDir)
    );
    assert_eq!(
        component_of(&l, "opt/big.bin"),
        ("file:/opt/big.bin", Rule::BigFile)
    );
    assert_eq!(
        component_of(&l, "usr/lib/modules/6.1.0/initramfs.img"),
        ("initramfs:/usr/lib/modules", Rule::Initramfs)
    );
    assert_eq!(
        component_of(&l, "usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("rpmdb:/usr/lib/sysimage/rpm", Rule::Rpmdb)
    );
    assert_eq!(component_of(&l, "srv/custom"), ("custom-data", Rule::Xattr));
    assert_eq!(
        component_of(&l, "srv/custom/sub/b"),
        ("custom-data", Rule::Xattr)
    );
    let kind = |name: &str| l.components.iter().find(|c| c.name == name).map(|c| c.kind);
    assert_eq!(kind("file:/opt/big.bin"), Some(ComponentKind::BigFile));
    assert_eq!(
        kind("rpmdb:/usr/lib/sysimage/rpm"),
        Some(ComponentKind::Rpmdb)
    );
    assert_eq!(kind("custom-data"), Some(ComponentKind::Xattr));
    let big = l
        .components
        .iter()
        .find(|c| c.name == "file:/opt/big.bin")
        .unwrap();
    assert_eq!((big.files, big.size), (1, fixture::BIG_FILE_SIZE as u64));
}

#[test]
fn package_components_carry_rpmdb_metadata() {
    let f = Fixture::standard();
    let l = load_verified(&f);
    let names: Vec<&str> = l.components.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "components sorted by name");
    let tools = l
        .components
        .iter()
        .find(|c| c.name == "fixture-tools")
        .unwrap();
    let libs = l
        .components
        .iter()
        .find(|c| c.name == "fixture-libs")
        .unwrap();
    assert_eq!(tools.kind, ComponentKind::Package);
    // The capability set after install is in the layer but not in the record: the version is
    // the EVR plus a digest of that difference (scan_versions.rs tests the rule).
    let (evr, drift) = tools.version.split_once('+').expect("EVR+digest");
    assert_eq!(evr, "1.0-1.x86_64");
    assert_eq!(drift.len(), 16, "{drift}");
    assert_eq!(libs.version, "2:3.1-4.noarch");
    let drifted: Vec<(&str, &str, &[&str])> = l
        .drift
        .iter()
        .map(|d| {
            (
                d.component.as_str(),
                d.path.to_str().unwrap(),
                &d.differs[..],
            )
        })
        .collect();
    assert_eq!(
        drifted,
        vec![("fixture-tools", "usr/bin/ping-helper", &["xattrs"][..])]
    );
    assert_eq!(tools.requires, vec!["fixture-libs".to_owned()]);
    assert_eq!(tools.changelog_times, vec![1_700_000_000]);
    // Size: the package's regular files as stat sees them, the hardlinked pair counted once.
    let size = |rel: &str| std::fs::metadata(f.path(rel)).unwrap().len();
    let want: u64 = [
        "usr/bin/tool",
        "usr/bin/tool-hard1",
        "usr/bin/su-helper",
        "usr/bin/ping-helper",
        "etc/tool.conf",
        "usr/bin/legacy",
    ]
    .iter()
    .map(|p| size(p))
    .sum();
    assert_eq!(tools.size, want);
    assert_eq!(l.packages.len(), 2);
    let p = l
        .packages
        .iter()
        .find(|p| p.name == "fixture-libs")
        .unwrap();
    assert_eq!(p.nevra(), "fixture-libs-2:3.1-4.noarch");
    // A fresh install differs from the rpmdb only where the fixture set a capability after
    // installing (real `rpm -V` flags it too, see below).
    let modified: Vec<String> = l
        .warnings
        .iter()
        .map(|w| w.path.strip_prefix(&f.root).unwrap().display().to_string())
        .collect();
    assert_eq!(modified, vec!["usr/bin/ping-helper".to_owned()]);
}

/// After tampering, our warnings name the same files real `rpm -V` names.
#[test]
fn rpm_v_view_matches_real_rpm_v() {
    let f = Fixture::standard();
    std::fs::write(f.path("usr/bin/tool"), b"#!/bin/sh\necho TOOL\n").unwrap(); // same size
    f.file("usr/lib/fixture/libfixture.so.1", &[0x7f; 4000], 0o755); // size
    let status = Command::new("chmod")
        .arg("0700")
        .arg(f.path("usr/bin/su-helper"))
        .status()
        .unwrap();
    assert!(status.success());
    let l = load_verified(&f);
    let ours: BTreeSet<String> = l
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::Modified)
        .map(|w| w.path.strip_prefix(&f.root).unwrap().display().to_string())
        .collect();
    let out = Command::new("rpm")
        .arg("--root")
        .arg(&f.root)
        .args([
            "--dbpath",
            "/usr/lib/sysimage/rpm",
            "-Va",
            "--nomtime",
            "--nouser",
            "--nogroup",
        ])
        .output()
        .unwrap();
    // rpm -V lines: "S.5......  c /path" (the attribute column is 9 characters).
    let theirs: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .map(|p| p.trim_start_matches('/').to_owned())
        .map(|p| p.replacen("bin/", "usr/bin/", usize::from(p.starts_with("bin/"))))
        .collect();
    assert_eq!(
        ours,
        theirs,
        "rpm -V said:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        ours.len(),
        4,
        "tool (digest), libfixture (size), su-helper (mode), ping-helper (caps)"
    );
}

/// A non-package component's version changes exactly when its content does.
#[test]
fn unowned_component_version_tracks_content() {
    let f = Fixture::standard();
    let before = load(&f.root, &LoadOptions::default()).unwrap();
    let again = load(&f.root, &LoadOptions::default()).unwrap();
    assert_eq!(before.components, again.components, "deterministic");
    f.file("etc/hostname", b"renamed\n", 0o644);
    let after = load(&f.root, &LoadOptions::default()).unwrap();
    for (b, a) in before.components.iter().zip(&after.components) {
        assert_eq!(b.name, a.name);
        let changed = b.version != a.version;
        assert_eq!(changed, b.name == "unpackaged:/etc", "{}", b.name);
    }
}

/// The version of unowned content moves with what the image writer puts in the layer: a file
/// rewritten with the same bytes but a new mtime changes it, unless `SOURCE_DATE_EPOCH` clamps
/// both mtimes to the same value; a directory's mtime never does (the writer does not keep it).
#[test]
fn unowned_component_version_tracks_written_mtimes() {
    let f = Fixture::standard();
    let version = |clamp: Option<i64>| {
        let opts = LoadOptions {
            rules: rechunk_rootfs::WriteRules {
                clamp_mtime: clamp,
                ..Default::default()
            },
            ..LoadOptions::default()
        };
        let l = load(&f.root, &opts).unwrap();
        let c = l.components.iter().find(|c| c.name == "unpackaged:/etc");
        c.expect("unpackaged:/etc").version.clone()
    };
    f.set_mtime("etc/hostname", 1_600_000_000);
    let (plain, clamped) = (version(None), version(Some(1_000_000_000)));
    f.set_mtime("etc", 1_700_000_000);
    assert_eq!(version(None), plain, "a directory mtime is not written");
    f.set_mtime("etc/hostname", 1_650_000_000);
    assert_ne!(version(None), plain, "same bytes, new mtime in the layer");
    assert_eq!(
        version(Some(1_000_000_000)),
        clamped,
        "both mtimes clamp to the same value"
    );
}

/// `rechunk scan --json` prints the documented object.
#[test]
fn scan_json_contract() {
    let f = Fixture::standard();
    let out = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["scan", "--json", "--rootfs"])
        .arg(&f.root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkgs = v["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 2);
    let libs = pkgs.iter().find(|p| p["name"] == "fixture-libs").unwrap();
    assert_eq!(libs["epoch"], 2);
    assert_eq!(libs["version"], "3.1");
    assert_eq!(libs["release"], "4");
    assert_eq!(libs["arch"], "noarch");
    assert!(libs["files"].as_u64().unwrap() >= 3);
    assert!(libs["size"].as_u64().unwrap() >= 4096);
    let comps = v["components"].as_array().unwrap();
    let big = comps
        .iter()
        .find(|c| c["name"] == "file:/opt/big.bin")
        .unwrap();
    assert_eq!(big["kind"], "big-file");
    assert_eq!(big["files"], 1);
    assert_eq!(big["size"], fixture::BIG_FILE_SIZE as u64);
    assert!(v["unowned"]["files"].as_u64().unwrap() >= 6);
    assert_eq!(
        v["warnings"].as_array().unwrap().len(),
        1,
        "the capability set after install"
    );
    // The human table names the same components.
    let out = Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["scan", "--rootfs"])
        .arg(&f.root)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("fixture-tools") && text.contains("unpackaged:/etc"),
        "{text}"
    );
}

/// ostree-style trees keep /etc as /usr/etc: rpm's `/etc/x` is found there.
#[test]
fn usr_etc_holds_the_packages_etc_files() {
    let f = Fixture::standard();
    std::fs::create_dir_all(f.path("usr/etc")).unwrap();
    std::fs::rename(f.path("etc/tool.conf"), f.path("usr/etc/tool.conf")).unwrap();
    let l = load(&f.root, &LoadOptions::default()).unwrap();
    assert_eq!(
        component_of(&l, "usr/etc/tool.conf"),
        ("fixture-tools", Rule::Package)
    );
}

/// `user.component` beats package ownership and is inherited; a child may override it; every
/// link of a hardlinked inode follows its strongest link.
#[test]
fn xattr_component_precedence_and_hardlinks() {
    let f = Fixture::standard();
    f.set_xattr("usr/share/tool", "user.component", b"tool-data");
    std::fs::hard_link(f.path("usr/bin/tool"), f.path("opt/tool-alias")).unwrap();
    f.file("srv/custom/sub/own", b"o", 0o644);
    f.set_xattr("srv/custom/sub/own", "user.component", b"other");
    let l = load(&f.root, &LoadOptions::default()).unwrap();
    assert_eq!(
        component_of(&l, "usr/share/tool/empty"),
        ("tool-data", Rule::Xattr)
    );
    assert_eq!(
        component_of(&l, "srv/custom/sub/own"),
        ("other", Rule::Xattr)
    );
    assert_eq!(
        component_of(&l, "srv/custom/sub/b"),
        ("custom-data", Rule::Xattr)
    );
    // An unowned link sorts first, yet the package's link decides.
    assert_eq!(
        component_of(&l, "usr/bin/tool"),
        ("fixture-tools", Rule::Package)
    );
    assert_eq!(
        component_of(&l, "opt/tool-alias"),
        ("fixture-tools", Rule::Hardlink)
    );
    // The package record still owns the path for the rpm -V view.
    let (i, _) = entry(&l, "usr/share/tool/empty");
    assert!(l.package_of[i].is_some());
}

/// `--group-by-source` on the real AL2023 database: one component per source rpm, the set
/// of names derived independently from `rpm -qa`'s SOURCERPM column (packages.csv).
#[test]
fn group_by_source_on_al2023() {
    let f = Fixture::empty();
    let db = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpmdb/al2023");
    std::fs::create_dir_all(f.path("usr/lib/sysimage/rpm")).unwrap();
    std::fs::copy(
        db.join("rpmdb.sqlite"),
        f.path("usr/lib/sysimage/rpm/rpmdb.sqlite"),
    )
    .unwrap();
    let csv = std::fs::read_to_string(db.join("packages.csv")).unwrap();
    let want: BTreeSet<String> = csv
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('¶').collect();
            match f[5].strip_suffix(".src.rpm") {
                // name-version-release: drop the last two dash-separated fields.
                Some(stem) => stem.rsplitn(3, '-').nth(2).unwrap().to_owned(),
                None => f[1].to_owned(), // gpg-pubkey has no source rpm
            }
        })
        .collect();
    let opts = LoadOptions {
        group_by_source: true,
        ..LoadOptions::default()
    };
    let l = load(&f.root, &opts).unwrap();
    let got: BTreeSet<String> = l
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::SourcePackage)
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(got, want);
    assert!(got.len() < 103, "subpackages share a source");
    let glibc = l.components.iter().find(|c| c.name == "glibc").unwrap();
    assert!(!glibc.changelog_times.is_empty() && glibc.build_time.is_some());
    // Without grouping: one component per package, gpg-pubkey included.
    let l = load(&f.root, &LoadOptions::default()).unwrap();
    let packages = l
        .components
        .iter()
        .filter(|c| c.kind == ComponentKind::Package)
        .count();
    assert_eq!(packages, 103);
    // The files are absent from this tree: the rpm -V view says so.
    assert!(l.warnings.iter().any(|w| w.kind == WarningKind::Missing));
}
