//! Layer writing speed per compression, against the plain tools on the same files, in the same
//! run:
//!
//! ```sh
//! cargo bench -p rechunk-bench --bench build
//! ```
//!
//! Generates (once, then reuses) a 64 MiB synthetic tree (`rechunk_datasets::synthetic`, 2,000
//! files, binary-like content) under `target/bench-data/`, loads it once, then measures
//! `rechunk_oci::build_image` writing it as ONE layer (the real path: tar, sha256 of the tar,
//! compressor, sha256 of the blob, staging, rename; one thread) with `none`, `gzip:6` and
//! `zstd:3`, and for each the single-threaded tool pipeline on the same directory
//! (`tar -cf -`, `| gzip -6`... through `pigz -p 1` for zlib's speed, `| zstd -3 -T1`). Reports
//! MB/s of file content and, at the end, each mode's time ratio to its tool from alternating
//! runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rechunk_datasets::synthetic::{generate_cached, Spec};
use rechunk_model::{ChangeHistory, Layer, Plan, PlanRecord, PLAN_RECORD_VERSION};
use rechunk_oci::{build_image, component_versions, BuildRequest, Compression, ImageRef};
use rechunk_rootfs::{load, LoadOptions, LoadedRoot};
use rechunk_tree::{DirSource, WriteRules};

const SPEC: Spec = Spec {
    seed: 7,
    files: 2_000,
    total_bytes: 64 << 20,
};
const EPOCH: i64 = 1_700_000_000;

/// Each compression with the equivalent single-threaded tool stage after `tar -cf -`.
const MODES: [(&str, Compression, &str); 3] = [
    ("none", Compression::None, "cat"),
    ("gzip6", Compression::Gzip(6), "pigz -6 -p 1"),
    ("zstd3", Compression::Zstd(3), "zstd -3 -T1 -q"),
];

fn tree() -> (PathBuf, LoadedRoot) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/build-synthetic");
    let summary = generate_cached(&root, &SPEC).expect("synthetic tree");
    let loaded = load(
        &root,
        &LoadOptions {
            rules: WriteRules {
                clamp_mtime: Some(EPOCH),
                ..WriteRules::default()
            },
            ..LoadOptions::default()
        },
    )
    .expect("load");
    eprintln!(
        "tree {}: {} files, {} MiB, {} components",
        root.display(),
        summary.files(),
        summary.bytes >> 20,
        loaded.components.len()
    );
    (root, loaded)
}

/// Writes the whole tree as one layer into a fresh `oci:` directory `out`; returns the layer's
/// file content bytes.
fn write_one_layer(loaded: &LoadedRoot, plan: &Plan, compression: Compression, out: &Path) -> u64 {
    let _ = std::fs::remove_dir_all(out);
    let record = PlanRecord {
        version: PLAN_RECORD_VERSION,
        strategy: "bench".into(),
        max_layers: 1,
        plan: plan.clone(),
        components: component_versions(&loaded.components),
        history: ChangeHistory::default(),
    };
    let output = ImageRef::parse_output(&format!("oci:{}", out.display())).expect("output ref");
    let content = DirSource::open(&loaded.tree.root).expect("open the tree");
    let report = build_image(&BuildRequest {
        tree: &loaded.tree,
        content: &content,
        components: &loaded.components,
        owner: &loaded.owner,
        plan,
        record: &record,
        output: &output,
        compression,
        jobs: 1,
        created: EPOCH,
        rules: WriteRules {
            clamp_mtime: Some(EPOCH),
            ..WriteRules::default()
        },
        labels: &[],
        base_config: None,
        progress: None,
        late_versions: None,
    })
    .expect("build");
    assert_eq!(report.layers.len(), 1);
    report.layers[0].content_bytes
}

fn run_tool(root: &Path, stage: &str, out: &Path) {
    let cmd = format!(
        "set -o pipefail; tar -cf - -C {} . | {stage} > {}",
        root.display(),
        out.display()
    );
    let status = Command::new("bash")
        .args(["-c", &cmd])
        .status()
        .expect("bash");
    assert!(status.success(), "`{cmd}` failed");
}

fn main() {
    let (root, loaded) = tree();
    let names: Vec<String> = loaded.components.iter().map(|c| c.name.clone()).collect();
    let plan = Plan::new(vec![Layer::new(names)]);
    let work = tempfile::tempdir_in(root.parent().expect("parent")).expect("tempdir");
    let (image, tool_out) = (work.path().join("img"), work.path().join("tool.out"));
    // Also warms the page cache for everyone.
    let bytes = write_one_layer(&loaded, &plan, Compression::None, &image);

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("write_one_layer");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(bytes));
    for (name, compression, stage) in MODES {
        g.bench_function(format!("rechunk_{name}"), |b| {
            b.iter(|| write_one_layer(&loaded, &plan, compression, &image))
        });
        g.bench_function(format!("tar_{name}"), |b| {
            b.iter(|| run_tool(&root, stage, &tool_out))
        });
    }
    g.finish();

    // Same-run ratios: alternate the two contenders, keep the fastest of each.
    let mut best: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for _ in 0..5 {
        for (name, compression, stage) in MODES {
            let t = Instant::now();
            write_one_layer(&loaded, &plan, compression, &image);
            let ours = t.elapsed().as_secs_f64();
            let t = Instant::now();
            run_tool(&root, stage, &tool_out);
            let tool = t.elapsed().as_secs_f64();
            let e = best.entry(name).or_insert((f64::MAX, f64::MAX));
            *e = (e.0.min(ours), e.1.min(tool));
        }
    }
    let mb = bytes as f64 / 1e6;
    let mut md = format!(
        "### Writing one layer\n\n\
         A {} MiB generated tree written as one layer on one thread (tar, sha256 of the tar, \
         compressor, sha256 of the blob) against `tar -cf - DIR | TOOL`, alternating, fastest \
         of 5:\n\n| compression | rechunk | `tar \\| tool` | time ratio |\n|---|---|---|---|\n",
        bytes >> 20
    );
    for (name, _, stage) in MODES {
        let (ours, tool) = best[name];
        md.push_str(&format!(
            "| {name} | {:.0} MB/s | {:.0} MB/s (`{stage}`) | {:.2} |\n",
            mb / ours,
            mb / tool,
            ours / tool
        ));
    }
    print!("{md}");
    let path = rechunk_bench::write_result(
        "build-layer",
        "cargo bench -p rechunk-bench --bench build",
        &md,
    )
    .expect("writing the result");
    println!("written to {}", path.display());
}
