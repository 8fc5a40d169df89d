//! The native rpmdb reader against real rpm (Debian's rpm 4.18) on the shipped Amazon Linux
//! 2023 and CBL-Mariner 2.0 databases: every package's identity, size and file list must equal
//! what `rpm --dbpath` prints, and BDB / corrupt databases must fail naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rechunk_rpmdb::{read, read_dir, Error, Package, ReadOptions};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rpmdb")
        .join(rel)
}

/// rpm wants a writable database directory (it creates -shm/-wal), so it reads a copy.
fn rpm_query(db: &Path, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(db, dir.path().join("rpmdb.sqlite")).unwrap();
    let out = Command::new("rpm")
        .arg("--dbpath")
        .arg(dir.path())
        .args(args)
        .output()
        .expect("rpm is installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "rpm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const IDENTITY_QF: &str = "%{NAME}\t%|EPOCH?{%{EPOCH}}:{}|\t%{VERSION}\t%{RELEASE}\t%|ARCH?{%{ARCH}}:{}|\t%{SIZE}\t%|SOURCERPM?{%{SOURCERPM}}:{}|\t%{BUILDTIME}\t%{NEVRA}\n";

fn identity(p: &Package) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        p.name,
        p.epoch.map(|e| e.to_string()).unwrap_or_default(),
        p.version,
        p.release,
        p.arch,
        p.size,
        p.source_rpm.as_deref().unwrap_or(""),
        p.build_time,
        // rpm's %{NEVRA} omits an absent epoch, like our nevra().
        p.nevra(),
    )
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// Compares as sorted multisets and shows only the first differences (the lists are long).
fn assert_same_lines(ours: &str, theirs: &str, what: &str) {
    let (ours, theirs) = (sorted_lines(ours), sorted_lines(theirs));
    if ours != theirs {
        let only_ours: Vec<_> = ours
            .iter()
            .filter(|l| !theirs.contains(l))
            .take(5)
            .collect();
        let only_theirs: Vec<_> = theirs
            .iter()
            .filter(|l| !ours.contains(l))
            .take(5)
            .collect();
        panic!(
            "{what}: {} lines vs rpm's {}\nonly ours: {only_ours:#?}\nonly rpm's: {only_theirs:#?}",
            ours.len(),
            theirs.len()
        );
    }
}

fn check_against_rpm(rel: &str, expected_packages: usize) {
    let path = data(rel);
    let db = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(db.packages.len(), expected_packages, "{rel}");
    assert!(db.skipped.is_empty());

    let ours: Vec<String> = db.packages.iter().map(identity).collect();
    let theirs = rpm_query(&path, &["-qa", "--queryformat", IDENTITY_QF]);
    assert_same_lines(&ours.join("\n"), &theirs, rel);

    // Every file attribute, one line per file, in rpm's own order (header order).
    let file_qf = "[%{=NAME}\t%{FILENAMES}\t%{FILESIZES}\t%{FILEMODES}\t%{FILEDIGESTS}\t%{FILEFLAGS}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILELINKTOS}\t%{FILEMTIMES}\n]";
    let theirs = rpm_query(&path, &["-qa", "--queryformat", file_qf]);
    // Packages without files print one "(none)" row.
    let theirs: Vec<&str> = theirs
        .lines()
        .filter(|l| l.split('\t').nth(1) != Some("(none)"))
        .collect();
    let ours: Vec<String> = db
        .packages
        .iter()
        .flat_map(|p| {
            p.files.iter().map(move |f| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    p.name,
                    f.path,
                    f.size,
                    f.mode,
                    f.digest.as_deref().unwrap_or(""),
                    f.flags.0,
                    f.user,
                    f.group,
                    f.link_target.as_deref().unwrap_or(""),
                    f.mtime
                )
            })
        })
        .collect();
    assert!(ours.len() > 7000, "{rel}: {} files", ours.len());
    assert_same_lines(&ours.join("\n"), &theirs.join("\n"), rel);
}

#[test]
fn al2023_equals_rpm_qa() {
    check_against_rpm("al2023/rpmdb.sqlite", 103);
}

#[test]
fn mariner_equals_rpm_qa() {
    check_against_rpm("mariner2/rpmdb.sqlite", 129);
}

