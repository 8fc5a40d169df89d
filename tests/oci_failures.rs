//! `rechunk build` (and `compare`'s reports) when things go wrong while the output is being
//! written: the destination's filesystem fills up, it is read-only, the user presses Ctrl-C,
//! the process is killed. Each time the binary exits non-zero with a message saying what
//! happened and where (but for `kill -9`, which gives it no chance), the destination is left
//! as it was (no image, no staging directory, no half-written archive or report), and a rerun
//! succeeds.
//!
//! A full disk is a small tmpfs mounted over the destination's parent (we run as root here and
//! in CI). Where `mount` is refused (an unprivileged container), the same failure is produced
//! with RLIMIT_FSIZE on the child (writes past the limit fail with EFBIG, SIGXFSZ ignored); each
//! test prints which of the two ran and names it in its assertion messages.

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const MIB: usize = 1 << 20;

/// How the destination is kept small.
enum Limit {
    /// A tmpfs of this many bytes is mounted on the directory (unmounted on drop).
    Tmpfs(PathBuf),
    /// The child may not write any file past this many bytes.
    FileSize(u64),
}

impl Limit {
    /// Mounts a tmpfs of `tmpfs_bytes` on `dir`, or falls back to a file size limit of
    /// `file_bytes`.
    fn on(dir: &Path, tmpfs_bytes: usize, file_bytes: usize) -> Limit {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={tmpfs_bytes}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let limit = if mounted {
            Limit::Tmpfs(dir.to_path_buf())
        } else {
            Limit::FileSize(file_bytes as u64)
        };
        eprintln!("destination limited by {}", limit.describe());
        limit
    }

    fn describe(&self) -> String {
        match self {
            Limit::Tmpfs(_) => "a small tmpfs (expect ENOSPC)".into(),
            Limit::FileSize(n) => format!("RLIMIT_FSIZE={n} (mount refused; expect EFBIG)"),
        }
    }

    /// The cause the error message must give.
    fn cause(&self) -> &'static str {
        match self {
            Limit::Tmpfs(_) => "No space left on device",
            Limit::FileSize(_) => "File too large",
        }
    }

    /// Gives the destination room again, for the rerun: the tmpfs is grown; a file size
    /// limit is simply not applied to the rerun.
    fn lift(&self) {
        if let Limit::Tmpfs(dir) = self {
            let grown = Command::new("mount")
                .args(["-o", "remount,size=256m"])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(grown, "remounting {dir:?} larger");
        }
    }

    fn apply(&self, cmd: &mut Command) {
        if let Limit::FileSize(bytes) = *self {
            // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: bytes,
                        rlim_max: bytes,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // Otherwise the first write past the limit kills the process instead of
                    // failing with EFBIG. An ignored signal stays ignored across exec.
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
    }
}

impl Drop for Limit {
    fn drop(&mut self) {
        if let Limit::Tmpfs(dir) = self {
            let _ = Command::new("umount").arg(dir).status();
        }
    }
}

/// A root filesystem with one file per size given, of compressible but varied text (about 3:1
/// with zstd -3, far slower to compress at high levels than random bytes).
fn tree(dir: &Path, sizes: &[usize]) -> PathBuf {
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("usr/lib")).unwrap();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let words: Vec<Vec<u8>> = (0..512)
        .map(|_| {
            let len = 3 + next() % 10;
            (0..len).map(|_| b'a' + (next() % 26) as u8).collect()
        })
        .collect();
    for (i, &size) in sizes.iter().enumerate() {
        let mut content = Vec::with_capacity(size + 16);
        while content.len() < size {
            let r = next();
            content.extend_from_slice(&words[(r % 512) as usize]);
            content.push(if r & 0x300 == 0 {
                (r >> 16) as u8
            } else {
                b' '
            });
        }
        content.truncate(size);
        let mut f = fs::File::create(root.join(format!("usr/lib/lib{i}.so"))).unwrap();
        f.write_all(&content).unwrap();
    }
    root
}

