//! The generic CSV format and the `rpm -qa` dump importer: real dumps made by rpm, hand-made
//! CSV with the errors a user would make.

use std::path::PathBuf;

use rechunk_datasets::{generic, rpmqa};
use rechunk_model::ComponentKind;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn rpm_qa_dumps_become_ordered_snapshots() {
    let h = rpmqa::load_dir(&data("rpmqa")).unwrap();
    assert_eq!(h.name, "rpmqa");
    let ids: Vec<&str> = h.snapshots.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["al2023-20230825", "al2023-20230901"]);
    let (a, b) = (&h.snapshots[0], &h.snapshots[1]);
    assert_eq!(a.components.len(), 103);
    // Newest INSTALLTIME in the dump (the gpg-pubkey import).
    assert_eq!(a.date, 1_692_921_930);
    let ssl = a.component("openssl-libs").unwrap();
    assert_eq!(ssl.version, "1:3.0.8-1.amzn2023.0.4.x86_64");
    assert_eq!(
        (ssl.size, ssl.source.as_deref()),
        (6_806_522, Some("openssl"))
    );
    assert_eq!(a.component("gpg-pubkey").unwrap().source, None);
    // The hand edit: one bump, one removal, one addition.
    let changed: Vec<&str> = b
        .components
        .iter()
        .filter(|c| a.component(&c.name).map(|o| &o.version) != Some(&c.version))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(changed, ["jq", "openssl-libs"]);
    assert!(b.component("curl-minimal").is_none());
}

#[test]
fn rpm_qa_errors_name_file_line_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("v1.txt");
    std::fs::write(
        &dump,
        "bash\t5.2-1.x86_64\t100\tbash-5.2-1.src.rpm\t1700000000\nzsh 5.9\n",
    )
    .unwrap();
    let err = format!("{:#}", rpmqa::load_dir(dir.path()).unwrap_err());
    assert!(
        err.contains("v1.txt: line 2") && err.contains("--queryformat"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = format!("{:#}", rpmqa::load_dir(empty.path()).unwrap_err());
    assert!(err.contains("no rpm -qa dumps"), "{err}");
}

#[test]
fn rpm_qa_duplicate_names_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "glibc\t2.39-1.x86_64\t10\tglibc-2.39-1.src.rpm\t5",
        "glibc\t2.39-1.i686\t9\tglibc-2.39-1.src.rpm\t5",
        "kernel-core\t6.1-1.x86_64\t7\tkernel-6.1-1.src.rpm\t5",
        "kernel-core\t6.2-1.x86_64\t8\tkernel-6.2-1.src.rpm\t6",
    ];
    std::fs::write(dir.path().join("v.txt"), lines.join("\n")).unwrap();
    let s = &rpmqa::load_dir(dir.path()).unwrap().snapshots[0];
    let names: Vec<&str> = s.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "glibc.i686",
            "glibc.x86_64",
            "kernel-core-6.1-1.x86_64",
            "kernel-core-6.2-1.x86_64"
        ]
    );
    assert_eq!(s.date, 6);
}

#[test]
fn generic_csv_round_trips_the_fcos_history() {
    let h = rechunk_datasets::open_history("fcos-stable").unwrap();
    let mut out = Vec::new();
    generic::write(&h, &mut out).unwrap();
    let back = generic::parse(out.as_slice(), "memory", h.name.clone()).unwrap();
    assert_eq!(back.snapshots.len(), h.snapshots.len());
    for (a, b) in h.snapshots.iter().zip(&back.snapshots) {
        assert_eq!((&a.id, a.date), (&b.id, b.date));
        // Everything the FCOS loader fills in survives the round trip.
        assert_eq!(a.components, b.components);
    }
}

#[test]
fn generic_csv_reads_optional_columns_in_any_order() {
    let csv = "component,size,evr,date,version,requires,kind,source\n\
               bash,100,5.2-1,2024-01-01,v1,glibc,,bash\n\
               glibc,500,2.39-1,2024-01-01,v1,,,\n\
               initramfs,900,b1,2024-01-01,v1,,initramfs,\n\
               bash,100,5.2-2,2024-01-08T10:00:00Z,v2,glibc,,bash\n\
               glibc,500,2.39-1,2024-01-08T10:00:00Z,v2,,,\n";
    let h = generic::parse(csv.as_bytes(), "t.csv", "t".into()).unwrap();
    assert_eq!(h.snapshots.len(), 2);
    let v1 = &h.snapshots[0];
    assert_eq!(v1.date, 1_704_067_200);
    let bash = v1.component("bash").unwrap();
    assert_eq!(
        (bash.requires.clone(), bash.source.as_deref()),
        (vec!["glibc".to_string()], Some("bash"))
    );
    assert_eq!(v1.component("glibc").unwrap().source, None);
    assert_eq!(
        v1.component("initramfs").unwrap().kind,
        ComponentKind::Initramfs
    );
    assert_eq!(h.snapshots[1].component("bash").unwrap().version, "5.2-2");
}

#[test]
fn generic_csv_errors_name_the_line_and_cause() {
    let cases = [
        (
            "version,date,component,evr,size\nv1,2024-01-01,a,1,ten\n",
            "line 2",
        ),
        (
            "version,date,component,evr,size\nv1,2024-01-01,a,1,1\nv1,2024-01-01,a,2,1\n",
            "appears twice",
        ),
        (
            "version,date,component,evr,size\nv1,2024-01-01,a,1,1\nv1,2024-01-02,b,1,1\n",
            "has date",
        ),
        (
            "version,date,component,evr,size\nv2,2024-02-01,a,1,1\nv1,2024-01-01,a,1,1\n",
            "dated before",
        ),
        (
            "version,date,component,evr,size\nv1,yesterday,a,1,1\n",
            "yesterday",
        ),
        (
            "version,date,component,evr,size,kind\nv1,2024-01-01,a,1,1,blob\n",
            "unknown component kind",
        ),
        ("version,date,component,evr\nv1,2024-01-01,a,1\n", "size"),
        ("version,date,component,evr,size\n", "no rows"),
    ];
    for (csv, want) in cases {
        let err = format!(
            "{:#}",
            generic::parse(csv.as_bytes(), "my.csv", "t".into()).unwrap_err()
        );
        assert!(
            err.contains("my.csv") && err.contains(want),
            "{want}: {err}"
        );
    }
}

#[test]
fn relative_paths_are_named_in_full() {
    // Tests run in the crate directory: a relative path that does not exist.
    let err = format!(
        "{:#}",
        generic::load(std::path::Path::new("no-such.csv")).unwrap_err()
    );
    let full = std::env::current_dir().unwrap().join("no-such.csv");
    assert!(err.contains(&full.display().to_string()), "{err}");
}
