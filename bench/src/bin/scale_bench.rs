//! Speed at scale: `rechunk build` with every strategy against the plain tools, in the same
//! run, on two trees that stress different things:
//!
//! ```sh
//! cargo build --release && cargo run --release -p rechunk-bench --bin scale-bench -- --runs 2
//! ```
//!
//! - **desktop**: one version of the FCOS stable history at `rechunk synth --scale desktop`
//!   (2,634 real rpm packages installed by rpm, 156,000 files, 7 GB; needs root and rpm; the
//!   tree and its package cache are made once under `--dir` and reused);
//! - **small files**: 50,000 files averaging 10 KiB (512 bytes to 32.5 KiB), 90% of
//!   them unowned under a few top-level directories, 10% in 100 `user.component`-tagged
//!   directories, text-like content about 2:1 compressible.
//!
//! Per tree, each round times `tar -cf - DIR | zstd -3 -T2` and `tar -cf - DIR | pigz -6 -p 2`
//! (the baselines) and the release `rechunk` build (`--jobs 2`, 64 layers) with every
//! strategy in zstd:3 and gzip:6; every build runs right after a run of its mode's baseline,
//! and each ratio is taken within that pair, so a drift of the machine's speed between runs
//! (this 2-CPU VM's baseline ran from 1.48 to 2.4 s within one day) hits both sides; outputs go
//! to `--out` (default: the tree's directory), removed after each run. Reports the median over
//! `--runs` rounds of the pairs' time and CPU time ratios to the baseline (targets: ≤ 1.2 ×
//! the zstd pipeline, ≤ 1.0 × the pigz pipeline) and rechunk's peak RSS (target ≤ 512 MiB), to
//! `bench/results/scale.md` (`--result NAME`: `NAME.md`, e.g. for a run of one mode only).
//! `--modes zstd:3,gzip:6`, `--strategies a,b` and `--trees small,desktop` narrow a run.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use rechunk_bench::harness::{du, shell, time_command, timed, Args, Measure};
use rechunk_bench::median;
use rechunk_datasets::synth::content::{generate, Texture};

/// The history version the desktop tree is made from (FCOS stable's last).
const DESKTOP_VERSION: &str = "40.20241006.3.0";
/// Files of the small-files tree.
const SMALL_FILES: usize = 50_000;

fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    let opt = |name: &str| args.opt(name);
    let dir = PathBuf::from(opt("--dir").unwrap_or_else(|| "target/scale-bench".into()));
    let rechunk = args.rechunk()?;
    let runs: usize = args.parsed("--runs", 1)?;
    let trees: Vec<String> = opt("--trees")
        .unwrap_or_else(|| "small,desktop".into())
        .split(',')
        .map(str::to_owned)
        .collect();
    let strategies: Vec<String> = match opt("--strategies") {
        Some(s) => s.split(',').map(str::to_owned).collect(),
        None => rechunk_strategies::names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let modes: Vec<String> = opt("--modes")
        .unwrap_or_else(|| "zstd:3,gzip:6".into())
        .split(',')
        .map(str::to_owned)
        .collect();
    let result = opt("--result").unwrap_or_else(|| "scale".into());
    if result.is_empty() || result.contains(['/', '.']) {
        bail!("--result {result:?}: a name for bench/results/NAME.md, without `/` or `.`");
    }
    fs::create_dir_all(&dir)?;
    let mut md = String::from("### Building at scale\n\n");
    for name in &trees {
        let tree = match name.as_str() {
            "small" => small_tree(&dir.join("small"))?,
            "desktop" => desktop_tree(&rechunk, &dir)?,
            other => bail!("--trees: unknown tree {other:?} (small, desktop)"),
        };
        let out = opt("--out").map_or_else(|| dir.join("out"), PathBuf::from);
        md.push_str(&measure_tree(
            name,
            &tree,
            &out,
            &rechunk,
            &strategies,
            &modes,
            runs,
        )?);
    }
    // The machine's load at the end, as `uptime` says it (other work shares these cores).
    let uptime = Command::new("uptime").output().map_or_else(
        |e| format!("uptime: {e}"),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    );
    md.push_str(&format!("`uptime` after the run: `{uptime}`\n"));
    print!("{md}");
    // The command as run, so the result file says how to reproduce it.
    let mut command = format!(
        "cargo run --release -p rechunk-bench --bin scale-bench -- --runs {runs} --trees {}",
        trees.join(",")
    );
    for name in ["--modes", "--strategies", "--result"] {
        if let Some(value) = opt(name) {
            command.push_str(&format!(" {name} {value}"));
        }
    }
    let path = rechunk_bench::write_result(&result, &command, &md)?;
    println!("written to {}", path.display());
    Ok(())
}

