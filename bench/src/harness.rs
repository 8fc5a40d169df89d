//! What the end-to-end benchmarks share: the generated tree (≥ 1 GiB of `user.component`-tagged
//! "packages" with heavy-tailed sizes and binary-like content, about 3:1 compressible), and
//! commands timed under `/usr/bin/time` (wall time, CPU time, peak RSS), and the command line
//! every bench binary reads (`--name value` options, the rechunk binary it times).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};

/// A bench binary's command line: `--name value` options and bare flags.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Self {
        Args(std::env::args().collect())
    }

    /// The value after `name`, if given.
    pub fn opt(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1).cloned())
    }

    /// Whether the bare flag `name` is given.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    /// The value after `name` parsed, or `default` when not given.
    pub fn parsed<T>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        match self.opt(name) {
            Some(s) => s.parse().with_context(|| format!("{name} {s:?}")),
            None => Ok(default),
        }
    }

    /// The rechunk binary a bench times (`--rechunk`, by default the release build), as an
    /// absolute path, so commands run from other directories find it.
    pub fn rechunk(&self) -> anyhow::Result<PathBuf> {
        let path = PathBuf::from(
            self.opt("--rechunk")
                .unwrap_or_else(|| "target/release/rechunk".into()),
        );
        if !path.is_file() {
            bail!(
                "{} not found: run `cargo build --release` first",
                path.display()
            );
        }
        Ok(fs::canonicalize(&path)?)
    }
}

/// What the tree generator makes.
pub struct TreeSpec {
    pub packages: usize,
    pub total_bytes: u64,
}

/// One measured command: wall time, CPU time (user + sys, children included), peak RSS (KiB)
/// when measured.
pub struct Measure {
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub max_rss_kib: Option<u64>,
}

/// Runs `cmd` under `/usr/bin/time` (Debian package `time`): wall time from here, CPU time and
/// peak RSS from it (children included: bash waits for the whole pipeline).
pub fn timed(cmd: &mut Command, stats: &Path, what: &str) -> anyhow::Result<Measure> {
    let t = Instant::now();
    let out = cmd
        .output()
        .context("running /usr/bin/time (Debian package `time`)")?;
    let seconds = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = fs::read_to_string(stats)?;
    let fields: Vec<&str> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let (Some(rss), Some(user), Some(sys)) = (num(0), num(1), num(2)) else {
        bail!("{what}: unexpected /usr/bin/time output {text:?}");
    };
    Ok(Measure {
        seconds,
        cpu_seconds: user + sys,
        max_rss_kib: Some(rss as u64),
    })
}

pub fn time_command(stats: &Path) -> Command {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M %U %S", "-o"]).arg(stats);
    cmd
}

pub fn shell(cmd: &str) -> anyhow::Result<Measure> {
    let stats = std::env::temp_dir().join(format!("build-bench-{}.time", std::process::id()));
    let mut c = time_command(&stats);
    c.args(["bash", "-c", &format!("set -o pipefail; {cmd}")]);
    let mut m = timed(&mut c, &stats, &format!("`{cmd}`"))?;
    // The pipeline's RSS is not comparable to one process's.
    m.max_rss_kib = None;
    Ok(m)
}

pub fn du(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let md = e.metadata()?;
        total += if md.is_dir() {
            du(&e.path())?
        } else {
            md.len()
        };
    }
    Ok(total)
}

/// Writes the tree unless a complete one of this spec is already there.
pub fn generate(root: &Path, spec: &TreeSpec) -> anyhow::Result<()> {
    let marker = root.join(".complete");
    let want = format!("{} {}", spec.packages, spec.total_bytes);
    if fs::read_to_string(&marker).is_ok_and(|s| s == want) {
        return Ok(());
    }
    let _ = fs::remove_dir_all(root);
    let t = Instant::now();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    // Heavy-tailed package sizes, like a distribution: a few huge, many small.
    let weights: Vec<f64> = (0..spec.packages)
        .map(|i| 1.0 / (i as f64 + 1.0).powf(0.9))
        .collect();
    let sum: f64 = weights.iter().sum();
    for (i, w) in weights.iter().enumerate() {
        let dir = root.join(format!("usr/lib/pkg{i:03}"));
        fs::create_dir_all(&dir)?;
        rustix::fs::lsetxattr(
            &dir,
            "user.component",
            format!("pkg{i:03}").as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .with_context(|| format!("setting user.component on {}", dir.display()))?;
        let mut left = (spec.total_bytes as f64 * w / sum) as u64;
        let mut n = 0;
        while left > 0 {
            // File sizes from 4 KiB to ~8 MiB, mostly small.
            let size = (4096u64 << (rng.next() % 12)).min(left);
            write_file(&dir.join(format!("f{n:05}.so")), size, &mut rng)?;
            left -= size;
            n += 1;
        }
    }
    fs::write(&marker, want)?;
    println!(
        "generated {} in {:.1} s",
        root.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Binary-like content: runs of random bytes (incompressible) between runs of repeated
/// "symbol table" text, about 3:1 with zstd -3.
fn write_file(path: &Path, size: u64, rng: &mut XorShift) -> anyhow::Result<()> {
    const TEXT: &[u8] = b"_ZN4core3fmt9Formatter9write_str17h\0GLIBC_2.34\0__libc_start_main\0\
        .text\0.rodata\0.eh_frame\0/usr/lib64/ld-linux-x86-64.so.2\0";
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut written = 0u64;
    let mut block = vec![0u8; 4096];
    while written < size {
        let n = (size - written).min(block.len() as u64) as usize;
        if rng.next() & 3 == 0 {
            for chunk in block[..n].chunks_mut(8) {
                let r = rng.next().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
        } else {
            let off = (rng.next() % TEXT.len() as u64) as usize;
            for (j, b) in block[..n].iter_mut().enumerate() {
                *b = TEXT[(off + j) % TEXT.len()];
            }
            // Sprinkle addresses so it is not trivially repetitive.
            for j in (0..n).step_by(64) {
                block[j] = rng.next() as u8;
            }
        }
        out.write_all(&block[..n])?;
        written += n as u64;
    }
    out.flush()?;
    Ok(())
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
