//! Ctrl-C and SIGTERM during a build: the handlers only raise a flag; the layer writers check it
//! between entries and between 1 MiB reads, return [`crate::Error::Interrupted`], and the
//! staging directory is removed as the error unwinds, so nothing is left at the destination.
//! A second signal exits at once (status 130) without cleaning up.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// True once SIGINT or SIGTERM arrived (after [`install_handlers`]).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Installs the SIGINT/SIGTERM handlers. Call once, from the binary.
pub fn install_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` only touches an atomic and calls the async-signal-safe `_exit`.
        unsafe {
            libc::signal(sig, handler);
        }
    }
}

extern "C" fn on_signal(_sig: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(130) }
    }
}
