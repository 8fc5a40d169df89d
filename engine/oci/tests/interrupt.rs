//! Ctrl-C during a build: the build stops with `Interrupted` and the destination directory is
//! left exactly as it was (no image, no staging directory). A test binary of its own, since the
//! signal flag is process-wide.

mod support;

use std::collections::BTreeMap;
use std::fs;

use rechunk_model::{ChangeHistory, PlanRecord, PLAN_RECORD_VERSION};
use rechunk_oci::{build_image, interrupt, BuildRequest, Compression, Error, ImageRef};
use rechunk_tree::{DirSource, WriteRules};
use support::*;

#[test]
fn sigint_stops_the_build_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    fs::create_dir(&root).unwrap();
    make_fixture(&root);
    let tree = walk(&root);
    let (components, owner) = components_of(&tree, &BTreeMap::new());
    let plan = fixture_plan();
    let record = PlanRecord {
        version: PLAN_RECORD_VERSION,
        strategy: "test".into(),
        max_layers: 8,
        plan: plan.clone(),
        components: BTreeMap::new(),
        history: ChangeHistory::default(),
    };
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let output = ImageRef::parse_output(&format!("oci:{}", out_dir.join("img").display())).unwrap();

    interrupt::install_handlers();
    // SAFETY: raising a signal whose handler we just installed.
    assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
    assert!(interrupt::requested());

    let content = DirSource::open(&tree.root).unwrap();
    let err = build_image(&BuildRequest {
        tree: &tree,
        content: &content,
        components: &components,
        owner: &owner,
        plan: &plan,
        record: &record,
        output: &output,
        compression: Compression::default(),
        jobs: 2,
        created: 0,
        rules: WriteRules::default(),
        labels: &[],
        base_config: None,
        progress: None,
        late_versions: None,
    })
    .unwrap_err();
    assert!(matches!(err, Error::Interrupted), "{err}");
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 0);
}
