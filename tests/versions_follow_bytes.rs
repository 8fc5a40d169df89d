//! The rule everything else rests on: a component's version changes iff the bytes of its layer
//! do. An in-memory tree (package components with rpm records, unowned content, an xattr
//! component) is changed one entry field at a time; each time it is assigned to components
//! (`rechunk_rootfs::assign_components`) and written as a real image (`rechunk_oci`, one layer
//! per component, uncompressed), and for every component present before and after, its
//! version moved iff its layer's blob digest did.

use std::collections::BTreeMap;

use rechunk_model::{ChangeHistory, Component, Layer, Plan, PlanRecord, PLAN_RECORD_VERSION};
use rechunk_oci::{build_image, component_versions, BuildRequest, Compression, ImageRef};
use rechunk_rootfs::{assign_components, ComponentInput};
use rechunk_rpmdb::{FileFlags, Package, PackageFile, S_IFDIR, S_IFLNK, S_IFREG};
use rechunk_tree::{Entry, EntryKind, InodeId, MemorySource, SelinuxMode, Tree, WriteRules};

const MTIME: i64 = 1_700_000_000;
/// `setcap cap_net_raw=ep` (VFS_CAP_REVISION_2 with the effective flag, bit 13 permitted).
const NET_RAW: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A tree with its contents and installed packages.
#[derive(Clone)]
struct Input {
    tree: Tree,
    content: MemorySource,
    packages: Vec<Package>,
}

fn entry(path: &str, kind: EntryKind, mode: u32, size: u64) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        size,
        mtime: MTIME,
        xattrs: Vec::new(),
        hardlink: None,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

fn record(path: &str, mode: u32, content: Option<&[u8]>) -> PackageFile {
    PackageFile {
        path: format!("/{path}"),
        size: content.map_or(0, |c| c.len() as u64),
        digest: content.map(sha256_hex),
        mode,
        mtime: MTIME,
        flags: FileFlags::default(),
        user: "root".into(),
        group: "root".into(),
        link_target: None,
        installed: true,
        caps: None,
        inode: (0, 0),
    }
}

fn package(name: &str, files: Vec<PackageFile>) -> Package {
    Package {
        hnum: 1,
        name: name.into(),
        epoch: None,
        version: "1.0".into(),
        release: "1".into(),
        arch: "x86_64".into(),
        source_rpm: Some(format!("{name}-1.0-1.src.rpm")),
        size: 0,
        build_time: MTIME,
        changelog_times: Vec::new(),
        digest_algo: 8,
        files,
        requires: Vec::new(),
        provides: Vec::new(),
    }
}

/// `filesystem` owns the directories, `tool` a file, a symlink, a hardlinked pair, a file with
/// a recorded capability and a directory of its own; `libs` a library. Unowned: /etc/hostname,
/// /opt/app/{a,b}; `srv/custom` is named by `user.component`.
fn base() -> Input {
    use EntryKind::*;
    let files: [(&str, &[u8]); 9] = [
        ("usr/bin/tool", b"#!/bin/sh\necho tool\n"),
        ("usr/bin/h1", b"hard\n"),
        ("usr/bin/h2", b"hard\n"),
        ("usr/bin/ping", b"ping\n"),
        ("usr/share/tool/data", b"data\n"),
        ("usr/lib/libx.so", &[0x7f; 300]),
        ("etc/hostname", b"host\n"),
        ("opt/app/a", b"a\n"),
        ("srv/custom/f", b"custom\n"),
    ];
    let mut content = MemorySource::new();
    let mut entries = Vec::new();
    for d in [
        "etc",
        "opt",
        "opt/app",
        "srv",
        "srv/custom",
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/share",
        "usr/share/tool",
    ] {
        entries.push(entry(d, Directory, 0o755, 0));
    }
    for (p, c) in files {
        content.insert(p, c.to_vec());
        entries.push(entry(p, Regular, 0o755, c.len() as u64));
    }
    entries.push(entry("opt/app/b", Symlink("a".into()), 0o777, 0));
    entries.push(entry("usr/bin/tool-link", Symlink("tool".into()), 0o777, 0));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let at = |p: &str| {
        entries
            .iter()
            .position(|e| e.path.as_os_str() == p)
            .unwrap()
    };
    let link = InodeId { dev: 1, ino: 7 };
    let (h1, h2, ping, custom) = (
        at("usr/bin/h1"),
        at("usr/bin/h2"),
        at("usr/bin/ping"),
        at("srv/custom"),
    );
    entries[h1].hardlink = Some(link);
    entries[h2].hardlink = Some(link);
    entries[ping]
        .xattrs
        .push(("security.capability".into(), NET_RAW.to_vec()));
    entries[custom]
        .xattrs
        .push(("user.component".into(), b"custom".to_vec()));

    let dir = |p: &str| record(p, S_IFDIR | 0o755, None);
    let file = |p: &str| record(p, S_IFREG | 0o755, content.get(std::path::Path::new(p)));
    let mut tool_files = vec![
        file("usr/bin/tool"),
        file("usr/bin/h1"),
        file("usr/bin/h2"),
        file("usr/bin/ping"),
        dir("usr/share/tool"),
        file("usr/share/tool/data"),
        PackageFile {
            link_target: Some("tool".into()),
            ..record("usr/bin/tool-link", S_IFLNK | 0o777, None)
        },
    ];
    tool_files[1].inode = (1, 5);
    tool_files[2].inode = (1, 5);
    tool_files[3].caps = Some("cap_net_raw=ep".into());
    let packages = vec![
        package(
            "filesystem",
            [
                "etc",
                "opt",
                "srv",
                "usr",
                "usr/bin",
                "usr/lib",
                "usr/share",
            ]
            .map(dir)
            .to_vec(),
        ),
        package("tool", tool_files),
        package("libs", vec![file("usr/lib/libx.so")]),
    ];
    Input {
        tree: Tree {
            root: "/memory".into(),
            entries,
        },
        content,
        packages,
    }
}

