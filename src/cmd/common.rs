//! What several subcommands share: the rootfs loading options and a load with a progress
//! spinner, the build date (`SOURCE_DATE_EPOCH`), stdout that tolerates a closed pipe, and
//! human-readable sizes.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rechunk_model::Timestamp;
use rechunk_rootfs::{load, LoadOptions, LoadedRoot};
use rechunk_tree::WriteRules;

/// How a root filesystem is loaded (`build`, `scan`, `plan --rootfs`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LoadArgs {
    /// Leave out sockets, FIFOs and device nodes (with a warning) instead of failing on them.
    #[arg(long)]
    pub skip_special_files: bool,
    /// Leave out unreadable paths and corrupt rpmdb rows (with a warning) instead of failing.
    #[arg(long)]
    pub keep_going: bool,
    /// One component per source rpm instead of per binary package.
    #[arg(long)]
    pub group_by_source: bool,
}

/// Loads `root` (scan, rpmdb, components) with an entry counter on stderr.
pub fn load_rootfs(root: &Path, args: &LoadArgs, verify_digests: bool) -> Result<LoadedRoot> {
    let count = Arc::new(AtomicU64::new(0));
    let opts = LoadOptions {
        skip_special_files: args.skip_special_files,
        keep_going: args.keep_going,
        group_by_source: args.group_by_source,
        verify_digests,
        progress: Some(count.clone()),
        tmpdir: None,
        rules: WriteRules {
            clamp_mtime: source_date_epoch()?,
        },
    };
    // Every load error names its full path already; the context says which step failed.
    with_counter(&count, || load(root, &opts))
        .with_context(|| format!("scanning {}", root.display()))
}

/// Runs `work` while a spinner shows `count` (hidden when stderr is not a terminal).
fn with_counter<T>(count: &Arc<AtomicU64>, work: impl FnOnce() -> T) -> T {
    let bar = progress_bar("{spinner} scanning: {pos} entries ({per_sec}, {elapsed})");
    let done = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (bar, count, done) = (bar.clone(), count.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(count.load(Ordering::Relaxed));
                bar.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let result = work();
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    bar.finish_and_clear();
    result
}

/// A bar on stderr; indicatif hides it when stderr is not a terminal.
pub fn progress_bar(template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `SOURCE_DATE_EPOCH`, when set: the image date, and the clamp for file mtimes.
pub fn source_date_epoch() -> Result<Option<Timestamp>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse::<Timestamp>()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds")),
        _ => Ok(None),
    }
}

/// The date of this build: `SOURCE_DATE_EPOCH`, else now.
pub fn build_date() -> Result<Timestamp> {
    Ok(source_date_epoch()?.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as Timestamp)
    }))
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// `12.3 MiB`-style sizes for tables.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_pick_the_largest_unit_below_1024() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