/// `rpm -ql` for single packages, in its own order, equals our file list.
#[test]
fn rpm_ql_equals_file_list() {
    let path = data("mariner2/rpmdb.sqlite");
    let db = read(&path, &ReadOptions::default()).unwrap();
    for name in ["curl", "bash", "core-packages-container"] {
        let pkg = db.packages.iter().find(|p| p.name == name).unwrap();
        let theirs = rpm_query(&path, &["-ql", name]);
        let ours: Vec<&str> = pkg.files.iter().map(|f| f.path.as_str()).collect();
        if ours.is_empty() {
            assert_eq!(theirs.trim(), "(contains no files)");
        } else {
            assert_eq!(ours, theirs.lines().collect::<Vec<_>>(), "{name}");
        }
    }
    // go-rpmdb's expected list for curl, made independently of rpm's query code.
    let expected: Vec<String> =
        serde_json::from_slice(&std::fs::read(data("mariner2/curl_file_names.json")).unwrap())
            .unwrap();
    let curl = db.packages.iter().find(|p| p.name == "curl").unwrap();
    let ours: Vec<&str> = curl.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(ours, expected);
}

/// packages.csv was made by `rpm -qa` inside the AL2023 container itself.
#[test]
fn al2023_equals_packages_csv() {
    let db = read(&data("al2023/rpmdb.sqlite"), &ReadOptions::default()).unwrap();
    let csv = std::fs::read_to_string(data("al2023/packages.csv")).unwrap();
    let mut by_name: BTreeMap<&str, &Package> = BTreeMap::new();
    for p in &db.packages {
        by_name.insert(&p.name, p);
    }
    let mut rows = 0;
    for line in csv.lines() {
        let f: Vec<&str> = line.split('¶').collect();
        let (epoch, name, version, release, arch, srpm, size) =
            (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        // gpg-pubkey appears once per imported key; compare the one we have by NEVR.
        let p = db
            .packages
            .iter()
            .find(|p| p.name == name && p.version == version && p.release == release)
            .unwrap_or_else(|| panic!("{name}-{version}-{release} missing"));
        assert_eq!(p.epoch.map(|e| e.to_string()).unwrap_or_default(), epoch);
        assert_eq!(p.arch, arch, "{name}");
        assert_eq!(p.source_rpm.as_deref().unwrap_or(""), srpm, "{name}");
        assert_eq!(p.size.to_string(), size, "{name}");
        rows += 1;
    }
    assert_eq!(rows, 103);
    assert!(by_name["bash"]
        .requires
        .iter()
        .any(|r| r == "libc.so.6()(64bit)"));
    assert!(by_name["glibc"]
        .provides
        .iter()
        .any(|r| r == "libc.so.6()(64bit)"));
    assert!(!by_name["bash"].changelog_times.is_empty());
}

#[test]
fn bdb_database_is_unsupported_naming_the_path() {
    // A genuine Berkeley DB hash file made with db_load (see tests/data/SOURCE.md).
    let dir = data("bdb");
    let err = read_dir(&dir, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("unsupported database format"), "{text}");
    assert!(
        text.contains(&dir.join("Packages").display().to_string()),
        "{text}"
    );
}

/// Copies the AL2023 database and damages one row's header, as a bit flip on disk would.
fn database_with_corrupt_row() -> (tempfile::TempDir, PathBuf, i64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rpmdb.sqlite");
    std::fs::copy(data("al2023/rpmdb.sqlite"), &path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let hnum: i64 = conn
        .query_row(
            "SELECT hnum FROM Packages ORDER BY hnum LIMIT 1 OFFSET 10",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Truncate the blob to its first 100 bytes: the index now points past the data.
    conn.execute(
        "UPDATE Packages SET blob = substr(blob, 1, 100) WHERE hnum = ?1",
        [hnum],
    )
    .unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    (dir, path, hnum)
}

#[test]
fn corrupt_row_is_an_error_naming_the_row_and_keep_going_skips_it() {
    let (_dir, path, hnum) = database_with_corrupt_row();
    let err = read(&path, &ReadOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("hnum={hnum}")), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("truncated"), "{text}");

    let db = read(&path, &ReadOptions { keep_going: true }).unwrap();
    assert_eq!(db.packages.len(), 102);
    assert_eq!(db.skipped.len(), 1);
    assert_eq!(db.skipped[0].hnum, hnum);
}

#[test]
fn missing_database_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_dir(dir.path(), &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}
