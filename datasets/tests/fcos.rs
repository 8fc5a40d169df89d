//! The shipped FCOS histories against the facts of the raw data (SOURCE.md) and hand-checked
//! rows of it.

use std::collections::HashSet;

use rechunk_datasets::fcos::{self, Stream};
use rechunk_model::{ComponentKind, Snapshot};

fn package_set(s: &Snapshot) -> Vec<(String, String)> {
    s.components
        .iter()
        .filter(|c| c.kind == ComponentKind::Package)
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect()
}

#[test]
fn stable_has_every_lockfile_commit_with_overrides_applied() {
    let fcos = fcos::load(Stream::Stable).unwrap();
    let h = &fcos.history;
    assert_eq!(h.name, "fcos-stable");
    assert_eq!(h.snapshots.len(), 149);

    // Package rows: 60,167 lockfile rows plus the overrides that add a package
    // (coreos-installer-systemd at 60365ca0, qemu-user-static-x86 at a315b777).
    let package_rows: usize = h
        .snapshots
        .iter()
        .map(|s| {
            s.components
                .iter()
                .filter(|c| c.kind == ComponentKind::Package)
                .count()
        })
        .sum();
    assert_eq!(package_rows, 60_169);
    let cov = fcos.coverage;
    assert_eq!(
        (cov.from_fc37, cov.from_fc35, cov.fallback),
        (54_598, 715, 4_856)
    );
    assert_eq!(cov.from_fc37 + cov.from_fc35 + cov.fallback, package_rows);
    assert_eq!(cov.fallback_size, 262_404);

    // 140 distinct lockfile package sets (SOURCE.md) become 146 once overrides are applied,
    // and no two consecutive snapshots ship the same packages.
    let sets: Vec<Vec<(String, String)>> = h.snapshots.iter().map(package_set).collect();
    assert_eq!(sets.iter().collect::<HashSet<_>>().len(), 146);
    assert!(sets.windows(2).all(|w| w[0] != w[1]));
    // Without overrides, 9 commits that changed only an overrides file repeat the package set
    // of the commit before: 140 distinct consecutive lockfile sets, as SOURCE.md counts them.
    let bare = fcos::load_without_overrides(Stream::Stable)
        .unwrap()
        .history;
    let bare_sets: Vec<Vec<(String, String)>> = bare.snapshots.iter().map(package_set).collect();
    assert_eq!(bare_sets.len(), 149);
    let changes = 1 + bare_sets.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(changes, 140);
    let bare_tip = bare.snapshots.last().unwrap();
    assert_eq!(
        bare_tip.component("podman").unwrap().version,
        "5:5.2.3-1.fc40.x86_64"
    );

    let tip = h.snapshots.last().unwrap();
    assert_eq!(tip.id, "40.20241006.3.0");
    // Fast-tracked: the lockfile says 5:5.2.3-1.fc40.
    assert_eq!(
        tip.component("podman").unwrap().version,
        "5:5.2.4-1.fc40.x86_64"
    );
    assert_eq!(
        tip.component("zram-generator").unwrap().source.as_deref(),
        Some("rust-zram-generator")
    );
    let fw = tip.component("linux-firmware").unwrap();
    assert_eq!((fw.size, fw.change_frequency), (185_653_797, Some(30)));
    let initramfs = tip.component("initramfs").unwrap();
    assert_eq!(
        (initramfs.kind, initramfs.size),
        (ComponentKind::Initramfs, 76_824_632)
    );

    let first = &h.snapshots[0];
    assert_eq!(first.id, "e02c8390");
    assert_eq!(first.components.len(), 345 + 2);
    assert!(h.snapshots.windows(2).all(|w| w[0].date <= w[1].date));
    let released = h.snapshots.iter().filter(|s| s.id.contains('.')).count();
    assert_eq!(released, 132);
}

#[test]
fn testing_loads_with_its_own_releases() {
    let h = fcos::load(Stream::Testing).unwrap().history;
    assert_eq!(h.snapshots.len(), 182);
    assert!(h.snapshots.iter().any(|s| s.id.ends_with(".2.0")));
    assert!(h.snapshots.iter().all(|s| !s.id.contains(".3.")));
}

#[test]
fn open_history_names_and_errors() {
    let h = rechunk_datasets::open_history("fcos-stable").unwrap();
    assert_eq!(h.snapshots.len(), 149);
    let err = rechunk_datasets::open_history("/no/such/history.csv").unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("/no/such/history.csv") && msg.contains("fcos-stable"),
        "{msg}"
    );
}
