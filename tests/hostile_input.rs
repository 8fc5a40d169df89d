//! Issue 11: hostile and broken input files. Each test is named after the case it reproduces
//! and runs the binary with a deadline and a memory ceiling, so that a regression fails here
//! instead of hanging or exhausting the machine. Every case must end with exit 1 and an error
//! naming the path and the cause.

mod hostile;

use std::fs;
use std::path::Path;

use hostile::{
    link, manifest_and_config, mkfifo, rechunk, small_image, small_rootfs, sparse, DEADLINE,
};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- 1. Unbounded reads in OCI layouts -------------------------------------------------------

/// Already refused before this issue: blobs are opened with O_NOFOLLOW since issue 10's reader
/// (`DirStore::blob`). Pinned.
#[test]
fn unbounded_reads_config_blob_linked_to_dev_zero() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    let (_, config) = manifest_and_config(&layout);
    link(&config, "/dev/zero");
    let r = rechunk(&["inspect", &format!("oci:{}:v1", s(&layout))], DEADLINE);
    r.assert_error(&[s(&config), "symbolic link"]);
}

#[test]
fn unbounded_reads_config_blob_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    let (_, config) = manifest_and_config(&layout);
    mkfifo(&config);
    let r = rechunk(&["inspect", &format!("oci:{}:v1", s(&layout))], DEADLINE);
    r.assert_error(&[s(&config), "a FIFO, not a regular file"]);
}

#[test]
fn unbounded_reads_index_json_linked_to_dev_zero() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    link(&layout.join("index.json"), "/dev/zero");
    let r = rechunk(&["inspect", &format!("oci:{}:v1", s(&layout))], DEADLINE);
    r.assert_error(&[s(&layout.join("index.json")), "symbolic link"]);
}

#[test]
fn unbounded_reads_index_json_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    mkfifo(&layout.join("index.json"));
    let old = small_image(&dir.path().join("old"), "old.oci");
    // diff reads both sides the same way.
    let r = rechunk(
        &[
            "diff",
            &format!("oci:{}:v1", s(&old)),
            &format!("oci:{}:v1", s(&layout)),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&layout.join("index.json")), "a FIFO, not a regular file"]);
}

#[test]
fn unbounded_reads_sparse_2gb_index_json() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    sparse(&layout.join("index.json"), 2 << 30);
    let r = rechunk(&["inspect", &format!("oci:{}", s(&layout))], DEADLINE);
    r.assert_error(&[
        s(&layout.join("index.json")),
        "2147483648 bytes, more than the 64 MiB limit",
    ]);
}

#[test]
fn unbounded_reads_config_file_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let fifo = dir.path().join("config.json");
    mkfifo(&fifo);
    let out = dir.path().join("out.oci");
    let r = rechunk(
        &[
            "--rootfs",
            s(&root),
            "--output",
            &format!("oci:{}", s(&out)),
            "--config",
            s(&fifo),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&fifo), "a FIFO, not a regular file"]);
    assert!(!out.exists());
}

#[test]
fn unbounded_reads_previous_json_is_dev_zero() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let out = dir.path().join("out.oci");
    let zero = dir.path().join("previous.json");
    link(&zero, "/dev/zero");
    let r = rechunk(
        &[
            "--rootfs",
            s(&root),
            "--output",
            &format!("oci:{}", s(&out)),
            "--previous",
            s(&zero),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&zero), "a character device, not a regular file"]);
}

#[test]
fn unbounded_reads_images_history_manifest_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    let fifo = dir.path().join("manifest.json");
    mkfifo(&fifo);
    let r = rechunk(
        &[
            "compare",
            "--history",
            &format!("images:oci:{}:v1,{}", s(&layout), s(&fifo)),
            "--output",
            s(&dir.path().join("reports")),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&fifo), "a FIFO, not a regular file"]);
}

#[test]
fn unbounded_reads_from_archive_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("image.tar");
    mkfifo(&fifo);
    let out = dir.path().join("out.oci");
    for from in ["oci-archive", "docker-archive"] {
        let r = rechunk(
            &[
                "--from",
                &format!("{from}:{}", s(&fifo)),
                "--output",
                &format!("oci:{}", s(&out)),
            ],
            DEADLINE,
        );
        r.assert_error(&[s(&fifo), "a FIFO, not a regular file"]);
    }
}

