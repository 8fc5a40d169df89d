//! Every file rechunk opens on the host by a name it was given (not a tree it walks: that is
//! `rechunk-rootfs`'s walk and `rechunk-tree`'s `openat2`), in one place:
//!
//! - [`input`]: an input file is opened as a regular file only (never a FIFO, which would hang,
//!   nor a device, which may never end or have side effects), optionally without following a
//!   final symlink, and read with a size cap.
//! - [`output`]: an output file is written to a new temporary file next to it and renamed into
//!   place, so a reader never sees half a file, a failure leaves the old one, and a symlink
//!   planted at the destination is never written through; a destination that exists and is not
//!   a regular file (a symlink, a device node, a FIFO, a socket, a directory) is refused.
//! - [`scratch`]: staging directories and temporary files that are removed when dropped, on a
//!   second Ctrl-C ([`scratch::remove_registered`]), and, after a `kill -9`, by the next run
//!   that stages in the same place (each holds a lock while its process lives).
//! - [`shown`]: untrusted names and values in messages: control characters escaped, long
//!   values cut.

pub mod input;
pub mod output;
pub mod scratch;
pub mod shown;

pub use input::{check_regular, open_regular, read_capped, read_to_end_capped, Links};
pub use output::{check_output_file, write_atomically, StagedFile, StagedSet};
pub use scratch::{ScratchDir, ScratchFile};

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, MutexGuard};

    /// [`crate::scratch::remove_registered`] takes every scratch of the process: tests that
    /// create some run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    pub(crate) fn serial() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }
}