/// Per component present: (version, digest of its layer blob).
fn build(input: &Input, rules: WriteRules) -> BTreeMap<String, (String, String)> {
    let owned = assign_components(
        &input.tree,
        &input.content,
        &ComponentInput {
            packages: &input.packages,
            rpmdb_dirs: &[],
            group_by_source: false,
            rules,
            late_content_versions: false,
        },
    )
    .expect("components");
    let plan = Plan::new(
        owned
            .components
            .iter()
            .map(|c| Layer::new([c.name.clone()]))
            .collect(),
    );
    let record = PlanRecord {
        version: PLAN_RECORD_VERSION,
        strategy: "per-component".into(),
        max_layers: plan.len(),
        plan: plan.clone(),
        components: component_versions(&owned.components),
        history: ChangeHistory::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let output = ImageRef::parse_output(&format!("oci:{}", dir.path().join("img").display()))
        .expect("output");
    let report = build_image(&BuildRequest {
        tree: &input.tree,
        content: &input.content,
        components: &owned.components,
        owner: &owned.owner,
        plan: &plan,
        record: &record,
        output: &output,
        compression: Compression::None,
        jobs: 1,
        created: 0,
        rules,
        labels: &[],
        base_config: None,
        progress: None,
        late_versions: None,
    })
    .expect("image");
    let version = |c: &Component| c.version.clone();
    report
        .layers
        .iter()
        .map(|l| {
            let name = &l.components[0];
            let c = owned.components.iter().find(|c| &c.name == name).unwrap();
            (name.clone(), (version(c), l.digest.clone()))
        })
        .collect()
}

fn index(input: &Input, path: &str) -> usize {
    input
        .tree
        .entries
        .iter()
        .position(|e| e.path.as_os_str() == path)
        .unwrap_or_else(|| panic!("{path} in the tree"))
}

/// Sets `path`'s content (and size).
fn rewrite(input: &mut Input, path: &str, bytes: &[u8]) {
    let i = index(input, path);
    input.tree.entries[i].size = bytes.len() as u64;
    input.content.insert(path, bytes.to_vec());
}

type Change = fn(&mut Input);

/// Every field of an entry, on package-owned, unowned and xattr-named entries alike.
fn changes() -> Vec<(&'static str, Change)> {
    fn set(input: &mut Input, path: &str, f: impl FnOnce(&mut Entry)) {
        let i = index(input, path);
        f(&mut input.tree.entries[i]);
    }
    vec![
        ("package file mode", |i| {
            set(i, "usr/bin/tool", |e| e.mode = 0o700)
        }),
        ("package file setuid", |i| {
            set(i, "usr/bin/tool", |e| e.mode = 0o4755)
        }),
        ("package file uid", |i| {
            set(i, "usr/bin/tool", |e| e.uid = 7)
        }),
        ("package file gid", |i| {
            set(i, "usr/bin/tool", |e| e.gid = 7)
        }),
        ("package file mtime", |i| {
            set(i, "usr/lib/libx.so", |e| e.mtime = MTIME + 100)
        }),
        ("package file size and content", |i| {
            rewrite(i, "usr/bin/tool", b"#!/bin/sh\necho tool 2\n")
        }),
        ("package file content, new mtime", |i| {
            rewrite(i, "usr/bin/tool", b"#!/bin/sh\necho TOOL\n");
            set(i, "usr/bin/tool", |e| e.mtime = MTIME + 5);
        }),
        ("package file user xattr", |i| {
            set(i, "usr/bin/tool", |e| {
                e.xattrs.push(("user.note".into(), b"x".to_vec()))
            })
        }),
        ("package file SELinux label", |i| {
            set(i, "usr/lib/libx.so", |e| {
                e.xattrs.push((
                    "security.selinux".into(),
                    b"system_u:object_r:lib_t:s0".to_vec(),
                ))
            })
        }),
        ("recorded capability removed", |i| {
            set(i, "usr/bin/ping", |e| e.xattrs.clear())
        }),
        ("recorded capability changed", |i| {
            set(i, "usr/bin/ping", |e| e.xattrs[0].1[5] = 0x10)
        }),
        ("symlink target", |i| {
            set(i, "usr/bin/tool-link", |e| {
                e.kind = EntryKind::Symlink("ping".into())
            })
        }),
        ("file becomes a symlink", |i| {
            set(i, "usr/bin/tool", |e| {
                e.kind = EntryKind::Symlink("ping".into());
                e.size = 0;
            })
        }),
        ("hardlink set split", |i| {
            set(i, "usr/bin/h2", |e| e.hardlink = None);
            set(i, "usr/bin/h1", |e| e.hardlink = None);
        }),
        ("file joins a hardlink set", |i| {
            rewrite(i, "usr/bin/tool", b"hard\n");
            set(i, "usr/bin/tool", |e| {
                e.hardlink = Some(InodeId { dev: 1, ino: 7 })
            });
        }),
        ("owned directory mode (a parent of other layers)", |i| {
            set(i, "usr/bin", |e| e.mode = 0o750)
        }),
        (
            "owned directory SELinux label (a parent of other layers)",
            |i| {
                set(i, "usr", |e| {
                    e.xattrs.push((
                        "security.selinux".into(),
                        b"system_u:object_r:usr_t:s0".to_vec(),
                    ))
                })
            },
        ),
        ("package directory owner", |i| {
            set(i, "usr/share/tool", |e| e.uid = 5)
        }),
        ("directory mtime (never written)", |i| {
            set(i, "usr/share/tool", |e| e.mtime = 1)
        }),
        ("unowned file mode", |i| {
            set(i, "etc/hostname", |e| e.mode = 0o600)
        }),
        ("unowned file owner", |i| {
            set(i, "etc/hostname", |e| e.gid = 3)
        }),
        ("unowned file mtime", |i| {
            set(i, "etc/hostname", |e| e.mtime = MTIME + 1)
        }),
        ("unowned content, same size and mtime", |i| {
            rewrite(i, "etc/hostname", b"HOST\n")
        }),
        ("unowned user xattr", |i| {
            set(i, "opt/app/a", |e| {
                e.xattrs.push(("user.x".into(), b"1".to_vec()))
            })
        }),
        ("unowned symlink target", |i| {
            set(i, "opt/app/b", |e| e.kind = EntryKind::Symlink("c".into()))
        }),
        ("unowned directory mode", |i| {
            set(i, "opt/app", |e| e.mode = 0o700)
        }),
        ("xattr component file mode", |i| {
            set(i, "srv/custom/f", |e| e.mode = 0o600)
        }),
        ("xattr component directory owner", |i| {
            set(i, "srv/custom", |e| e.uid = 9)
        }),
    ]
}

/// Versions that moved and layers whose bytes moved, compared component by component.
fn check(
    what: &str,
    before: &BTreeMap<String, (String, String)>,
    after: &BTreeMap<String, (String, String)>,
) -> usize {
    let mut moved = 0;
    for (name, (v0, d0)) in before {
        let Some((v1, d1)) = after.get(name) else {
            continue;
        };
        assert_eq!(
            v0 != v1,
            d0 != d1,
            "{what}: component {name}: version {v0} -> {v1}, layer {d0} -> {d1}"
        );
        moved += usize::from(d0 != d1);
    }
    moved
}

/// Under every `--selinux` mode: a label is written (and moves its layer and version) under
/// `keep`, and is never written under `strip`, the default.
#[test]
fn every_field_moves_the_layer_bytes_iff_it_moves_the_version() {
    for selinux in [SelinuxMode::Strip, SelinuxMode::Keep] {
        let rules = WriteRules {
            selinux,
            ..WriteRules::default()
        };
        let input = base();
        let before = build(&input, rules);
        assert_eq!(before.len(), 6, "{before:?}");
        // The untouched packages are as recorded: pure EVRs.
        assert_eq!(before["tool"].0, "1.0-1.x86_64");
        assert_eq!(before["filesystem"].0, "1.0-1.x86_64");
        for (what, change) in changes() {
            let mut changed = input.clone();
            change(&mut changed);
            let after = build(&changed, rules);
            let what = format!("{what} ({selinux:?})");
            let moved = check(&what, &before, &after);
            let stripped = selinux == SelinuxMode::Strip && what.contains("SELinux label");
            if what.contains("never written") || stripped {
                assert_eq!(moved, 0, "{what}: {after:?}");
            } else {
                assert!(
                    moved > 0,
                    "{what}: no layer changed, the change was not written"
                );
            }
        }
    }
}

/// With `SOURCE_DATE_EPOCH` below both mtimes, an mtime change is not written: nothing moves.
#[test]
fn clamped_mtimes_move_nothing() {
    let rules = WriteRules {
        clamp_mtime: Some(MTIME - 10),
        ..WriteRules::default()
    };
    let input = base();
    let before = build(&input, rules);
    for path in ["usr/bin/tool", "etc/hostname", "usr/bin/tool-link"] {
        let mut changed = input.clone();
        let i = index(&changed, path);
        changed.tree.entries[i].mtime = MTIME + 100;
        let after = build(&changed, rules);
        assert_eq!(check(path, &before, &after), 0, "{path}");
    }
}
