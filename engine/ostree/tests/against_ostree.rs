//! The commit this crate computes for a tree is the commit real `ostree commit` makes of it:
//! same file objects, dirtrees, dirmetas and commit checksum. Needs root (owners,
//! `security.capability`) and Debian's `ostree` (scripts/test.sh installs it).

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use rechunk_ostree::gvariant::Value;
use rechunk_ostree::object::{object_path, Checksum};
use rechunk_ostree::{build_commit, file_objects, CommitMeta, Hooks};
use rechunk_rootfs::{scan, DirSource, ScanOptions, WriteRules};

use common::{ostree, set_xattr, write};

/// Owners, modes (setuid, sticky, 0600), xattrs on files and directories, symlinks, empty
/// files and directories, identical files, a file large enough for 2-byte GVariant offsets in
/// its directory, and names whose order differs between byte order and other orders.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(root, "usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
    write(root, "usr/bin/su-helper", b"setuid\n", 0o4755);
    write(root, "usr/bin/ping", b"ping\n", 0o755);
    set_xattr(
        &root.join("usr/bin/ping"),
        "security.capability",
        &[
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    );
    write(root, "usr/share/a", b"same", 0o644);
    write(root, "usr/share/B", b"same", 0o644);
    write(root, "usr/share/a-b", b"", 0o600);
    write(root, "usr/share/a.b", &vec![9u8; 300_000], 0o644);
    set_xattr(&root.join("usr/share/a.b"), "user.z", b"last");
    set_xattr(&root.join("usr/share/a.b"), "user.a", b"first");
    symlink("tool", root.join("usr/bin/tool-link")).unwrap();
    symlink("/usr/bin", root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/empty")).unwrap();
    std::fs::create_dir_all(root.join("var/spool")).unwrap();
    std::fs::set_permissions(
        root.join("var/spool"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    set_xattr(&root.join("var/spool"), "user.dir", b"d");
    write(root, "home/user/file", b"owned", 0o640);
    std::os::unix::fs::chown(root.join("home/user/file"), Some(1234), Some(4321)).unwrap();
    std::os::unix::fs::chown(root.join("home/user"), Some(1234), Some(4321)).unwrap();
    for i in 0..40 {
        write(
            root,
            &format!("usr/lib/many/file-with-a-longish-name-{i:03}"),
            format!("{i}").as_bytes(),
            0o644,
        );
    }
}

#[test]
fn computed_commit_equals_ostree_commit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root);
    let repo = dir.path().join("repo");
    let repo_s = repo.to_str().unwrap();
    ostree(&["init", "--repo", repo_s, "--mode=bare"]);
    let tree_arg = format!("--tree=dir={}", root.display());
    ostree(&[
        "commit",
        "--repo",
        repo_s,
        "--branch=test",
        "--no-bindings",
        "--subject=fixture",
        "--timestamp=@1700000000",
        "--add-metadata-string=version=42.1",
        &tree_arg,
    ]);
    let theirs = ostree(&["rev-parse", "--repo", repo_s, "test"]);

    let scanned = scan(&root, &ScanOptions::default()).unwrap().tree;
    let content = DirSource::open(&root).unwrap();
    let rules = WriteRules::default();
    let files = file_objects(&scanned, &content, &rules, Hooks::NONE).unwrap();
    let meta = CommitMeta {
        metadata: vec![("version".into(), Value::Str("42.1".into()))],
        subject: "fixture".into(),
        body: String::new(),
        timestamp: 1_700_000_000,
    };
    let ours = build_commit(&scanned, files.clone(), &rules, meta).unwrap();

    // Every object we computed is in the repository, byte for byte.
    let objects = repo.join("objects");
    for (sum, bytes) in ours.dirtrees.iter() {
        let theirs = std::fs::read(objects.join(object_path(sum, "dirtree")))
            .unwrap_or_else(|e| panic!("dirtree {sum} not in the repository: {e}"));
        assert_eq!(&theirs, bytes, "dirtree {sum}");
    }
    for (sum, bytes) in ours.dirmetas.iter() {
        let theirs = std::fs::read(objects.join(object_path(sum, "dirmeta")))
            .unwrap_or_else(|e| panic!("dirmeta {sum} not in the repository: {e}"));
        assert_eq!(&theirs, bytes, "dirmeta {sum}");
    }
    for (e, f) in scanned.entries.iter().zip(&files) {
        if let Some(sum) = f {
            let path = objects.join(object_path(sum, "file"));
            assert!(
                path.symlink_metadata().is_ok(),
                "{}: file object {sum} not in the repository",
                e.path.display()
            );
        }
    }
    assert_eq!(ours.checksum.to_hex(), theirs);
    let stored = std::fs::read(objects.join(object_path(&ours.checksum, "commit"))).unwrap();
    assert_eq!(stored, ours.bytes);
    // And ostree's own check agrees.
    ostree(&["fsck", "--repo", repo_s]);
    assert!(Checksum::from_hex(&theirs).is_some());
}