#[test]
fn unbounded_reads_from_layout_blob_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    let (manifest, _) = manifest_and_config(&layout);
    let m: serde_json::Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    let layer = layout
        .join("blobs/sha256")
        .join(&m["layers"][0]["digest"].as_str().unwrap()[7..]);
    mkfifo(&layer);
    let r = rechunk(
        &[
            "--from",
            &format!("oci:{}:v1", s(&layout)),
            "--output",
            &format!("oci:{}", s(&dir.path().join("out.oci"))),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&layer), "a FIFO, not a regular file"]);
}

/// serde_json refuses nesting deeper than 128 before this issue (its default recursion limit,
/// which no crate in the workspace lifts). Pinned, with the path named.
#[test]
fn unbounded_reads_json_nested_100000_deep() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("manifest.json");
    let mut text = String::from("{\"layers\":[],\"x\":");
    text.push_str(&"[".repeat(100_000));
    text.push_str(&"]".repeat(100_000));
    text.push('}');
    fs::write(&deep, text).unwrap();
    let r = rechunk(&["inspect", s(&deep)], DEADLINE);
    r.assert_error(&[s(&deep), "recursion limit exceeded"]);
}

#[test]
fn unbounded_reads_history_csv_is_dev_zero() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("history.csv");
    link(&zero, "/dev/zero");
    let r = rechunk(
        &[
            "compare",
            "--history",
            s(&zero),
            "--output",
            s(&dir.path().join("reports")),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&zero), "a character device, not a regular file"]);
}

#[test]
fn unbounded_reads_contentmeta_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("contentmeta.json");
    mkfifo(&fifo);
    let r = rechunk(&["plan", "--contentmeta", s(&fifo)], DEADLINE);
    r.assert_error(&[s(&fifo), "a FIFO, not a regular file"]);
}

#[test]
fn unbounded_reads_changelog_template_is_dev_zero() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    let zero = dir.path().join("notes.tmpl");
    link(&zero, "/dev/zero");
    let image = format!("oci:{}:v1", s(&layout));
    let r = rechunk(
        &["changelog", &image, &image, "--template", s(&zero)],
        DEADLINE,
    );
    r.assert_error(&[s(&zero), "a character device, not a regular file"]);
}

/// Already handled before this issue: `rpmqa::load_dir` reads regular files only (a FIFO, a
/// symlink or a subdirectory in the directory is not a dump). Pinned.
#[test]
fn unbounded_reads_rpm_qa_dump_is_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let dumps = dir.path().join("dumps");
    fs::create_dir(&dumps).unwrap();
    for (v, t) in [("v1", 1_700_000_000), ("v2", 1_700_100_000)] {
        fs::write(
            dumps.join(format!("{v}.txt")),
            format!("bash\t5.2-1.fc40.x86_64\t100\tbash-5.2-1.fc40.src.rpm\t{t}\n"),
        )
        .unwrap();
    }
    // A FIFO is not a dump: not a regular file, left out like a subdirectory.
    mkfifo(&dumps.join("v3.txt"));
    let r = rechunk(
        &[
            "compare",
            "--history",
            s(&dumps),
            "--no-sweep",
            "--strategies",
            "single",
            "--output",
            s(&dir.path().join("reports")),
        ],
        DEADLINE,
    );
    r.assert_ok();
}

// ---- 3. Stack overflow on deep trees ---------------------------------------------------------

/// 2,500 directories deep used to abort `scan` and `build` with a stack overflow (exit 134, no
/// path). The walk is iterative now; a path longer than PATH_MAX is refused naming it.
#[test]
fn stack_overflow_on_deep_trees_2500_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    hostile::deep_tree(&root, 2500);
    let out = dir.path().join("out.oci");
    let output = format!("oci:{}", s(&out));
    for args in [
        vec!["scan", "--rootfs", s(&root)],
        vec!["--rootfs", s(&root), "--output", &output],
    ] {
        let r = rechunk(&args, DEADLINE);
        r.assert_error(&[
            &format!("{}/d/d/d/", s(&root)),
            "a path of 4095 bytes is longer than 4094 (PATH_MAX)",
        ]);
        assert!(
            r.stderr().len() < 1000,
            "the path is shown cut: {}",
            r.stderr()
        );
    }
    assert!(!out.exists());
    hostile::remove_deep(&root);
}