fn rechunk(root: &Path, output: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rechunk"));
    cmd.arg("--rootfs")
        .arg(root)
        .args(["--output", output])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000");
    cmd
}

fn assert_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Exit 1, the error names a file being written in `dest_dir` and the cause, and `dest_dir` is
/// left empty.
fn assert_failed_cleanly(out: &Output, dest_dir: &Path, limit: &Limit) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let how = limit.describe();
    assert_eq!(out.status.code(), Some(1), "[{how}] {stderr}");
    let written = format!("writing {}/.", dest_dir.display());
    assert!(
        stderr.contains(&written),
        "[{how}] the error must name the file being written ({written}...): {stderr}"
    );
    assert!(
        stderr.contains(limit.cause()),
        "[{how}] the error must give the cause: {stderr}"
    );
    assert_eq!(
        names_in(dest_dir),
        Vec::<String>::new(),
        "[{how}] left behind at the destination"
    );
}

#[test]
fn full_disk_while_writing_layers_leaves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let root = tree(work.path(), &[3 * MIB, 2 * MIB]);
    let dest = work.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let limit = Limit::on(&dest, MIB, MIB);
    let output = format!("oci:{}", dest.join("img").display());
    let mut cmd = rechunk(&root, &output, &["--compression", "none"]);
    limit.apply(&mut cmd);
    let out = cmd.output().unwrap();
    assert_failed_cleanly(&out, &dest, &limit);
    limit.lift();
    assert_ok(&mut rechunk(&root, &output, &["--compression", "none"]));
    assert_eq!(names_in(&dest), ["img"]);
}

/// The layers fit, the archive made of them does not (it is written next to the staging
/// directory, so it needs the space twice): the temporary archive must go too.
#[test]
fn full_disk_while_writing_the_archive_leaves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let root = tree(work.path(), &[3 * MIB, 2 * MIB]);
    let dest = work.path().join("dest");
    fs::create_dir(&dest).unwrap();
    // tmpfs: 5 MiB of blobs fit in 8, their 5 MiB archive does not; RLIMIT_FSIZE is per file:
    // each blob (≤ 3 MiB) fits in 4, the archive does not.
    let limit = Limit::on(&dest, 8 * MIB, 4 * MIB);
    let output = format!("oci-archive:{}", dest.join("img.tar").display());
    let mut cmd = rechunk(&root, &output, &["--compression", "none"]);
    limit.apply(&mut cmd);
    let out = cmd.output().unwrap();
    assert_failed_cleanly(&out, &dest, &limit);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".rechunk-archive-"),
        "[{}] expected to fail on the archive, not a layer: {stderr}",
        limit.describe()
    );
    limit.lift();
    assert_ok(&mut rechunk(&root, &output, &["--compression", "none"]));
    assert_eq!(names_in(&dest), ["img.tar"]);
}