/// Times the baselines and every strategy × mode on one tree; a markdown section.
fn measure_tree(
    name: &str,
    tree: &Path,
    out: &Path,
    rechunk: &Path,
    strategies: &[String],
    modes: &[String],
    runs: usize,
) -> anyhow::Result<String> {
    let bytes = du(tree)?;
    let entries = count_entries(tree)?;
    println!(
        "{name}: {} ({:.2} GiB in {entries} entries)",
        tree.display(),
        bytes as f64 / (1u64 << 30) as f64
    );
    // Warm the page cache (through a pipe: GNU tar reads nothing when writing to /dev/null).
    shell(&format!(
        "tar -cf - -C {} . | cat > /dev/null",
        tree.display()
    ))?;
    fs::create_dir_all(out)?;
    let baseline = |mode: &str| -> anyhow::Result<Measure> {
        let target = out.join("baseline");
        let cmd = match mode.split(':').next() {
            Some("zstd") => format!(
                "tar -cf - -C {} . | zstd -3 -T2 -q -f -o {}",
                tree.display(),
                target.display()
            ),
            _ => format!(
                "tar -cf - -C {} . | pigz -6 -p 2 > {}",
                tree.display(),
                target.display()
            ),
        };
        let m = shell(&cmd);
        let _ = fs::remove_file(&target);
        m
    };
    let mut pairs: Vec<Vec<Vec<Pair>>> = modes
        .iter()
        .map(|_| strategies.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 0..runs.max(1) {
        for (mi, mode) in modes.iter().enumerate() {
            for (si, strategy) in strategies.iter().enumerate() {
                let base = baseline(mode)?;
                let m = build(rechunk, tree, out, mode, strategy)?;
                println!(
                    "  round {round} {mode} {strategy} {:.2} s ({:.2} s CPU, {} MiB); baseline \
                     just before {:.2} s ({:.2} s CPU)",
                    m.seconds,
                    m.cpu_seconds,
                    m.max_rss_kib.unwrap_or(0) / 1024,
                    base.seconds,
                    base.cpu_seconds,
                );
                pairs[mi][si].push(Pair { base, build: m });
            }
        }
    }
    let mut md = format!(
        "**{name}**: {:.2} GiB in {entries} entries ({}), {runs} rounds; each `rechunk build \
         --jobs 2 --max-layers 64 --strategy S` run right after a run of its mode's baseline, \
         the ratio taken per pair and the median over rounds shown (times are medians too); CPU \
         time (user + sys) and peak RSS (the largest) from `/usr/bin/time`:\n\n\
         | mode | baseline | strategy | rechunk | time ratio | CPU time ratio | peak RSS |\n\
         |---|---|---|---|---:|---:|---:|\n",
        bytes as f64 / (1u64 << 30) as f64,
        match name {
            "desktop" => "`rechunk synth --scale desktop`, FCOS stable 40.20241006.3.0",
            _ => "50,000 files, 90% unowned",
        }
    );
    for (mi, mode) in modes.iter().enumerate() {
        let (tool, target) = match mode.starts_with("zstd") {
            true => ("`tar \\| zstd -3 -T2`", 1.2),
            false => ("`tar \\| pigz -6 -p 2`", 1.0),
        };
        for (si, strategy) in strategies.iter().enumerate() {
            let runs = &pairs[mi][si];
            if runs.is_empty() {
                continue;
            }
            let ratio = median(
                runs.iter()
                    .map(|p| p.build.seconds / p.base.seconds)
                    .collect(),
            );
            md.push_str(&format!(
                "| {mode} | {tool} {:.1} s | {strategy} | {:.1} s ({:.1} s CPU) | {:.2}{} | {:.2} | {} MiB |\n",
                median(runs.iter().map(|p| p.base.seconds).collect()),
                median(runs.iter().map(|p| p.build.seconds).collect()),
                median(runs.iter().map(|p| p.build.cpu_seconds).collect()),
                ratio,
                if ratio <= target { "" } else { " (over)" },
                median(runs.iter().map(|p| p.build.cpu_seconds / p.base.cpu_seconds).collect()),
                runs.iter()
                    .filter_map(|p| p.build.max_rss_kib)
                    .max()
                    .map_or("?".into(), |k| (k / 1024).to_string()),
            ));
        }
    }
    md.push('\n');
    Ok(md)
}

/// One build and the baseline run made just before it: the machine's speed drifts (other
/// tenants of the host, its own page cache), and a ratio of two neighbouring runs cancels what
/// a drift does to both.
struct Pair {
    base: Measure,
    build: Measure,
}

/// One `rechunk build` into `out/image`, removed afterwards.
fn build(
    rechunk: &Path,
    tree: &Path,
    out: &Path,
    mode: &str,
    strategy: &str,
) -> anyhow::Result<Measure> {
    let image = out.join("image");
    let _ = fs::remove_dir_all(&image);
    let stats = out.join("rechunk.time");
    let mut c = time_command(&stats);
    c.arg(rechunk)
        .arg("--rootfs")
        .arg(tree)
        .arg("--output")
        .arg(format!("oci:{}", image.display()))
        .args(["--compression", mode, "--jobs", "2", "--strategy", strategy])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("RUST_LOG", "error");
    let m = timed(
        &mut c,
        &stats,
        &format!("rechunk build ({mode}, {strategy})"),
    );
    let _ = fs::remove_dir_all(&image);
    m
}

/// The desktop tree, synthesized once (with its package cache) under `dir`.
fn desktop_tree(rechunk: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let chain = dir.join("desktop");
    let tree = chain.join(DESKTOP_VERSION);
    if tree.is_dir() {
        return Ok(tree);
    }
    let status = Command::new(rechunk)
        .args(["synth", "--scale", "desktop", "--output"])
        .arg(&chain)
        .args([
            "--from-version",
            DESKTOP_VERSION,
            "--to-version",
            DESKTOP_VERSION,
        ])
        .arg("--cache")
        .arg(dir.join("rpm-cache"))
        .status()
        .context("running rechunk synth")?;
    if !status.success() {
        bail!("rechunk synth --scale desktop failed ({status})");
    }
    Ok(tree)
}

/// The small-files tree, written once (a marker says it is complete).
fn small_tree(root: &Path) -> anyhow::Result<PathBuf> {
    let marker = root.join(".complete");
    let want = format!("{SMALL_FILES} files v1");
    if fs::read_to_string(&marker).is_ok_and(|s| s == want) {
        return Ok(root.to_path_buf());
    }
    let _ = fs::remove_dir_all(root);
    let tops = [
        "usr/share/app",
        "usr/lib/python3/site-packages",
        "opt/app",
        "var/lib/app",
        "etc/app",
    ];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..SMALL_FILES {
        let r = next();
        // 10% in user.component directories, the rest unowned, 50 files per directory.
        let dir = match i % 10 {
            0 => root.join(format!(
                "usr/lib/component{:03}/d{}",
                (i / 10) % 100,
                i / 500
            )),
            _ => root.join(format!("{}/d{:04}", tops[(r % 5) as usize], i / 50)),
        };
        fs::create_dir_all(&dir)?;
        // 512 bytes .. 32.5 KiB, mean about 10 KiB.
        let size = 512 + (next() % (32 << 10)) as usize / (1 + (next() % 3) as usize);
        let data = generate(r, Texture::for_gzip_ratio(0.5), size);
        let mut f = fs::File::create(dir.join(format!("f{i:05}.dat")))?;
        f.write_all(&data)?;
    }
    for c in 0..100 {
        let d = root.join(format!("usr/lib/component{c:03}"));
        if d.is_dir() {
            rustix::fs::lsetxattr(
                &d,
                "user.component",
                format!("component{c:03}").as_bytes(),
                rustix::fs::XattrFlags::empty(),
            )
            .with_context(|| format!("setting user.component on {}", d.display()))?;
        }
    }
    fs::write(&marker, want)?;
    Ok(root.to_path_buf())
}

/// Entries under `dir` (not counting `dir`).
fn count_entries(dir: &Path) -> anyhow::Result<u64> {
    let mut n = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        n += 1;
        if e.file_type()?.is_dir() {
            n += count_entries(&e.path())?;
        }
    }
    Ok(n)
}
