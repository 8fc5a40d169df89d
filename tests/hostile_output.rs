//! Issue 11, case 2: output files are never written through a symlink. A symlink planted at a
//! report, an export or a release-notes file (or at the temporary name it used to be staged
//! under) must leave its target untouched; a destination that is not a regular file (a
//! symlink, a device node) is refused with an error naming it, and nothing else is changed.

mod hostile;

use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::Path;

use hostile::{rechunk, small_image, Run, DEADLINE};

const HISTORY: &str = "\
version,date,component,evr,size
v1,2024-03-01,bash,1,2500000
v1,2024-03-01,glibc,1,3000000
v2,2024-03-08,bash,2,2500000
v2,2024-03-08,glibc,1,3000000
v3,2024-03-15,bash,2,2500000
v3,2024-03-15,glibc,2,3000000
";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `rechunk compare` of a three-version history into `reports`, plus `extra` arguments.
fn compare(dir: &Path, reports: &Path, extra: &[&str]) -> Run {
    let history = dir.join("history.csv");
    fs::write(&history, HISTORY).unwrap();
    let mut args = vec![
        "compare",
        "--history",
        s(&history),
        "--strategies",
        "single",
        "--no-sweep",
        "--output",
        s(reports),
    ];
    args.extend_from_slice(extra);
    rechunk(&args, DEADLINE)
}

/// A file outside the output whose content must survive.
fn victim(dir: &Path) -> std::path::PathBuf {
    let v = dir.join("victim");
    fs::write(&v, b"precious").unwrap();
    v
}

fn assert_untouched(victim: &Path, link: &Path) {
    assert_eq!(fs::read(victim).unwrap(), b"precious", "written through");
    assert!(
        fs::symlink_metadata(link).unwrap().is_symlink(),
        "the link itself was replaced"
    );
}

fn planted_report(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    // A first run makes the directory and every file; then one is swapped for a link.
    compare(dir.path(), &reports, &[]).assert_ok();
    let before: Vec<(String, Vec<u8>)> = report_files(&reports);
    let victim = victim(dir.path());
    let link = reports.join(name);
    fs::remove_file(&link).unwrap();
    symlink(&victim, &link).unwrap();
    compare(dir.path(), &reports, &[]).assert_error(&[s(&link), "symbolic link"]);
    assert_untouched(&victim, &link);
    // Every other report is as the first run left it: nothing was renamed into place.
    let after = report_files(&reports);
    let others = |v: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
        v.iter().filter(|(n, _)| n != name).cloned().collect()
    };
    assert_eq!(others(&before), others(&after));
    assert!(!after.iter().any(|(n, _)| n.starts_with('.')), "temp left");
}

/// (name, content) of the regular files in `dir`, sorted; links read as their target's name.
fn report_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let content = if e.file_type().unwrap().is_symlink() {
                b"<link>".to_vec()
            } else {
                fs::read(e.path()).unwrap()
            };
            (name, content)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn compare_writes_through_symlinks_summary_md() {
    planted_report("summary.md");
}

#[test]
fn compare_writes_through_symlinks_updates_csv() {
    planted_report("updates.csv");
}

#[test]
fn compare_writes_through_symlinks_attribution_csv() {
    planted_report("attribution.csv");
}

#[test]
fn compare_writes_through_symlinks_plots() {
    planted_report("cumulative.svg");
}

#[test]
fn compare_writes_through_symlinks_export_history() {
    let dir = tempfile::tempdir().unwrap();
    let victim = victim(dir.path());
    let export = dir.path().join("export.csv");
    symlink(&victim, &export).unwrap();
    let reports = dir.path().join("reports");
    compare(dir.path(), &reports, &["--export-history", s(&export)])
        .assert_error(&[s(&export), "symbolic link"]);
    assert_untouched(&victim, &export);
    // Refused before any report was written.
    assert!(!reports.exists());
    fs::remove_file(&export).unwrap();
    compare(dir.path(), &reports, &["--export-history", s(&export)]).assert_ok();
    assert!(fs::read_to_string(&export).unwrap().contains("v3,"));
}

#[test]
fn changelog_output_is_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let image = format!("oci:{}:v1", s(&small_image(dir.path(), "img.oci")));
    let victim = victim(dir.path());
    let notes = dir.path().join("notes.md");
    symlink(&victim, &notes).unwrap();
    rechunk(
        &["changelog", &image, &image, "--output", s(&notes)],
        DEADLINE,
    )
    .assert_error(&[s(&notes), "symbolic link"]);
    assert_untouched(&victim, &notes);
}

/// `--output /dev/null` as root must not replace the device with a file.
#[test]
fn changelog_output_is_a_device_node() {
    let dir = tempfile::tempdir().unwrap();
    let image = format!("oci:{}:v1", s(&small_image(dir.path(), "img.oci")));
    let null = dir.path().join("null");
    let c = std::ffi::CString::new(s(&null)).unwrap();
    // SAFETY: a valid path; makes a character device like /dev/null (1, 3). Needs root.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    if made != 0 {
        eprintln!("mknod refused (not root): skipping");
        return;
    }
    rechunk(
        &["changelog", &image, &image, "--output", s(&null)],
        DEADLINE,
    )
    .assert_error(&[s(&null), "character device"]);
    assert!(fs::symlink_metadata(&null)
        .unwrap()
        .file_type()
        .is_char_device());
}

/// `synth` staged `history.csv` as `.history.csv.tmp` with a plain create, which followed a
/// link planted there; now staged under a fresh name, and a link at `history.csv` is refused.
#[test]
fn synth_history_csv_is_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("h.csv");
    fs::write(&history, HISTORY).unwrap();
    let output = dir.path().join("chain");
    fs::create_dir(&output).unwrap();
    let victim = victim(dir.path());
    let planted = output.join("history.csv");
    symlink(&victim, &planted).unwrap();
    let r = rechunk(
        &[
            "synth",
            "--history",
            s(&history),
            "--output",
            s(&output),
            "--last",
            "1",
        ],
        DEADLINE,
    );
    if r.stderr().contains("needs root") || r.stderr().contains("trees needs root") {
        eprintln!("synth needs root: skipping");
        return;
    }
    r.assert_error(&[s(&planted), "symbolic link"]);
    assert_untouched(&victim, &planted);
}