/// A build of two 8 MiB layers at zstd level 19 (seconds of work), started and waited for
/// until a layer's temporary blob exists (so no fixed sleep): the child, its staging
/// directory and the destination directory.
fn start_writing(work: &Path, extra: &[&str]) -> (std::process::Child, PathBuf, PathBuf) {
    let root = tree(work, &[8 * MIB, 8 * MIB]);
    let dest = work.join("dest");
    fs::create_dir(&dest).unwrap();
    let mut args = vec!["--compression", "zstd:19"];
    args.extend_from_slice(extra);
    let mut child = rechunk(&root, &format!("oci:{}", dest.join("img").display()), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let staging = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "rechunk exited ({status}) before it could be interrupted; the tree is too \
                 small for this machine: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let writing = names_in(&dest)
            .into_iter()
            .find(|n| n.starts_with(".img.rechunk-"))
            .map(|n| dest.join(n))
            .filter(|s| {
                // A layer's temporary blob: the writer is running.
                fs::read_dir(s.join("blobs/sha256")).is_ok_and(|mut d| d.next().is_some())
            });
        if let Some(s) = writing {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (child, staging, dest)
}

fn signal(child: &std::process::Child, sig: libc::c_int) {
    // SAFETY: signalling our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

/// Waits until no signal is pending for the child (its handler has run).
fn wait_delivered(child: &std::process::Child) {
    let status = format!("/proc/{}/status", child.id());
    for _ in 0..500 {
        let text = fs::read_to_string(&status).unwrap_or_default();
        let pending = text
            .lines()
            .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
            .any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|m| !m.trim_matches('0').is_empty())
            });
        if !pending {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Exit 130 with `message` in the error, and nothing left at the destination.
fn assert_interrupted_cleanly(
    child: std::process::Child,
    staging: &Path,
    dest: &Path,
    message: &str,
) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(130),
        "an interrupted build exits 128 + SIGINT: {stderr}"
    );
    assert!(stderr.contains(message), "{stderr}");
    assert!(!staging.exists(), "staging directory left: {stderr}");
    assert_eq!(names_in(dest), Vec::<String>::new(), "{stderr}");
    stderr
}

/// Ctrl-C while a layer is being compressed.
#[test]
fn sigint_while_writing_exits_130_and_leaves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let (child, staging, dest) = start_writing(work.path(), &["--jobs", "1"]);
    signal(&child, libc::SIGINT);
    assert_interrupted_cleanly(child, &staging, &dest, "interrupted");
}

/// `timeout` signals the process, then its whole group: the second copy arrives at once. It
/// used to exit at once too, leaving the staging directory (about 1 run in 10 with `timeout`;
/// every time when the two arrive back to back, as here). Several rounds.
#[test]
fn interrupts_second_signal_still_cleans_up() {
    for round in 0..4 {
        let work = tempfile::tempdir().unwrap();
        let (child, staging, dest) = start_writing(work.path(), &["--jobs", "1"]);
        let sig = if round % 2 == 0 {
            libc::SIGTERM
        } else {
            libc::SIGINT
        };
        signal(&child, sig);
        // A second signal sent while the first is pending is merged into it: wait until the
        // first is delivered (as happens with `timeout` now and then).
        wait_delivered(&child);
        signal(&child, sig);
        assert_interrupted_cleanly(child, &staging, &dest, "interrupted");
    }
}

/// `--jobs 100000` started ~12,000 threads, drove the load to ~800, ignored SIGTERM and left
/// its staging directory after SIGKILL. It is capped (4 per CPU, at most 256) with a warning,
/// and SIGTERM stops it cleanly.
#[test]
fn interrupts_jobs_100000_is_capped_and_sigterm_honoured() {
    let work = tempfile::tempdir().unwrap();
    let (child, staging, dest) = start_writing(work.path(), &["--jobs", "100000"]);
    signal(&child, libc::SIGTERM);
    let stderr = assert_interrupted_cleanly(child, &staging, &dest, "interrupted");
    assert!(
        stderr.contains("--jobs 100000 is more than"),
        "the cap is said: {stderr}"
    );
}

