//! Bad input: each case fails with an error naming the full path and the cause (or, where the
//! issue allows, is skipped with a warning under `--skip-special-files` / `--keep-going`).
//! Most cases go through the `rechunk scan` binary, as a user would meet them.
//!
//! Unreadable paths: the tests run as root, for whom mode 000 means nothing. They run the
//! binary as user `nobody` instead (`setpriv --reuid`), in a world-traversable tree where
//! one root-owned file (or directory) has mode 0600 (0700): a genuine EACCES from the kernel.

mod fixture;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

use fixture::Fixture;
use rechunk_rootfs::{load, LoadOptions, WarningKind};

fn scan(root: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .arg("scan")
        .args(extra)
        .arg("--rootfs")
        .arg(root)
        .output()
        .expect("rechunk runs")
}

/// The run failed with exit code 1 and stderr mentions every `needle`.
fn assert_fails_naming(out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    err
}

#[test]
fn missing_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-root");
    let out = scan(&missing, &[]);
    assert_fails_naming(
        &out,
        &[&missing.display().to_string(), "No such file or directory"],
    );
}

#[test]
fn non_empty_boot_names_its_content() {
    let f = Fixture::empty();
    f.file("boot/vmlinuz-6.1.0", b"kernel", 0o644);
    f.file("boot/grub2/grub.cfg", b"menu", 0o644);
    let out = scan(&f.root, &[]);
    let boot = f.path("boot");
    assert_fails_naming(
        &out,
        &[
            &boot.join("vmlinuz-6.1.0").display().to_string(),
            &boot.join("grub2").display().to_string(),
            "/boot must be empty",
        ],
    );
}

/// A symlink that climbs out of the root on the rpm database's path is refused, naming it;
/// the host's database it points at is never read.
#[test]
fn escaping_symlink_to_the_rpmdb_is_refused() {
    let f = Fixture::empty();
    let outside = f.root.parent().unwrap().join("outside-rpm");
    std::fs::create_dir_all(&outside).unwrap();
    let db = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpmdb/al2023/rpmdb.sqlite");
    std::fs::copy(db, outside.join("rpmdb.sqlite")).unwrap();
    std::fs::create_dir_all(f.path("usr/lib/sysimage")).unwrap();
    let link = f.path("usr/lib/sysimage/rpm");
    symlink("../../../../outside-rpm", &link).unwrap();
    let out = scan(&f.root, &[]);
    assert_fails_naming(
        &out,
        &[&link.display().to_string(), "leads out of the root"],
    );
}

/// Symlinks pointing outside are data: recorded verbatim, never followed.
#[test]
fn escaping_symlinks_are_recorded_not_followed() {
    let f = Fixture::empty();
    let outside = f.root.parent().unwrap().join("secret");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("key"), b"secret").unwrap();
    symlink("../../secret", f.path("etc/up")).unwrap();
    symlink(&outside, f.path("etc/abs")).unwrap();
    let l = load(&f.root, &LoadOptions::default()).unwrap();
    let paths: Vec<String> = l
        .tree
        .entries
        .iter()
        .map(|e| e.path.display().to_string())
        .collect();
    assert!(paths.contains(&"etc/up".to_owned()) && paths.contains(&"etc/abs".to_owned()));
    assert!(!paths.iter().any(|p| p.contains("key")), "{paths:?}");
    let up = l
        .tree
        .entries
        .iter()
        .find(|e| e.path == Path::new("etc/up"))
        .unwrap();
    assert_eq!(
        up.kind,
        rechunk_rootfs::EntryKind::Symlink("../../secret".into())
    );
}

fn install_db(f: &Fixture, dir: &str, file: &str, source: &Path) {
    std::fs::create_dir_all(f.path(dir)).unwrap();
    std::fs::copy(source, f.path(dir).join(file)).unwrap();
}

#[test]
fn bdb_database_is_unsupported() {
    let f = Fixture::empty();
    let bdb = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpmdb/bdb/Packages");
    install_db(&f, "var/lib/rpm", "Packages", &bdb);
    let out = scan(&f.root, &[]);
    let path = f.path("var/lib/rpm/Packages");
    assert_fails_naming(
        &out,
        &[&path.display().to_string(), "unsupported database format"],
    );
}