/// The deepest tree a path fits in (2,047 levels: `d/` × 2,047 + `f` = 4,095 bytes is one too
/// many, so the file sits at 2,046) is scanned, built and read back with `--from`.
#[test]
fn stack_overflow_on_deep_trees_as_deep_as_paths_go() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    hostile::deep_tree(&root, 2046);
    let out = dir.path().join("out.oci");
    let image = format!("oci:{}", s(&out));
    rechunk(&["--rootfs", s(&root), "--output", &image], DEADLINE).assert_ok();
    let again = format!("oci:{}", s(&dir.path().join("again.oci")));
    rechunk(&["--from", &image, "--output", &again], DEADLINE).assert_ok();
    let inspect = |r: &str| rechunk(&["inspect", "--json", r], DEADLINE).stdout();
    let layers = |text: String| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        layers(inspect(&image)),
        layers(inspect(&again)),
        "--from differs"
    );
    hostile::remove_deep(&root);
}

// ---- 4. An existing layout's blobs trusted by name ------------------------------------------

fn blob_files(layout: &Path) -> Vec<std::path::PathBuf> {
    files_in(&layout.join("blobs/sha256"))
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

/// Building into a layout whose layer blob was truncated reported success and kept the broken
/// blob (umoci then failed the digest): the blob is checked and replaced.
#[test]
fn existing_layout_truncated_blob_is_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    let (manifest, config) = manifest_and_config(&layout);
    let layer = blob_files(&layout)
        .into_iter()
        .find(|p| *p != manifest && *p != config)
        .unwrap();
    let f = fs::OpenOptions::new().write(true).open(&layer).unwrap();
    f.set_len(f.metadata().unwrap().len() / 2).unwrap();
    drop(f);
    let root = dir.path().join("rootfs");
    let v2 = format!("oci:{}:v2", s(&layout));
    rechunk(&["--rootfs", s(&root), "--output", &v2], DEADLINE).assert_ok();
    for blob in blob_files(&layout) {
        let name = blob.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(sha256_file(&blob), name, "a blob is not what its name says");
    }
    let bundle = dir.path().join("bundle");
    let out = std::process::Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:v2", s(&layout))])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(bundle.join("rootfs/usr/bin/hello")).unwrap(),
        b"hello\n"
    );
}

/// As root, `--output oci-archive:/dev/null` replaced the device with a regular file.
#[test]
fn oci_archive_destination_is_a_device_node() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let null = dir.path().join("null");
    let c = std::ffi::CString::new(s(&null)).unwrap();
    // SAFETY: a valid path; a character device like /dev/null (1, 3). Needs root.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } != 0 {
        eprintln!("mknod refused (not root): skipping");
        return;
    }
    let r = rechunk(
        &[
            "--rootfs",
            s(&root),
            "--output",
            &format!("oci-archive:{}", s(&null)),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&null), "character device"]);
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&null)
        .unwrap()
        .file_type()
        .is_char_device());
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 2, "rootfs and the device only: {left:?}");
}

/// A `blobs` symlink inside the destination layout was written through.
#[test]
fn existing_layout_blobs_symlink_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "img.oci");
    let elsewhere = dir.path().join("elsewhere");
    fs::rename(layout.join("blobs"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, layout.join("blobs")).unwrap();
    let before = files_in(&elsewhere.join("sha256"));
    fs::write(small_rootfs(dir.path()).join("usr/bin/new"), b"new\n").unwrap();
    let r = rechunk(
        &[
            "--rootfs",
            s(&dir.path().join("rootfs")),
            "--output",
            &format!("oci:{}:v2", s(&layout)),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&layout.join("blobs")), "symbolic link"]);
    assert_eq!(
        files_in(&elsewhere.join("sha256")),
        before,
        "written through the link"
    );
}

