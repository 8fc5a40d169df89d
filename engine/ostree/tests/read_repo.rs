//! Reading commits with libostree (feature `libostree`): the tree of a commit made by real
//! `ostree commit` equals the tree it was made from (content, types, modes, owners, xattrs;
//! mtimes are 0, as in a checkout), in `bare` and `archive` repositories; the commit log and
//! rpm-ostree's package list metadata. Needs root and Debian's `ostree`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use rechunk_ostree::{commit_log, read_commit, OstreeRef, PackageSource};
use rechunk_rootfs::{scan, ContentSource, EntryKind, ScanOptions, Tree};

use common::{ostree, set_xattr, write};

fn make_tree(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(root, "usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
    write(root, "usr/bin/su-helper", b"setuid\n", 0o4755);
    set_xattr(&root.join("usr/bin/tool"), "user.component", b"tools");
    write(
        root,
        "usr/share/big",
        &(0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
        0o644,
    );
    write(root, "usr/share/empty-file", b"", 0o600);
    symlink("tool", root.join("usr/bin/tool-link")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/empty-dir")).unwrap();
    std::fs::set_permissions(
        root.join("usr/share/empty-dir"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    write(root, "home/u/f", b"owned", 0o640);
    std::os::unix::fs::chown(root.join("home/u/f"), Some(1234), Some(4321)).unwrap();
    std::os::unix::fs::chown(root.join("home/u"), Some(1234), Some(4321)).unwrap();
    write(root, "tmp/junk", b"left out", 0o644);
}

fn commit(repo: &Path, mode: &str, root: &Path, extra: &[&str]) -> String {
    let r = repo.to_str().unwrap();
    if !repo.exists() {
        ostree(&["init", "--repo", r, &format!("--mode={mode}")]);
    }
    let tree = format!("--tree=dir={}", root.display());
    let mut args = vec!["commit", "--repo", r, "--branch=os", "--subject=s", &tree];
    args.extend_from_slice(extra);
    ostree(&args)
}

/// path → (kind, mode, uid, gid, size, xattrs, content).
type Seen = BTreeMap<
    PathBuf,
    (
        EntryKind,
        u32,
        u32,
        u32,
        u64,
        Vec<(std::ffi::OsString, Vec<u8>)>,
        Vec<u8>,
    ),
>;

fn seen(tree: &Tree, content: &dyn ContentSource) -> Seen {
    tree.entries
        .iter()
        .map(|e| {
            let mut bytes = Vec::new();
            if e.is_regular() {
                content.open(e).unwrap().read_to_end(&mut bytes).unwrap();
            }
            let mut x = e.xattrs.clone();
            x.retain(|(n, _)| n != "security.selinux");
            (
                e.path.clone(),
                (e.kind.clone(), e.mode, e.uid, e.gid, e.size, x, bytes),
            )
        })
        .collect()
}

#[test]
fn commit_trees_equal_their_input_in_bare_and_archive_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root);
    let scanned = scan(&root, &ScanOptions::default()).unwrap().tree;
    let dir_content = rechunk_rootfs::DirSource::open(&root).unwrap();
    let want = seen(&scanned, &dir_content);
    for mode in ["bare", "archive"] {
        let repo = dir.path().join(format!("repo-{mode}"));
        let checksum = commit(&repo, mode, &root, &[]);
        let r = OstreeRef::parse(&format!("ostree:{}:os", repo.display())).unwrap();
        let read = read_commit(&r, None).unwrap();
        assert_eq!(read.commit.checksum, checksum);
        assert!(read.tree.entries.iter().all(|e| e.mtime == 0));
        assert!(read.tree.entries.iter().all(|e| e.hardlink.is_none()));
        let got = seen(&read.tree, &read.content);
        for (p, w) in &want {
            assert_eq!(got.get(p), Some(w), "{mode}: {}", p.display());
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{mode}: {:?}",
            got.keys().collect::<Vec<_>>()
        );
        assert!(
            read.skipped.iter().any(|s| s.path.starts_with("tmp")),
            "{:?}",
            read.skipped
        );
        // A checksum works as the ref too.
        let by_sum = OstreeRef::parse(&format!("ostree:{}:{checksum}", repo.display())).unwrap();
        assert_eq!(
            read_commit(&by_sum, None).unwrap().tree.entries.len(),
            read.tree.entries.len()
        );
    }
}

#[test]
fn log_follows_parents_with_package_lists() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root);
    let repo = dir.path().join("repo");
    let pkgs = |v: &str| {
        format!("--add-metadata=rpmostree.rpmdb.pkglist=[('bash', '0', '{v}', '1.fc40', 'x86_64'), ('kernel', '2', '6.9', '200.fc40', 'x86_64')]")
    };
    let first = commit(
        &repo,
        "archive",
        &root,
        &[
            "--add-metadata-string=version=40.1",
            "--timestamp=@1700000000",
            &pkgs("5.2"),
        ],
    );
    write(&root, "usr/bin/tool", b"#!/bin/sh\necho tool 2\n", 0o755);
    let second = commit(
        &repo,
        "archive",
        &root,
        &[
            "--add-metadata-string=version=40.2",
            "--timestamp=@1700086400",
            &pkgs("5.3"),
        ],
    );
    let r = OstreeRef::parse(&format!("ostree:{}:os", repo.display())).unwrap();
    let log = commit_log(&r, true, dir.path()).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].checksum.as_str(), log[1].checksum.as_str()),
        (second.as_str(), first.as_str())
    );
    assert_eq!(log[0].id(), "40.2");
    assert_eq!(log[1].timestamp, 1_700_000_000);
    let p = log[0].packages.as_ref().unwrap();
    assert_eq!(p.source, PackageSource::Pkglist);
    assert_eq!(p.packages[0].nevra(), "bash-5.3-1.fc40.x86_64");
    assert_eq!(p.packages[1].evr(), "2:6.9-200.fc40");
}

#[test]
fn missing_refs_partial_commits_and_non_repositories_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root);
    let repo = dir.path().join("repo");
    let checksum = commit(&repo, "bare", &root, &[]);
    let r = OstreeRef::parse(&format!("ostree:{}:nope", repo.display())).unwrap();
    let err = read_commit(&r, None).err().unwrap().to_string();
    assert!(err.contains("nope"), "{err}");
    let not_repo = OstreeRef::parse(&format!("ostree:{}:os", root.display())).unwrap();
    let err = read_commit(&not_repo, None).err().unwrap().to_string();
    assert!(err.contains("not an ostree repository"), "{err}");
    // Marked partial, as `ostree pull --commit-metadata-only` leaves a commit.
    std::fs::create_dir_all(repo.join("state")).unwrap();
    std::fs::write(
        repo.join("state").join(format!("{checksum}.commitpartial")),
        b"",
    )
    .unwrap();
    let r = OstreeRef::parse(&format!("ostree:{}:os", repo.display())).unwrap();
    let err = read_commit(&r, None).err().unwrap().to_string();
    assert!(err.contains("partial"), "{err}");
}
