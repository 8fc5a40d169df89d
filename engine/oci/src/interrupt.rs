//! Ctrl-C and SIGTERM.
//!
//! During a build ([`install_handlers`]) the first signal only raises a flag: the layer
//! writers and the `--from` reader check it between entries and between 1 MiB reads, return
//! [`crate::Error::Interrupted`], and the staging directory is removed as the error unwinds,
//! so nothing is left at the destination.
//!
//! A second signal must not wait for that (a stuck write, or `timeout`, which signals the
//! process and then its whole group, so the second copy arrives at once), yet must not leave
//! the staging directory behind either: it wakes a watcher thread that removes every scratch
//! directory and file still registered ([`rechunk_fsio::scratch::remove_registered`]), says
//! so, and exits with status 130. Commands that never check the flag
//! ([`install_exit_handlers`]: `compare`, `changelog`) take that path on the first signal.
//!
//! The handlers themselves only touch atomics and `write(2)` one byte to a pipe, both
//! async-signal-safe; everything else happens on the watcher thread.

use std::io::Read;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// The first signal only raises the flag (the work checks it).
static GRACEFUL: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
/// Write end of the watcher's pipe (-1 until installed).
static WAKE: AtomicI32 = AtomicI32::new(-1);
static INSTALL: Once = Once::new();

/// True once SIGINT or SIGTERM arrived (after [`install_handlers`]).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// For work that checks [`requested`]: the first SIGINT/SIGTERM asks it to stop, a second
/// one cleans up and exits at once (see the module doc). Call from the binary; repeatable.
pub fn install_handlers() {
    GRACEFUL.store(true, Ordering::SeqCst);
    install();
}

/// For commands that never check [`requested`]: the first SIGINT/SIGTERM removes their
/// scratch files (staged reports) and exits with status 130.
pub fn install_exit_handlers() {
    install();
}

fn install() {
    INSTALL.call_once(|| {
        let mut fds: [RawFd; 2] = [-1; 2];
        // SAFETY: a valid two-element array for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            // Without the watcher, a second signal falls back to exiting at once.
            set_handlers();
            return;
        }
        // SAFETY: the read end was just created and is owned by the watcher from now on.
        let mut wake = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        let spawned = std::thread::Builder::new()
            .name("rechunk-signals".into())
            .spawn(move || {
                let mut byte = [0u8; 1];
                // Blocks until a handler decides the process must go.
                if matches!(wake.read(&mut byte), Ok(1)) {
                    exit_now(byte[0]);
                }
            });
        if spawned.is_ok() {
            WAKE.store(fds[1], Ordering::SeqCst);
        }
        set_handlers();
    });
}

fn set_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` only touches atomics and calls `write` / `_exit`, all
        // async-signal-safe.
        unsafe {
            libc::signal(sig, handler);
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    let n = SIGNALS.fetch_add(1, Ordering::SeqCst) + 1;
    if GRACEFUL.load(Ordering::SeqCst) && n < 2 {
        return;
    }
    let fd = WAKE.load(Ordering::SeqCst);
    let byte = sig as u8;
    // SAFETY: `write` and `_exit` are async-signal-safe; `byte` outlives the call.
    unsafe {
        if fd < 0 || libc::write(fd, (&byte as *const u8).cast(), 1) != 1 {
            libc::_exit(130);
        }
    }
}

/// On the watcher thread: remove what is staged, say so, exit 130.
fn exit_now(sig: u8) -> ! {
    let removed = rechunk_fsio::scratch::remove_registered();
    let name = if i32::from(sig) == libc::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    };
    let again = if GRACEFUL.load(Ordering::SeqCst) {
        " again"
    } else {
        ""
    };
    let what = if removed.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = removed
            .iter()
            .map(|p| rechunk_fsio::shown::escape(&p.to_string_lossy()).into_owned())
            .collect();
        format!("; removed {}", list.join(", "))
    };
    eprintln!("rechunk: interrupted{again} ({name}): stopping now{what}");
    std::process::exit(130)
}
