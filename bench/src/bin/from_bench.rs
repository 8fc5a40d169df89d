//! End-to-end benchmark of `rechunk --from IMAGE` on a ≥ 2 GiB image, against `rechunk
//! --rootfs` of the same tree measured in the same run:
//!
//! ```sh
//! cargo build --release && cargo run --release -p rechunk-bench --bin from-bench
//! ```
//!
//! Generates (once, then reuses) a tree of `--size-gib` (default 2.2) GiB with the build
//! bench's generator, and makes two input images of it (also reused): one gzip layer in an
//! `oci:` layout (what a plain `podman build` of the tree gives, written by rechunk with
//! `--strategy single`), and the same image as a `docker-archive` (uncompressed layers, what
//! `podman save` writes; made with `skopeo copy`). Then times, alternating in each round, the
//! release `rechunk` binary re-layering the tree (`--rootfs`, the baseline) and each image
//! (`--from`), 64 layers of zstd:3 with `--jobs 2`, with CPU time and peak RSS from
//! `/usr/bin/time`. Prints a markdown table with the time ratios against the baseline and the
//! peak RSS (target ≤ 512 MiB whatever the image size), and checks that every input gave the
//! same layers. The table also goes to `bench/results/from.md` for the README.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use rechunk_bench::harness::{du, generate, time_command, timed, Args, Measure, TreeSpec};

const EPOCH: &str = "1700000000";

fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    let opt = |name: &str| args.opt(name);
    let work = PathBuf::from(opt("--dir").unwrap_or_else(|| "target/from-bench".into()));
    let rechunk = args.rechunk()?;
    let gib: f64 = args.parsed("--size-gib", 2.2)?;
    let runs: usize = args.parsed("--runs", 1)?;
    let spec = TreeSpec {
        packages: 300,
        total_bytes: (gib * (1u64 << 30) as f64) as u64,
    };
    let tree = work.join("tree");
    generate(&tree, &spec)?;
    let bytes = du(&tree)?;
    let (oci, docker) = inputs(&rechunk, &work, &tree, &spec)?;
    let image_bytes = du(&work.join("in.oci"))?;
    println!(
        "tree {}: {:.2} GiB in files; input image {:.2} GiB (one gzip layer), docker-archive \
         {:.2} GiB",
        tree.display(),
        gib_of(bytes),
        gib_of(image_bytes),
        gib_of(fs::metadata(work.join("in.docker.tar"))?.len())
    );

    let contenders: [(&str, Vec<String>); 3] = [
        (
            "`--rootfs DIR` (baseline)",
            vec!["--rootfs".into(), tree.display().to_string()],
        ),
        (
            "`--from oci:` (gzip layer: staged)",
            vec!["--from".into(), oci],
        ),
        (
            "`--from docker-archive:` (uncompressed: read in place)",
            vec!["--from".into(), docker],
        ),
    ];
    let mut best: Vec<Option<Measure>> = contenders.iter().map(|_| None).collect();
    let mut layers: Vec<Vec<String>> = Vec::new();
    for _ in 0..runs.max(1) {
        for (k, (name, input)) in contenders.iter().enumerate() {
            let out = work.join(format!("out{k}"));
            let m = build(&rechunk, input, &out)?;
            println!(
                "  {name}: {:.2} s ({:.2} s CPU), {} MiB",
                m.seconds,
                m.cpu_seconds,
                rss_mib(&m)
            );
            layers.push(layer_digests(&out)?);
            if best[k].as_ref().is_none_or(|b| m.seconds < b.seconds) {
                best[k] = Some(m);
            }
            let _ = fs::remove_dir_all(&out);
        }
    }
    if layers.windows(2).any(|w| w[0] != w[1]) {
        bail!("the inputs gave different layers: {layers:?}");
    }
    let Some(Some(base)) = best.first() else {
        bail!("no measurement");
    };
    let mut table = format!(
        "### Re-layering an existing image (`--from`)\n\n\
         A generated {:.2} GiB tree, as one gzip layer in an `oci:` layout ({:.2} GiB) and as \
         the `docker-archive` `podman save` writes (uncompressed), re-layered into 64 zstd:3 \
         layers with `--jobs 2`, against `--rootfs` of the tree in the same run (fastest of \
         {runs}); all three give the same layers. CPU time and peak RSS from `/usr/bin/time`:\n\n\
         | input | time | CPU time | time ratio | CPU time ratio | peak RSS (target ≤ 512 MiB) |\n\
         |---|---|---|---|---|---|\n",
        gib_of(bytes),
        gib_of(image_bytes)
    );
    for ((name, _), m) in contenders.iter().zip(&best) {
        let Some(m) = m else { continue };
        table.push_str(&format!(
            "| {name} | {:.1} s | {:.1} s | {:.2} | {:.2} | {} MiB |\n",
            m.seconds,
            m.cpu_seconds,
            m.seconds / base.seconds,
            m.cpu_seconds / base.cpu_seconds,
            rss_mib(m)
        ));
    }
    print!("{table}");
    let command = format!(
        "cargo run --release -p rechunk-bench --bin from-bench -- --size-gib {gib} --runs {runs}"
    );
    let path = rechunk_bench::write_result("from", &command, &table)?;
    println!("written to {}", path.display());
    Ok(())
}