/// Name → content of every file under `dir` (recursively), to compare before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The reports of `compare` do not fit: the error names the report being written and the
/// cause, the previous reports stay whole (all are renamed into place only once all are
/// written), and a rerun with room succeeds.
#[test]
fn full_disk_while_writing_the_reports_keeps_the_previous_ones() {
    let work = tempfile::tempdir().unwrap();
    let reports = work.path().join("reports");
    fs::create_dir(&reports).unwrap();
    let compare = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rechunk"));
        cmd.args([
            "compare",
            "--strategies",
            "single",
            "--to-version",
            "6bd4b0d8",
        ])
        .arg("--output")
        .arg(&reports);
        cmd
    };
    // The first run's reports, a little over 1 MiB in all (attribution.csv is most of it).
    assert_ok(&mut compare());
    let before = snapshot(&reports);
    let size: u64 = before.iter().map(|(_, c)| c.len() as u64).sum();
    // Room for the previous reports plus a part of new ones.
    let limit = Limit::on(
        &reports,
        size as usize + size as usize / 2,
        size as usize / 3,
    );
    if let Limit::Tmpfs(_) = limit {
        // The mount hid the first reports: write them again inside it.
        assert_ok(&mut compare());
    }
    let before = snapshot(&reports);
    let mut cmd = compare();
    limit.apply(&mut cmd);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let how = limit.describe();
    assert_eq!(out.status.code(), Some(1), "[{how}] {stderr}");
    assert!(
        stderr.contains(&format!("writing {}/", reports.display()))
            && stderr.contains(limit.cause()),
        "[{how}] the error names the report and the cause: {stderr}"
    );
    assert_eq!(
        snapshot(&reports),
        before,
        "[{how}] the previous reports changed"
    );
    limit.lift();
    assert_ok(&mut compare());
}

/// `kill -9` in the middle of a build into an existing layout: the layout keeps its image, the
/// staging directory left behind is removed by the next run into the same place (it holds no
/// lock any more), and that run succeeds.
#[test]
fn sigkill_mid_build_then_a_rerun_into_the_same_destination() {
    let work = tempfile::tempdir().unwrap();
    let root = tree(work.path(), &[8 * MIB, 8 * MIB]);
    let dest = work.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let layout = dest.join("img");
    let v1 = format!("oci:{}:v1", layout.display());
    assert_ok(&mut rechunk(&root, &v1, &["--compression", "none"]));
    let before = snapshot(&layout);
    fs::write(root.join("usr/lib/new"), b"v2").unwrap();
    let v2 = format!("oci:{}:v2", layout.display());
    let mut child = rechunk(&root, &v2, &["--compression", "zstd:19", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staging = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        let found = names_in(&dest)
            .into_iter()
            .find(|n| n.starts_with(".img.rechunk-"))
            .map(|n| dest.join(n))
            .filter(|s| fs::read_dir(s.join("blobs/sha256")).is_ok_and(|mut d| d.next().is_some()));
        if let Some(s) = found {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(snapshot(&layout), before, "the layout changed");
    assert!(staging.exists(), "kill -9 leaves its staging directory");
    // As if the kill had been a while ago (a dead run's directory is only reclaimed once it
    // is a minute old: one created an instant ago may not be locked yet).
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    fs::File::open(&staging).unwrap().set_modified(old).unwrap();
    assert_ok(&mut rechunk(&root, &v2, &["--compression", "none"]));
    assert!(
        !staging.exists(),
        "the dead run's staging directory was not reclaimed"
    );
    assert_eq!(names_in(&dest), ["img"]);
    let index = fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(
        index.contains("\"v1\"") && index.contains("\"v2\""),
        "{index}"
    );
}

/// A read-only destination: a clear error before anything is written, nothing changed, and
/// the rerun once it is writable succeeds.
#[test]
fn read_only_destination() {
    let work = tempfile::tempdir().unwrap();
    let root = tree(work.path(), &[MIB]);
    let dest = work.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&dest)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs (not root): skipping");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&dest);
    let layout = dest.join("img");
    let v1 = format!("oci:{}:v1", layout.display());
    assert_ok(&mut rechunk(&root, &v1, &[]));
    let before = snapshot(&dest);
    let remount = |how: &str| {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{how}")])
            .arg(&dest)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {how}");
    };
    remount("ro");
    let v2 = format!("oci:{}:v2", layout.display());
    let out = rechunk(&root, &v2, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&dest.display().to_string()) && stderr.contains("Read-only file system"),
        "{stderr}"
    );
    assert_eq!(snapshot(&dest), before);
    remount("rw");
    assert_ok(&mut rechunk(&root, &v2, &[]));
}
