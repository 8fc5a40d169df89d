//! What the hostile-input tests share: the binary run with a deadline and a memory ceiling (so
//! that a regression fails the test instead of hanging it or exhausting the machine), and a
//! small valid image to break.

#![allow(dead_code)]

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Address space the binary may use: far above what it needs for these inputs, far below
/// what an unbounded read would take.
const MEMORY_CEILING: u64 = 4 << 30;

/// How a bounded run ended.
pub struct Run {
    pub out: Output,
    /// Killed at the deadline.
    pub timed_out: bool,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    /// Exit 1 (not a hang, a crash or an out-of-memory kill) with every `needle` in the error.
    pub fn assert_error(&self, needles: &[&str]) {
        let stderr = self.stderr();
        assert!(!self.timed_out, "hung (killed at the deadline): {stderr}");
        assert_eq!(self.out.status.code(), Some(1), "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "the error must say {n:?}: {stderr}");
        }
    }

    pub fn assert_ok(&self) {
        assert!(
            !self.timed_out,
            "hung (killed at the deadline): {}",
            self.stderr()
        );
        assert!(
            self.out.status.success(),
            "{:?}: {}",
            self.out.status,
            self.stderr()
        );
    }
}

/// `rechunk ARGS` with SOURCE_DATE_EPOCH set, killed after `deadline`, its address space capped.
pub fn rechunk(args: &[&str], deadline: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rechunk"));
    cmd.args(args).env("SOURCE_DATE_EPOCH", "1700000000");
    bounded(&mut cmd, deadline)
}

/// Runs `cmd` with the deadline and the memory ceiling.
pub fn bounded(cmd: &mut Command, deadline: Duration) -> Run {
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEMORY_CEILING,
                rlim_max: MEMORY_CEILING,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rechunk");
    // Drained as they come, so a child writing much never blocks on a full pipe.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let stderr = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let mut timed_out = false;
    while child.try_wait().expect("waiting for rechunk").is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().expect("waiting for rechunk");
    let out = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    Run { out, timed_out }
}

/// The usual deadline: generous for a debug build on a loaded machine, short for a hang.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A one-file root filesystem.
pub fn small_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("usr/bin/hello"), b"hello\n").unwrap();
    root
}

/// Builds a small image at `dir/NAME` (an `oci:` layout tagged `v1`); returns the layout path.
pub fn small_image(dir: &Path, name: &str) -> PathBuf {
    let root = small_rootfs(dir);
    let layout = dir.join(name);
    let reference = format!("oci:{}:v1", layout.display());
    rechunk(
        &["--rootfs", root.to_str().unwrap(), "--output", &reference],
        DEADLINE,
    )
    .assert_ok();
    layout
}

/// (manifest, config) blob paths of the only manifest in `layout`.
pub fn manifest_and_config(layout: &Path) -> (PathBuf, PathBuf) {
    let blob = |digest: &str| layout.join("blobs/sha256").join(&digest[7..]);
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = blob(index["manifests"][0]["digest"].as_str().unwrap());
    let m: serde_json::Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    let config = blob(m["config"]["digest"].as_str().unwrap());
    (manifest, config)
}

/// A FIFO at `path` (reading it without a writer blocks forever).
pub fn mkfifo(path: &Path) {
    let _ = fs::remove_file(path);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {path:?}"
    );
}

/// Replaces `path` with a symlink to `target`.
pub fn link(path: &Path, target: &str) {
    let _ = fs::remove_file(path);
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// A sparse file of `len` bytes (zeros, no disk used).
pub fn sparse(path: &Path, len: u64) {
    let _ = fs::remove_file(path);
    fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// A chain of `depth` directories named `d` under `root` (created relative to each other's
/// descriptors: the full path may exceed PATH_MAX), with a file `f` at the bottom.
pub fn deep_tree(root: &Path, depth: usize) {
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    fs::create_dir_all(root).unwrap();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = openat(rustix::fs::CWD, root, flags, Mode::empty()).unwrap();
    for _ in 0..depth {
        mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).unwrap();
        fd = openat(&fd, "d", flags, Mode::empty()).unwrap();
    }
    let f = openat(
        &fd,
        "f",
        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&f, b"bottom\n").unwrap();
}

/// Removes a tree of any depth (coreutils `rm` does not recurse on the stack).
pub fn remove_deep(path: &Path) {
    let status = Command::new("rm").arg("-rf").arg(path).status().unwrap();
    assert!(status.success(), "rm -rf {path:?}");
}