/// `oci:x.oci:../../etc/x` wrote an image at `./etc/x` (the path was `x.oci:../../etc/x`).
#[test]
fn tag_outside_the_oci_grammar_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let work = dir.path().join("a/b");
    fs::create_dir_all(&work).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rechunk"));
    cmd.current_dir(&work)
        .args(["--rootfs", s(&root), "--output", "oci:x.oci:../../etc/x"]);
    let r = hostile::bounded(&mut cmd, DEADLINE);
    r.assert_error(&["\"../../etc/x\" is not a valid tag"]);
    assert!(!dir.path().join("a/etc").exists() && !work.join("etc").exists());
    assert_eq!(fs::read_dir(&work).unwrap().count(), 0, "nothing written");
}

// ---- 6. Sizes wrap ---------------------------------------------------------------------------

/// The size: two of them wrap u64 to 2.
const HUGE: u64 = (1 << 63) + 1;
/// Fits alone, not twice (the bound is 2^62, rechunk_model::MAX_TOTAL_BYTES).
const HALF: u64 = (1 << 61) + 1;

/// Two layers of 2^63 + 1 bytes made `diff` report a 2-byte download (a debug build panicked).
#[test]
fn sizes_wrap_diff_two_layers_of_2_63_plus_1() {
    let dir = tempfile::tempdir().unwrap();
    let layer = |d: char, size: u64| {
        serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", d.to_string().repeat(64)), "size": size})
    };
    let manifest = |layers: Vec<serde_json::Value>| {
        serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{}", "c".repeat(64)), "size": 2},
            "layers": layers})
    };
    let old = dir.path().join("old.json");
    let new = dir.path().join("new.json");
    fs::write(&old, manifest(vec![]).to_string()).unwrap();
    for (size, at) in [(HUGE, "layer 1"), (HALF, "layer 2")] {
        fs::write(
            &new,
            manifest(vec![layer('a', size), layer('b', size)]).to_string(),
        )
        .unwrap();
        let r = rechunk(&["diff", s(&old), s(&new)], DEADLINE);
        r.assert_error(&[s(&new), at, "more than 4611686018427387904 bytes"]);
    }
}

#[test]
fn sizes_wrap_history_csv() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.csv");
    for (size, at) in [
        (HUGE, "line 2: size of \"a\""),
        (HALF, "line 3: size of \"b\""),
    ] {
        fs::write(
            &history,
            format!(
                "version,date,component,evr,size\nv1,2024-01-01,a,1,{size}\n\
                 v1,2024-01-01,b,1,{size}\nv2,2024-01-02,a,2,{size}\nv2,2024-01-02,b,1,{size}\n"
            ),
        )
        .unwrap();
        let r = rechunk(
            &[
                "compare",
                "--history",
                s(&history),
                "--no-sweep",
                "--output",
                s(&dir.path().join("reports")),
            ],
            DEADLINE,
        );
        r.assert_error(&[s(&history), at, "4 EiB"]);
    }
}

#[test]
fn sizes_wrap_contentmeta_plan() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("contentmeta.json");
    let entry = |name: &str, size: u64| {
        serde_json::json!({"identifier": format!("{name}-1-1.x86_64"), "name": name,
            "srcid": format!("{name}-1-1.src.rpm"), "change_time_offset": 0, "size": size})
    };
    for (size, at) in [(HUGE, "entry 1"), (HALF, "entry 2")] {
        let entries = serde_json::json!([entry("a", size), entry("b", size)]);
        fs::write(&meta, entries.to_string()).unwrap();
        let r = rechunk(&["plan", "--contentmeta", s(&meta)], DEADLINE);
        r.assert_error(&[s(&meta), at, "4 EiB"]);
    }
}

