//! The `rechunk` binary needs nothing at run time but the C runtime, so it can be copied into
//! any build stage (issue 3, point 8): no librpm, libostree, libzstd, libz, libsqlite3 or
//! libssl shared objects; rpmdb, zstd, zlib and SQLite are all compiled in. Checked with `ldd`
//! on the binary cargo built for the tests, which links the same libraries as the release one.

use std::process::Command;

/// The C runtime: glibc's loader, libc and libm, the vDSO, and libgcc_s (stack unwinding).
/// libpthread, libdl and librt are glibc too (separate files before glibc 2.34).
const C_RUNTIME: &[&str] = &[
    "linux-vdso",
    "ld-linux",
    "libc",
    "libm",
    "libgcc_s",
    "libpthread",
    "libdl",
    "librt",
];

/// `libgcc_s.so.1 => /lib/...` → `libgcc_s`; `/lib64/ld-linux-x86-64.so.2 (0x...)` →
/// `ld-linux-x86-64`.
fn library_name(ldd_line: &str) -> Option<&str> {
    let first = ldd_line.split_whitespace().next()?;
    let file = first.rsplit('/').next()?;
    Some(file.split(".so").next().unwrap_or(file))
}

fn is_c_runtime(name: &str) -> bool {
    C_RUNTIME
        .iter()
        .any(|rt| name == *rt || (*rt == "ld-linux" && name.starts_with("ld-linux")))
}

#[test]
fn binary_links_only_the_c_runtime() {
    let bin = env!("CARGO_BIN_EXE_rechunk");
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .expect("running ldd (Debian package libc-bin)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && stdout.contains("not a dynamic executable") {
        return; // static: needs nothing at all.
    }
    assert!(
        out.status.success(),
        "ldd {bin}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<&str> = stdout.lines().filter_map(library_name).collect();
    assert!(
        names.contains(&"libc"),
        "ldd output not understood (no libc): {stdout}"
    );
    let others: Vec<&&str> = names.iter().filter(|n| !is_c_runtime(n)).collect();
    assert!(
        others.is_empty(),
        "{bin} links more than the C runtime: {others:?}\n{stdout}"
    );
}

#[test]
fn ldd_lines_are_read_as_library_names() {
    assert_eq!(
        library_name("\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x7f9b88b28000)"),
        Some("libgcc_s")
    );
    assert_eq!(
        library_name("\t/lib64/ld-linux-x86-64.so.2 (0x00007f9b88b5b000)"),
        Some("ld-linux-x86-64")
    );
    assert_eq!(
        library_name("\tlibzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x1)"),
        Some("libzstd")
    );
    assert!(is_c_runtime("ld-linux-aarch64"));
    assert!(is_c_runtime("libc"));
    for foreign in [
        "libzstd",
        "libz",
        "librpm",
        "libostree-1",
        "libsqlite3",
        "libcrypto",
    ] {
        assert!(!is_c_runtime(foreign), "{foreign}");
    }
}
