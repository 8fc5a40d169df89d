//! Shared by the image writer's integration tests: a real fixture tree on disk (setuid, file
//! capability, user xattr, owners, hardlinks, empty and sticky directories, long paths,
//! escaping symlinks, a kernel), a small walker that records a tree the way the scan does, and
//! a comparison of two trees entry by entry.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rechunk_model::{Component, ComponentKind, Layer, Plan};
use rechunk_tree::{Entry, EntryKind, InodeId, Tree};

/// The capability `setcap cap_net_raw+ep` writes (VFS_CAP_REVISION_2, permitted+effective).
pub const CAP_NET_RAW: &[u8] = &[
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

pub fn long_dir() -> String {
    format!("usr/share/{}/{}", "d".repeat(90), "e".repeat(60))
}

/// Writes the fixture under `root`.
pub fn make_fixture(root: &Path) {
    let dir = |p: &str, mode: u32| {
        let path = root.join(p);
        fs::create_dir_all(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    let file = |p: &str, content: &[u8], mode: u32| {
        let path = root.join(p);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    dir("usr", 0o755);
    dir("usr/bin", 0o755);
    dir("usr/lib", 0o755);
    dir("usr/lib/modules/6.9.0", 0o755);
    dir("usr/share", 0o755);
    dir("etc", 0o755);
    dir("var", 0o755);
    dir("var/empty", 0o755);
    dir("var/tmp", 0o1777);
    dir("home/user", 0o700);
    file("usr/bin/su", b"#!/bin/sh\necho su\n", 0o4755);
    file("usr/bin/newgrp", b"newgrp", 0o2755);
    file("usr/bin/ping", b"ping binary", 0o755);
    rustix::fs::lsetxattr(
        root.join("usr/bin/ping"),
        "security.capability",
        CAP_NET_RAW,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    file("usr/bin/a", b"hardlinked content", 0o755);
    fs::hard_link(root.join("usr/bin/a"), root.join("usr/bin/b")).unwrap();
    fs::hard_link(root.join("usr/bin/a"), root.join("usr/lib/a-too")).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    file("usr/lib/libx.so.1", &big, 0o755);
    symlink("libx.so.1", root.join("usr/lib/libx.so")).unwrap();
    file("usr/lib/modules/6.9.0/vmlinuz", b"kernel", 0o644);
    file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644);
    file("etc/shadow", b"root:!::\n", 0o000);
    file("etc/tagged", b"x", 0o644);
    rustix::fs::lsetxattr(
        root.join("etc/tagged"),
        "user.component",
        b"custom",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    // Escaping symlinks: stored verbatim, never followed.
    symlink("/etc/shadow", root.join("etc/abs-escape")).unwrap();
    symlink("../../../../../outside", root.join("usr/lib/up-escape")).unwrap();
    file("home/user/notes", b"mine", 0o600);
    chown(root.join("home/user/notes"), Some(1000), Some(1000)).unwrap();
    chown(root.join("home/user"), Some(1000), Some(1000)).unwrap();
    let long = long_dir();
    dir(&long, 0o755);
    let long_target = format!("/{}/{}", "t".repeat(80), "u".repeat(80));
    symlink(&long_target, root.join(&long).join("long-link")).unwrap();
    file(&format!("{long}/file-with-a-long-path"), b"long", 0o644);
}

/// Records a tree the way the scan does (lstat, never following symlinks), sorted by path.
pub fn walk(root: &Path) -> Tree {
    let mut entries = Vec::new();
    walk_into(root, Path::new(""), &mut entries);
    entries.sort_by(|a: &Entry, b: &Entry| a.path.cmp(&b.path));
    Tree {
        root: root.to_path_buf(),
        entries,
    }
}

fn walk_into(root: &Path, rel: &Path, out: &mut Vec<Entry>) {
    for item in fs::read_dir(root.join(rel)).unwrap() {
        let item = item.unwrap();
        let rel = rel.join(item.file_name());
        let full = root.join(&rel);
        let md = fs::symlink_metadata(&full).unwrap();
        let kind = if md.file_type().is_symlink() {
            EntryKind::Symlink(fs::read_link(&full).unwrap())
        } else if md.is_dir() {
            EntryKind::Directory
        } else {
            EntryKind::Regular
        };
        let is_dir = kind == EntryKind::Directory;
        let regular = kind == EntryKind::Regular;
        out.push(Entry {
            path: rel.clone(),
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            size: if regular { md.size() } else { 0 },
            mtime: md.mtime(),
            xattrs: xattrs(&full),
            hardlink: (regular && md.nlink() > 1).then_some(InodeId {
                dev: md.dev(),
                ino: md.ino(),
            }),
        });
        if is_dir {
            walk_into(root, &rel, out);
        }
    }
}

/// xattrs of a path without following symlinks, `security.selinux` left out (labels depend
/// on the host's policy, and umoci drops them).
pub fn xattrs(path: &Path) -> Vec<(OsString, Vec<u8>)> {
    let mut names = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap_or(0);
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        if name == b"security.selinux" {
            continue;
        }
        let name = std::ffi::OsStr::from_bytes(name);
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, name, &mut value[..]).unwrap();
        out.push((name.to_os_string(), value[..len].to_vec()));
    }
    out.sort();
    out
}

/// Components by top-level area; returns (components, owner per entry).
pub fn components_of(tree: &Tree, versions: &BTreeMap<&str, &str>) -> (Vec<Component>, Vec<usize>) {
    let names = ["bin", "etc", "lib", "rest"];
    let component = |p: &Path| -> usize {
        let s = p.to_string_lossy();
        if s.starts_with("usr/bin/") {
            0
        } else if s.starts_with("etc/") {
            1
        } else if s.starts_with("usr/lib/") {
            2
        } else {
            3
        }
    };
    let owner: Vec<usize> = tree.entries.iter().map(|e| component(&e.path)).collect();
    let comps = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let size = tree
                .entries
                .iter()
                .zip(&owner)
                .filter(|(_, &o)| o == i)
                .map(|(e, _)| e.size)
                .sum();
            let v = versions.get(n).copied().unwrap_or("1");
            Component::new(*n, ComponentKind::Package, v, size)
        })
        .collect();
    (comps, owner)
}

/// bin alone, etc+lib together, an empty layer, the rest.
pub fn fixture_plan() -> Plan {
    Plan::new(vec![
        Layer::new(["bin"]),
        Layer::new(["etc", "lib"]),
        Layer::default(),
        Layer::new(["rest"]),
    ])
}

/// Every difference between two trees: type, mode, owner, size, content, symlink target,
/// xattrs, file mtimes (the first tree's clamped to `clamp`, as SOURCE_DATE_EPOCH does), and
/// the partition into hardlink groups.
pub fn differences(a: &Tree, b: &Tree, clamp: i64) -> Vec<String> {
    let mut diffs = Vec::new();
    let map = |t: &Tree| -> BTreeMap<PathBuf, Entry> {
        t.entries
            .iter()
            .map(|e| (e.path.clone(), e.clone()))
            .collect()
    };
    let (ma, mb) = (map(a), map(b));
    for p in ma.keys().filter(|p| !mb.contains_key(*p)) {
        diffs.push(format!("{}: missing from the second tree", p.display()));
    }
    for p in mb.keys().filter(|p| !ma.contains_key(*p)) {
        diffs.push(format!("{}: only in the second tree", p.display()));
    }
    for (p, ea) in &ma {
        let Some(eb) = mb.get(p) else { continue };
        let d = p.display();
        if ea.kind != eb.kind {
            diffs.push(format!("{d}: kind {:?} vs {:?}", ea.kind, eb.kind));
            continue;
        }
        for (what, x, y) in [
            ("mode", ea.mode, eb.mode),
            ("uid", ea.uid, eb.uid),
            ("gid", ea.gid, eb.gid),
        ] {
            if x != y {
                diffs.push(format!("{d}: {what} {x:o} vs {y:o}"));
            }
        }
        if ea.xattrs != eb.xattrs {
            diffs.push(format!("{d}: xattrs {:?} vs {:?}", ea.xattrs, eb.xattrs));
        }
        if ea.kind == EntryKind::Regular {
            if ea.mtime.min(clamp) != eb.mtime {
                diffs.push(format!(
                    "{d}: mtime {} vs {}",
                    ea.mtime.min(clamp),
                    eb.mtime
                ));
            }
            let ca = fs::read(a.root.join(p)).unwrap();
            let cb = fs::read(b.root.join(p)).unwrap();
            if ca != cb {
                diffs.push(format!("{d}: content differs"));
            }
        }
    }
    if link_groups(a) != link_groups(b) {
        diffs.push(format!(
            "hardlink groups {:?} vs {:?}",
            link_groups(a),
            link_groups(b)
        ));
    }
    diffs
}

fn link_groups(t: &Tree) -> Vec<Vec<PathBuf>> {
    let mut groups: BTreeMap<InodeId, Vec<PathBuf>> = BTreeMap::new();
    for e in &t.entries {
        if let Some(id) = e.hardlink {
            groups.entry(id).or_default().push(e.path.clone());
        }
    }
    let mut g: Vec<Vec<PathBuf>> = groups.into_values().collect();
    g.sort();
    g
}

/// Runs a command, panicking with its stderr when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