#[test]
fn corrupt_rpmdb_row_is_named_and_keep_going_skips_it() {
    let f = Fixture::empty();
    let db = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpmdb/al2023/rpmdb.sqlite");
    install_db(&f, "usr/lib/sysimage/rpm", "rpmdb.sqlite", &db);
    let path = f.path("usr/lib/sysimage/rpm/rpmdb.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let hnum: i64 = conn
        .query_row(
            "SELECT hnum FROM Packages WHERE hnum > 20 ORDER BY hnum LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Overwrite the index count: the header now claims more entries than it holds.
    conn.execute(
        "UPDATE Packages SET blob = X'0000FFFF00000010' || substr(blob, 9) WHERE hnum = ?1",
        [hnum],
    )
    .unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE").unwrap();
    drop(conn);
    let out = scan(&f.root, &[]);
    assert_fails_naming(
        &out,
        &[&path.display().to_string(), &format!("hnum={hnum}")],
    );

    let opts = LoadOptions {
        keep_going: true,
        ..LoadOptions::default()
    };
    let l = load(&f.root, &opts).unwrap();
    assert_eq!(l.packages.len(), 102);
    let w: Vec<_> = l
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::CorruptPackage)
        .collect();
    assert_eq!(w.len(), 1);
    assert!(w[0].message.contains(&format!("hnum={hnum}")), "{}", w[0]);
}

#[test]
fn special_files_fail_or_are_skipped() {
    let f = Fixture::empty();
    let fifo = f.path("etc/initctl");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let out = scan(&f.root, &[]);
    assert_fails_naming(
        &out,
        &[&fifo.display().to_string(), "FIFO", "--skip-special-files"],
    );

    let opts = LoadOptions {
        skip_special_files: true,
        ..LoadOptions::default()
    };
    let l = load(&f.root, &opts).unwrap();
    assert!(!l
        .tree
        .entries
        .iter()
        .any(|e| e.path == Path::new("etc/initctl")));
    assert!(l
        .warnings
        .iter()
        .any(|w| w.path == fifo && w.kind == WarningKind::Skipped));
    // /dev content is skipped anyway, device nodes included.
    let dev = f.path("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let status = Command::new("mknod")
        .arg(dev.join("null"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(status.success());
    let l = load(&f.root, &opts).unwrap();
    assert!(l.tree.entries.iter().any(|e| e.path == Path::new("dev")));
    assert!(!l
        .tree
        .entries
        .iter()
        .any(|e| e.path == Path::new("dev/null")));
}

/// Runs `rechunk scan` as user nobody (uid 65534), for whom permission bits count.
fn scan_as_nobody(root: &Path, extra: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_rechunk"))
        .arg("scan")
        .args(extra)
        .arg("--rootfs")
        .arg(root)
        .output()
        .expect("setpriv runs (util-linux)")
}

#[test]
fn unreadable_file_and_directory() {
    let f = Fixture::empty();
    f.file("etc/shadow", b"root:*:", 0o600);
    f.file("etc/motd", b"hello", 0o644);
    let out = scan_as_nobody(&f.root, &[]);
    let shadow = f.path("etc/shadow");
    assert_fails_naming(&out, &[&shadow.display().to_string(), "Permission denied"]);

    // With --keep-going the file is left out with a warning, the rest is scanned.
    let out = scan_as_nobody(&f.root, &["--keep-going", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = v["warnings"].as_array().unwrap();
    assert!(warnings
        .iter()
        .any(|w| w["path"] == shadow.display().to_string()));

    std::fs::remove_file(&shadow).unwrap();
    f.file("root/.ssh/id", b"key", 0o644);
    std::fs::set_permissions(
        f.path("root"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let out = scan_as_nobody(&f.root, &[]);
    assert_fails_naming(
        &out,
        &[&f.path("root").display().to_string(), "Permission denied"],
    );
}