/// Sparse files on a tmpfs (up to 2^63 − 1 bytes each, no memory used) in a rootfs.
#[test]
fn sizes_wrap_sparse_files_in_a_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    fs::create_dir(&root).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&root)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs (not root): skipping");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&root);
    for name in ["a", "b"] {
        fs::File::create(root.join(name))
            .unwrap()
            .set_len(HALF)
            .unwrap();
    }
    let r = rechunk(&["plan", "--rootfs", s(&root)], DEADLINE);
    r.assert_error(&[s(&root.join("b")), "4 EiB"]);
}

// ---- 7. Silent or surprising handling ----------------------------------------------------------

/// A tree whose rpm database path holds `what` instead of a database file.
fn rpmdb_tree(dir: &Path, what: &dyn Fn(&Path)) -> std::path::PathBuf {
    let root = small_rootfs(dir);
    let db_dir = root.join("usr/lib/sysimage/rpm");
    fs::create_dir_all(&db_dir).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    what(&db_dir.join("rpmdb.sqlite"));
    root
}

/// A symlinked or directory rpmdb.sqlite was ignored without a word (every file unpackaged).
#[test]
fn silent_rpmdb_sqlite_symlinked_or_a_directory() {
    type Make = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Make, &str)> = vec![
        (
            "to /etc/passwd",
            Box::new(|p| link(p, "/etc/passwd")),
            "not an rpm database",
        ),
        (
            "to itself",
            Box::new(|p| link(p, "rpmdb.sqlite")),
            "symbolic links",
        ),
        (
            "outside the root",
            Box::new(|p| link(p, "../../../../../../../../etc/passwd")),
            "leads out of the root filesystem",
        ),
        (
            "dangling",
            Box::new(|p| link(p, "nowhere.sqlite")),
            "leads to nothing in the tree",
        ),
        (
            "a directory",
            Box::new(|p| fs::create_dir(p).unwrap()),
            "a directory, not a database file",
        ),
    ];
    for (case, make, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let root = rpmdb_tree(dir.path(), &make);
        let db = root.join("usr/lib/sysimage/rpm/rpmdb.sqlite");
        let r = rechunk(&["scan", "--rootfs", s(&root)], DEADLINE);
        let stderr = r.stderr();
        assert!(
            stderr.contains(s(&db)) && stderr.contains(want),
            "rpmdb.sqlite {case}: expected an error naming it and saying {want:?}: {stderr}"
        );
        r.assert_error(&[]);
        if case == "to /etc/passwd" {
            continue; // found, and not a database: a format error, as for any such file
        }
        // --keep-going reads on without packages, with the same finding as a warning.
        let r = rechunk(&["scan", "--rootfs", s(&root), "--keep-going"], DEADLINE);
        r.assert_ok();
        assert!(r.stdout().contains(want), "{case}: {}", r.stdout());
    }
}

/// A database with committed rows still in its WAL: reading it must not leave
/// `rpmdb.sqlite-shm` (nor change anything) in the tree being scanned.
#[test]
fn silent_scan_never_writes_rpmdb_shm_into_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let db_dir = root.join("usr/lib/sysimage/rpm");
    fs::create_dir_all(&db_dir).unwrap();
    let work = dir.path().join("work.sqlite");
    fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rpmdb/al2023/rpmdb.sqlite"
        ),
        &work,
    )
    .unwrap();
    let conn = rusqlite::Connection::open(&work).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // rpm's index tables point at Packages; only the row count matters here.
    conn.pragma_update(None, "foreign_keys", false).unwrap();
    let before: i64 = conn
        .query_row("SELECT count(*) FROM Packages", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "DELETE FROM Packages WHERE hnum = (SELECT max(hnum) FROM Packages)",
        [],
    )
    .unwrap();
    // Copied while the connection is open: the deletion lives in the WAL only.
    fs::copy(&work, db_dir.join("rpmdb.sqlite")).unwrap();
    let wal = std::path::PathBuf::from(format!("{}-wal", s(&work)));
    assert!(
        fs::metadata(&wal).unwrap().len() > 0,
        "the WAL holds the change"
    );
    fs::copy(&wal, db_dir.join("rpmdb.sqlite-wal")).unwrap();
    drop(conn);
    let listing = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let names = listing(&db_dir);
    let r = rechunk(&["scan", "--json", "--rootfs", s(&root)], DEADLINE);
    r.assert_ok();
    assert_eq!(listing(&db_dir), names, "scan wrote into the input tree");
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(
        v["packages"].as_array().unwrap().len() as i64,
        before - 1,
        "the WAL's deletion is seen"
    );
}