fn gib_of(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn rss_mib(m: &Measure) -> String {
    m.max_rss_kib.map_or("?".into(), |k| (k / 1024).to_string())
}

/// The input images, made once per tree spec: `oci:in.oci` and `docker-archive:in.docker.tar`.
fn inputs(
    rechunk: &Path,
    work: &Path,
    tree: &Path,
    spec: &TreeSpec,
) -> anyhow::Result<(String, String)> {
    let oci = work.join("in.oci");
    let docker = work.join("in.docker.tar");
    let marker = work.join("in.complete");
    let want = format!("{} {}", spec.packages, spec.total_bytes);
    let refs = (
        format!("oci:{}:in", oci.display()),
        format!("docker-archive:{}", docker.display()),
    );
    if fs::read_to_string(&marker).is_ok_and(|s| s == want) {
        return Ok(refs);
    }
    let _ = fs::remove_dir_all(&oci);
    let _ = fs::remove_file(&docker);
    run(Command::new(rechunk)
        .arg("--rootfs")
        .arg(tree)
        .args([
            "--strategy",
            "single",
            "--max-layers",
            "1",
            "--compression",
            "gzip:6",
        ])
        .arg("--output")
        .arg(&refs.0)
        .env("SOURCE_DATE_EPOCH", EPOCH))?;
    run(Command::new("skopeo").arg("copy").arg(&refs.0).arg(&refs.1))?;
    fs::write(&marker, want)?;
    Ok(refs)
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// One `rechunk` build of `input` into `out` (staging next to it).
fn build(rechunk: &Path, input: &[String], out: &Path) -> anyhow::Result<Measure> {
    let _ = fs::remove_dir_all(out);
    let stats = out.with_extension("time");
    let mut c = time_command(&stats);
    c.arg(rechunk)
        .args(input)
        .arg("--output")
        .arg(format!("oci:{}", out.display()))
        .args([
            "--compression",
            "zstd:3",
            "--jobs",
            "2",
            "--strategy",
            "cluster",
        ])
        .env("SOURCE_DATE_EPOCH", EPOCH);
    timed(&mut c, &stats, &format!("rechunk {input:?}"))
}

/// The layer digests of the image in the layout `out`.
fn layer_digests(out: &Path) -> anyhow::Result<Vec<String>> {
    let json = |p: PathBuf| -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(
            &fs::read(&p).with_context(|| p.display().to_string())?,
        )?)
    };
    let index = json(out.join("index.json"))?;
    let digest = index["manifests"][0]["digest"].as_str().unwrap_or_default();
    let manifest = json(
        out.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )?;
    Ok(manifest["layers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|d| d["digest"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}
