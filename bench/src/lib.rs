//! What the benches share: the walk they all measure against, the median they report from
//! alternating runs, and the end-to-end harness ([`harness`]).

pub mod harness;

use std::path::Path;

use rechunk_rootfs::{scan, ScanOptions};

/// Walks `root` as `rechunk_rootfs::scan` does and returns the entry count (benches only: a
/// failed walk panics).
pub fn scan_entries(root: &Path) -> usize {
    scan(root, &ScanOptions::default())
        .expect("scan")
        .tree
        .entries
        .len()
}

/// Median of non-empty timings (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes a bench's figures to `bench/results/NAME.md`, where
/// `scripts/update-readme-performance.sh` takes them for the README's Performance section:
/// `body` (markdown) followed by how, when and on what it was measured. Returns the path.
pub fn write_result(name: &str, command: &str, body: &str) -> std::io::Result<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.md"));
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    let text = format!(
        "{}\n\nMeasured {} on {cpus} CPUs (load average {load} at the end) by `{command}`.\n",
        body.trim_end(),
        today()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Today's date (UTC), `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