/// xattr names holding `=` came back corrupted (the PAX record splits at the first `=`).
#[test]
fn silent_xattr_name_with_equals_sign() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let file = root.join("usr/bin/hello");
    let c = std::ffi::CString::new(s(&file)).unwrap();
    let name = std::ffi::CString::new("user.a=b").unwrap();
    // SAFETY: valid NUL-terminated strings and a 3-byte value.
    let set = unsafe { libc::lsetxattr(c.as_ptr(), name.as_ptr(), b"val".as_ptr().cast(), 3, 0) };
    if set != 0 {
        eprintln!("user xattrs not supported here: skipping");
        return;
    }
    let out = dir.path().join("out.oci");
    let r = rechunk(
        &[
            "--rootfs",
            s(&root),
            "--output",
            &format!("oci:{}", s(&out)),
        ],
        DEADLINE,
    );
    r.assert_error(&[s(&file), "\"user.a=b\"", "'='"]);
    assert!(!out.exists());
}

/// Pre-1970 mtimes were written as 0 (the ustar field cannot hold a negative number).
#[test]
fn silent_pre_1970_mtime_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let file = root.join("usr/bin/hello");
    let old = std::time::UNIX_EPOCH - std::time::Duration::from_secs(86_400 * 365);
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = dir.path().join("out.oci");
    rechunk(
        &[
            "--rootfs",
            s(&root),
            "--output",
            &format!("oci:{}:v1", s(&out)),
        ],
        DEADLINE,
    )
    .assert_ok();
    let bundle = dir.path().join("bundle");
    let unpacked = std::process::Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:v1", s(&out))])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        unpacked.status.success(),
        "{}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    use std::os::unix::fs::MetadataExt;
    let mtime = fs::metadata(bundle.join("rootfs/usr/bin/hello"))
        .unwrap()
        .mtime();
    assert_eq!(mtime, -86_400 * 365);
    // And read back by our own reader, the image gives the same tree again.
    let again = dir.path().join("again.oci");
    rechunk(
        &[
            "--from",
            &format!("oci:{}:v1", s(&out)),
            "--output",
            &format!("oci:{}:v1", s(&again)),
        ],
        DEADLINE,
    )
    .assert_ok();
    let digests = |l: &Path| {
        let (m, _) = manifest_and_config(l);
        let v: serde_json::Value = serde_json::from_slice(&fs::read(m).unwrap()).unwrap();
        v["layers"].clone()
    };
    assert_eq!(digests(&out), digests(&again));
}

/// `--label dev.rechunk.plan=…` replaced our own label (and broke `--previous`).
#[test]
fn silent_label_overriding_our_own_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    for key in ["dev.rechunk.plan", "dev.rechunk.components"] {
        let out = dir.path().join("out.oci");
        let r = rechunk(
            &[
                "--rootfs",
                s(&root),
                "--output",
                &format!("oci:{}", s(&out)),
                "--label",
                &format!("{key}=mine"),
            ],
            DEADLINE,
        );
        r.assert_error(&[&format!("--label {key}"), "rechunk sets this label itself"]);
        assert!(!out.exists());
    }
}

