//! The contentmeta loader against the two real FCOS files.

use std::path::PathBuf;

use rechunk_model::ComponentKind;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

#[test]
fn fc37_matches_the_documented_totals() {
    let comps =
        rechunk_datasets::contentmeta::load(&data("fedora-coreos-contentmeta.fc37.json.gz"))
            .unwrap();
    assert_eq!(comps.len(), 396);
    assert_eq!(comps.iter().map(|c| c.size).sum::<u64>(), 1_351_235_724);
    let fw = comps.iter().find(|c| c.name == "linux-firmware").unwrap();
    assert_eq!(fw.version, "20221012-142.fc37.noarch");
    assert_eq!(fw.change_frequency, Some(30));
    assert_eq!(fw.source.as_deref(), Some("linux-firmware"));
    let initramfs = comps.iter().find(|c| c.name == "initramfs").unwrap();
    assert_eq!(initramfs.kind, ComponentKind::Initramfs);
    assert!(comps
        .iter()
        .any(|c| c.name == "rpmostree-unpackaged-content" && c.kind == ComponentKind::Other));
}

#[test]
fn fc35_names_are_split_from_the_nevra() {
    let comps =
        rechunk_datasets::contentmeta::load(&data("fedora-coreos-contentmeta.fc35.json.gz"))
            .unwrap();
    assert_eq!(comps.len(), 388);
    assert_eq!(comps.iter().map(|c| c.size).sum::<u64>(), 1_391_575_572);
    assert!(comps
        .iter()
        .any(|c| c.name == "kernel-core" && c.version.starts_with("5.15.18-200.fc35")));
    assert!(comps.iter().all(|c| c.change_frequency.is_none()));
}

#[test]
fn missing_file_error_names_the_path() {
    let err = rechunk_datasets::contentmeta::load(&data("nope.json")).unwrap_err();
    assert!(format!("{err:#}").contains("nope.json"), "{err:#}");
}
