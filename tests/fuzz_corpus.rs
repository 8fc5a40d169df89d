//! The fuzz corpus (`fuzz/`, its own workspace) replayed in the normal test suite, through the
//! same entry functions the fuzz targets call: every input must be read to an answer (a value
//! or an error), never a panic. `fuzz/seeds/TARGET/` holds real or hand-made valid inputs,
//! which must also be accepted; `fuzz/corpus/TARGET.tar.gz` the minimized corpus of the local
//! runs (`fuzz/README.md`); `fuzz/regressions/TARGET/` inputs that once broke a reader.

use std::fs;
use std::path::{Path, PathBuf};

/// Each target: its name and the call it makes (Ok when the input is accepted).
type Entry = fn(&[u8]) -> Result<(), String>;

fn targets() -> Vec<(&'static str, Entry)> {
    vec![
        ("rpm_header", |d| {
            rechunk_rpmdb::Package::from_header(1, d)
                .map(drop)
                .map_err(|e| e.0)
        }),
        ("oci_metadata", |d| {
            rechunk_oci::fuzz::image_metadata(d)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        ("image_json", |d| {
            rechunk_oci::fuzz::image_json(d)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        ("layer_tar", |d| {
            rechunk_oci::fuzz::layer_tar(d)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        ("history_csv", |d| {
            rechunk_datasets::generic::parse(d, "fuzz", "fuzz".into())
                .map(drop)
                .map_err(|e| format!("{e:#}"))
        }),
        ("contentmeta", |d| {
            rechunk_datasets::contentmeta::load_bytes(d, "fuzz")
                .map(drop)
                .map_err(|e| format!("{e:#}"))
        }),
    ]
}

fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// (name, bytes) of every member of `fuzz/corpus/TARGET.tar.gz`.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(format!("{target}.tar.gz"));
    let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for member in archive.entries().unwrap() {
        let mut member = member.unwrap();
        if !member.header().entry_type().is_file() {
            continue;
        }
        let name = member.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut data).unwrap();
        out.push((name, data));
    }
    out
}

#[test]
fn every_corpus_input_is_read_without_a_panic() {
    let mut total = 0;
    for (target, entry) in targets() {
        let mut inputs = corpus(target);
        assert!(!inputs.is_empty(), "{target}: an empty corpus");
        for file in files(&fuzz_dir("regressions", target)) {
            inputs.push((file.display().to_string(), fs::read(&file).unwrap()));
        }
        for (name, data) in &inputs {
            // Accepted or refused: both are answers. A panic fails the test, naming the input.
            let outcome = std::panic::catch_unwind(|| entry(data));
            assert!(outcome.is_ok(), "{target}: {name} panicked");
        }
        total += inputs.len();
    }
    eprintln!("{total} corpus inputs replayed");
}

#[test]
fn every_seed_is_accepted() {
    for (target, entry) in targets() {
        let seeds = files(&fuzz_dir("seeds", target));
        assert!(!seeds.is_empty(), "{target}: no seeds under fuzz/seeds");
        for seed in seeds {
            let data = fs::read(&seed).unwrap();
            if let Err(e) = entry(&data) {
                panic!("{target}: seed {} refused: {e}", seed.display());
            }
        }
    }
}