/// File names and config strings with terminal escape codes were printed raw.
#[test]
fn silent_terminal_escapes_in_names_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = small_rootfs(dir.path());
    let evil = "\x1b]0;pwned\x07\x1b[31mred";
    fs::write(root.join("usr/bin").join(evil), b"x").unwrap();
    let fifo = root.join("usr/bin").join(format!("{evil}.fifo"));
    mkfifo(&fifo);
    // An error naming the FIFO, and the table of a scan that leaves it out.
    let r = rechunk(&["scan", "--rootfs", s(&root)], DEADLINE);
    r.assert_error(&["\\x1b]0;pwned\\x07\\x1b[31mred.fifo"]);
    let r = rechunk(
        &["scan", "--rootfs", s(&root), "--skip-special-files"],
        DEADLINE,
    );
    r.assert_ok();
    assert!(
        !r.stdout().contains('\x1b') && !r.stderr().contains('\x1b'),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("\\x1b[31mred.fifo"), "{}", r.stdout());
    // A config whose labels carry escapes, shown by inspect and changelog.
    let config = dir.path().join("config.json");
    let labels = serde_json::json!({
        "org.opencontainers.image.version": format!("{evil}v1"),
        "dev.hhd.rechunk.info": serde_json::json!({"version": 2, "layers": [[format!("pkg{evil}")]],
            "packages": {format!("pkg{evil}"): format!("1-1{evil}")}}).to_string(),
    });
    fs::write(
        &config,
        serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": []}})
        .to_string(),
    )
    .unwrap();
    for args in [
        vec!["inspect", s(&config)],
        vec!["changelog", s(&config), s(&config)],
    ] {
        let r = rechunk(&args, DEADLINE);
        r.assert_ok();
        assert!(
            !r.stdout().contains('\x1b') && !r.stdout().contains('\x07'),
            "{args:?}: {}",
            r.stdout()
        );
    }
}

/// A 5 MB label was echoed whole in an error.
#[test]
fn silent_huge_label_is_cut_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let huge = "x".repeat(5 << 20);
    let hhd = serde_json::json!({"version": 2, "layers": [{ "not": huge }]}).to_string();
    fs::write(
        &config,
        serde_json::json!({"architecture": "amd64", "os": "linux",
            "config": {"Labels": {"dev.hhd.rechunk.info": hhd}},
            "rootfs": {"type": "layers", "diff_ids": []}})
        .to_string(),
    )
    .unwrap();
    let root = small_rootfs(dir.path());
    let r = rechunk(
        &[
            "--rootfs",
            s(&root),
            "--output",
            &format!("oci:{}", s(&dir.path().join("out.oci"))),
            "--previous",
            s(&config),
        ],
        DEADLINE,
    );
    r.assert_error(&["dev.hhd.rechunk.info", "bytes)"]);
    assert!(
        r.stderr().len() < 2000,
        "{} bytes of error",
        r.stderr().len()
    );
}

/// A gzip-bombed contentmeta (9 MB → 2.1 GB) was decompressed whole; now it stops at the cap.
#[test]
fn silent_gzip_bombed_contentmeta_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("contentmeta.json.gz");
    // 300 MiB of JSON whitespace, compressed to about 300 KiB.
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c {} /dev/zero | tr '\\0' ' ' | gzip -1 > '{}'",
            300u64 << 20,
            s(&bomb)
        ))
        .status()
        .unwrap();
    assert!(made.success());
    assert!(fs::metadata(&bomb).unwrap().len() < 4 << 20);
    let r = rechunk(&["plan", "--contentmeta", s(&bomb)], DEADLINE);
    r.assert_error(&[
        s(&bomb),
        "more than the 256 MiB limit for decompressed contentmeta",
    ]);
}

/// `compare --json | head -1` panicked on the broken pipe (exit 101) while the other commands
/// handle it.
#[test]
fn silent_compare_json_into_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.csv");
    fs::write(
        &history,
        "version,date,component,evr,size\nv1,2024-01-01,a,1,10\nv2,2024-01-02,a,2,10\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rechunk"))
        .args(["compare", "--json", "--no-sweep", "--history"])
        .arg(&history)
        .arg("--output")
        .arg(dir.path().join("reports"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before anything is written: every write gets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A manifest file whose config claims u64::MAX bytes: `diff` added it to the manifest's own
/// size (a debug build panicked on the overflow).
#[test]
fn sizes_wrap_manifest_config_size() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    fs::write(
        &manifest,
        serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{}", "c".repeat(64)), "size": u64::MAX},
            "layers": []})
        .to_string(),
    )
    .unwrap();
    let r = rechunk(&["diff", s(&manifest), s(&manifest)], DEADLINE);
    r.assert_error(&[s(&manifest), "the config's size", "4 EiB"]);
}
