//! `rechunk changelog` end to end. Two chained builds of a tree installed by real rpm, between
//! which packages are upgraded (version, and release only), downgraded, removed and added with
//! real `rpm -U`, `rpm -U --oldpackage`, `rpm -e` and `rpm -i`: the changelog lists exactly the
//! changes `rpm -qa` of the two trees shows, ordered as rpm orders versions, and its attributed
//! bytes add up to `rechunk diff`'s download. Then hhd-dev/rechunk and rpm-ostree images (as
//! `skopeo inspect` JSON), a template, --output, and a history against `rechunk compare`.

mod fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fixture::{ok, rechunk, run, Fixture};
use rpm::{FileOptions, PackageBuilder};
use serde_json::{json, Value};

fn json_of(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("JSON output")
}

/// A package with one file of `size` bytes under /usr/lib/NAME/ (content depends on the
/// version, so an upgrade changes bytes).
fn package(
    f: &Fixture,
    name: &str,
    epoch: Option<u32>,
    version: &str,
    release: &str,
    size: usize,
) -> PathBuf {
    let mut b = PackageBuilder::new(name, version, "MIT", "x86_64", "changelog test");
    b.release(release);
    if let Some(e) = epoch {
        b.epoch(e);
    }
    let content: Vec<u8> = format!("{name}-{version}-{release}\n")
        .bytes()
        .cycle()
        .take(size)
        .collect();
    b.with_file_contents(
        content,
        FileOptions::new(format!("/usr/lib/{name}/data")).permissions(0o644),
    )
    .unwrap();
    let built = b
        .using_config(rpm::BuildConfig::default().source_date(1_700_000_000))
        .build()
        .expect("rpm builds");
    let path = f.rpms.join(format!("{name}-{version}-{release}.rpm"));
    built.write_file(&path).expect("rpm written");
    path
}

/// Real rpm inside the fixture root.
fn rpm(f: &Fixture, args: &[&str], paths: &[&Path]) {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(&f.root)
        .args([
            "--dbpath",
            "/usr/lib/sysimage/rpm",
            "--nodeps",
            "--noscripts",
        ])
        .args(args)
        .args(paths)
        .output()
        .expect("rpm runs");
    assert!(
        out.status.success(),
        "rpm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `rpm -qa`: name → `[epoch:]version-release`.
fn rpm_qa(f: &Fixture) -> BTreeMap<String, String> {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(&f.root)
        .args(["--dbpath", "/usr/lib/sysimage/rpm", "-qa", "--qf"])
        .arg("%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n")
        .output()
        .expect("rpm runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Real rpm's order of two EVRs: -1, 0 or 1.
fn rpm_vercmp(a: &str, b: &str) -> i32 {
    let out = Command::new("rpm")
        .args([
            "--eval",
            &format!("%{{lua: print(rpm.vercmp(\"{a}\", \"{b}\"))}}"),
        ])
        .output()
        .expect("rpm runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

/// The changes rpm's own tools show between two `rpm -qa` lists.
fn expected_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BTreeMap<String, &'static str> {
    let mut out = BTreeMap::new();
    for (name, v) in new {
        match old.get(name) {
            None => {
                out.insert(name.clone(), "added");
            }
            Some(o) if o != v => {
                let kind = match rpm_vercmp(o, v) {
                    -1 => "upgraded",
                    1 => "downgraded",
                    _ => "changed",
                };
                out.insert(name.clone(), kind);
            }
            Some(_) => {}
        }
    }
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        out.insert(name.clone(), "removed");
    }
    out
}

struct Builds {
    _fixture: Fixture,
    _dir: tempfile::TempDir,
    v1: String,
    v2: String,
    qa1: BTreeMap<String, String>,
    qa2: BTreeMap<String, String>,
}

/// v1: kernel 6.1.2-1, alpha 1.0-1, beta 2:3.1-4, gamma 5.0-1, delta 1.0-1, zeta 1.0-1.
/// v2: kernel 6.1.3-1, alpha 1.1-1, beta 2:3.1-5 (release only), gamma 4.9-1 (downgrade),
/// delta removed, epsilon 0.9.0-1 added, zeta untouched. Built at 3 layers so that changed
/// and unchanged packages share layers; `options` go to both builds.
fn chained_builds(options: &[&str]) -> Builds {
    let f = Fixture::empty();
    let v1_pkgs = [
        package(&f, "kernel", None, "6.1.2", "1", 300_000),
        package(&f, "alpha", None, "1.0", "1", 40_000),
        package(&f, "beta", Some(2), "3.1", "4", 20_000),
        package(&f, "gamma", None, "5.0", "1", 30_000),
        package(&f, "delta", None, "1.0", "1", 10_000),
        package(&f, "zeta", None, "1.0", "1", 200_000),
    ];
    let paths: Vec<&Path> = v1_pkgs.iter().map(PathBuf::as_path).collect();
    rpm(&f, &["-i", "--ignorearch"], &paths);
    let qa1 = rpm_qa(&f);
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("img.oci");
    let v1 = format!("oci:{}:v1", oci.display());
    let v2 = format!("oci:{}:v2", oci.display());
    let root = f.root.to_str().unwrap().to_string();
    let build = |output: &str, more: &[&str]| {
        let mut args = vec!["--rootfs", &root, "--output", output, "--max-layers", "3"];
        args.extend_from_slice(options);
        args.extend_from_slice(more);
        ok(&args)
    };
    build(&v1, &[]);

    let upgrades = [
        package(&f, "kernel", None, "6.1.3", "1", 300_000),
        package(&f, "alpha", None, "1.1", "1", 40_000),
        package(&f, "beta", Some(2), "3.1", "5", 20_000),
    ];
    let paths: Vec<&Path> = upgrades.iter().map(PathBuf::as_path).collect();
    rpm(&f, &["-U", "--ignorearch"], &paths);
    let gamma = package(&f, "gamma", None, "4.9", "1", 30_000);
    rpm(&f, &["-U", "--oldpackage", "--ignorearch"], &[&gamma]);
    rpm(&f, &["-e", "delta"], &[]);
    let epsilon = package(&f, "epsilon", None, "0.9.0", "1", 5_000);
    rpm(&f, &["-i", "--ignorearch"], &[&epsilon]);
    let qa2 = rpm_qa(&f);
    build(&v2, &["--previous", &v1]);
    Builds {
        _fixture: f,
        _dir: dir,
        v1,
        v2,
        qa1,
        qa2,
    }
}

#[test]
fn two_real_rpm_builds_list_exactly_rpms_changes_and_their_bytes() {
    let b = chained_builds(&[]);
    let expected = expected_changes(&b.qa1, &b.qa2);
    assert_eq!(
        expected,
        BTreeMap::from([
            ("alpha".to_string(), "upgraded"),
            ("beta".to_string(), "upgraded"),
            ("delta".to_string(), "removed"),
            ("epsilon".to_string(), "added"),
            ("gamma".to_string(), "downgraded"),
            ("kernel".to_string(), "upgraded"),
        ]),
        "the fixture makes one change of each kind"
    );
    let cl = json_of(&["changelog", "--json", &b.v1, &b.v2]);
    let listed: BTreeMap<String, String> = cl["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_string();
            (name, p["change"].as_str().unwrap().to_string())
        })
        .collect();
    let expected: BTreeMap<String, String> = expected
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    assert_eq!(listed, expected);
    // Versions as rpm -qa has them, on the right side.
    for p in cl["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        for (side, qa) in [("old", &b.qa1), ("new", &b.qa2)] {
            let evr = &p[side]["evr"];
            let shown = evr["epoch"]
                .as_u64()
                .map(|e| format!("{e}:"))
                .unwrap_or_default()
                + evr["version"].as_str().unwrap_or("")
                + &evr["release"]
                    .as_str()
                    .map(|r| format!("-{r}"))
                    .unwrap_or_default();
            let want = qa.get(name).cloned().unwrap_or_default();
            assert_eq!(shown, want, "{name} {side}");
        }
    }
    assert_eq!(
        cl["counts"],
        json!({"added": 1, "upgraded": 3, "downgraded": 1, "changed": 0, "removed": 1})
    );
    assert_eq!(
        cl["major"][0],
        json!({"label": "Kernel", "package": "kernel", "old": "6.1.2-1", "new": "6.1.3-1"})
    );

    // The bytes: the same download as `rechunk diff`, all of it attributed.
    let diff = json_of(&["diff", "--json", &b.v1, &b.v2]);
    let d = &cl["download"];
    let download = diff["download_bytes"].as_u64().unwrap();
    assert!(download > 0);
    assert_eq!(d["cost"]["download_bytes"].as_u64(), Some(download));
    assert_eq!(d["cost"]["layers_fetched"], diff["layers_fetched"]);
    let totals = &d["totals"];
    let total: u64 = ["changed", "shared", "regrouped", "rebuilt", "unattributed"]
        .iter()
        .map(|k| totals[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, download);
    assert_eq!(
        totals["unattributed"], 0,
        "our images give every component and size"
    );
    let mut layer_sum = 0;
    let changed_names: Vec<&str> = listed.keys().map(String::as_str).collect();
    for layer in d["layers"].as_array().unwrap() {
        let bytes = layer["bytes"].as_u64().unwrap();
        let shares: u64 = layer["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(
            shares + layer["unattributed_bytes"].as_u64().unwrap(),
            bytes
        );
        layer_sum += bytes;
        // A package triggers a layer only if rpm says it changed.
        for t in layer["triggered_by"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            let package = b.qa1.contains_key(t) || b.qa2.contains_key(t);
            assert!(
                !package || changed_names.contains(&t),
                "{t} triggered a layer"
            );
        }
    }
    assert_eq!(layer_sum, download);
    // Every package rpm says changed (and is still there) has its layer fetched as a trigger;
    // an unchanged package never triggers.
    let roles: BTreeMap<String, String> = d["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["components"].as_array().unwrap().iter())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, change) in &listed {
        if change != "removed" {
            let want = if change == "added" {
                "added"
            } else {
                "changed"
            };
            assert_eq!(roles.get(name).map(String::as_str), Some(want), "{name}");
        }
    }
    assert!(roles
        .get("zeta")
        .is_none_or(|r| r != "changed" && r != "added"));

    // The same in Markdown.
    let md = ok(&["changelog", &b.v1, &b.v2]);
    for line in [
        "- **Kernel**: 6.1.2-1 → 6.1.3-1",
        "1 added, 3 upgraded, 1 downgraded, 0 changed, 1 removed.",
        "- **epsilon** 0.9.0",
        "- **kernel** 6.1.2 → 6.1.3",
        "- **alpha** 1.0 → 1.1",
        "- **beta** 3.1-4 → 3.1-5",
        "- **gamma** 5.0 → 4.9",
        "- **delta** 1.0",
    ] {
        assert!(md.lines().any(|l| l == line), "missing {line:?} in\n{md}");
    }
    let section = |title: &str| {
        let start = md.find(title).unwrap_or_else(|| panic!("{title} in\n{md}"));
        md[start..].split("\n#### ").next().unwrap().to_string()
    };
    assert!(section("#### Downgraded").contains("**gamma**"));
    assert!(section("#### Removed").contains("**delta**"));
    // One table row per fetched layer.
    let rows = md
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(Some(rows as u64), diff["layers_fetched"].as_u64(), "{md}");
}

/// Tags `tag` in the umoci layout `layout` as `from` + the tree at `root` (umoci writes a layer
/// of the differences, whiteouts included).
fn umoci_snapshot(layout: &Path, from: &str, tag: &str, root: &Path, work: &Path) {
    let bundle = work.join(format!("bundle-{tag}"));
    let image = |t: &str| format!("{}:{t}", layout.display());
    run(Command::new("umoci")
        .args(["unpack", "--image", &image(from)])
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    std::fs::remove_dir_all(&rootfs).unwrap();
    run(Command::new("cp").arg("-a").arg(root).arg(&rootfs));
    run(Command::new("umoci")
        .args(["repack", "--image", &image(tag)])
        .arg(&bundle));
}

/// Images with no labels or annotations at all (umoci's, like a plain `podman build`):
/// `--read-layers` reads their rpm databases from the layers and lists exactly the changes
/// `rpm -qa` shows; without it nothing can be listed. The bytes are still `diff`'s.
#[test]
fn read_layers_lists_the_packages_of_images_without_labels() {
    let f = Fixture::empty();
    let v1_pkgs = [
        package(&f, "alpha", None, "1.0", "1", 40_000),
        package(&f, "beta", Some(2), "3.1", "4", 20_000),
        package(&f, "gamma", None, "5.0", "1", 30_000),
        package(&f, "delta", None, "1.0", "1", 10_000),
    ];
    let paths: Vec<&Path> = v1_pkgs.iter().map(PathBuf::as_path).collect();
    rpm(&f, &["-i", "--ignorearch"], &paths);
    let qa1 = rpm_qa(&f);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("umoci");
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci")
        .args(["new", "--image"])
        .arg(format!("{}:base", layout.display())));
    umoci_snapshot(&layout, "base", "v1", &f.root, work.path());

    let alpha = package(&f, "alpha", None, "1.1", "1", 40_000);
    rpm(&f, &["-U", "--ignorearch"], &[&alpha]);
    let gamma = package(&f, "gamma", None, "4.9", "1", 30_000);
    rpm(&f, &["-U", "--oldpackage", "--ignorearch"], &[&gamma]);
    rpm(&f, &["-e", "delta"], &[]);
    let epsilon = package(&f, "epsilon", None, "0.9.0", "1", 5_000);
    rpm(&f, &["-i", "--ignorearch"], &[&epsilon]);
    let qa2 = rpm_qa(&f);
    umoci_snapshot(&layout, "v1", "v2", &f.root, work.path());

    let (v1, v2) = (
        format!("oci:{}:v1", layout.display()),
        format!("oci:{}:v2", layout.display()),
    );
    let plain = json_of(&["changelog", "--json", &v1, &v2]);
    assert_eq!(plain["packages_known"], false, "{plain}");

    let tmp = work.path().join("staging");
    std::fs::create_dir(&tmp).unwrap();
    let cl = json_of(&[
        "changelog",
        "--json",
        "--read-layers",
        "--tmpdir",
        tmp.to_str().unwrap(),
        &v1,
        &v2,
    ]);
    assert_ne!(cl["packages_known"], false, "{cl}");
    let listed: BTreeMap<String, String> = cl["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_string();
            (name, p["change"].as_str().unwrap().to_string())
        })
        .collect();
    let expected: BTreeMap<String, String> = expected_changes(&qa1, &qa2)
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    assert_eq!(expected.len(), 4, "{expected:?}");
    assert_eq!(listed, expected);
    for p in cl["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if let Some(v) = p["new"]["evr"]["version"].as_str() {
            assert!(qa2[name].contains(v), "{name}: {v} vs {}", qa2[name]);
        }
    }
    let diff = json_of(&["diff", "--json", &v1, &v2]);
    assert_eq!(
        cl["download"]["cost"]["download_bytes"],
        diff["download_bytes"]
    );
    // Nothing is left behind in the staging directory.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn templates_and_output_files() {
    // One layer: every unchanged package is fetched along with the changes.
    let b = chained_builds(&["--strategy", "single"]);
    let dir = tempfile::tempdir().unwrap();
    let tmpl = dir.path().join("notes.tmpl");
    std::fs::write(
        &tmpl,
        "Kernel {{version:kernel}} (was {{ old_version:kernel }})\n\
         {{upgraded_count}} upgrades, {{download_bytes}} bytes in {{layers_fetched}} layers, \
         {{shared_bytes}} shared\n\
         {{removed}}",
    )
    .unwrap();
    let out = dir.path().join("notes.md");
    ok(&[
        "changelog",
        &b.v1,
        &b.v2,
        "--template",
        tmpl.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let diff = json_of(&["diff", "--json", &b.v1, &b.v2]);
    let cl = json_of(&["changelog", "--json", &b.v1, &b.v2]);
    let shared = cl["download"]["totals"]["shared"].as_u64().unwrap();
    assert!(shared > 0, "zeta is fetched along");
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        format!(
            "Kernel 6.1.3-1 (was 6.1.2-1)\n3 upgrades, {} bytes in {} layers, {shared} shared\n\
             - **delta** 1.0\n",
            diff["download_bytes"], diff["layers_fetched"]
        )
    );
    // Nothing else was left in the directory (the output was staged and renamed).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A typo in a template fails with its line, and writes nothing.
    std::fs::write(&tmpl, "ok\n{{kernal_version}}\n").unwrap();
    let failed = rechunk(&[
        "changelog",
        &b.v1,
        &b.v2,
        "--template",
        tmpl.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("notes.tmpl")
            && stderr.contains("line 2")
            && stderr.contains("kernal_version"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

/// A `skopeo inspect` JSON with these labels and layers (digest char, size, annotation).
fn skopeo_json(
    dir: &Path,
    name: &str,
    labels: Value,
    layers: &[(char, u64, Option<&str>)],
) -> PathBuf {
    let layers: Vec<Value> = layers
        .iter()
        .map(|(c, size, comps)| {
            json!({
                "MIMEType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "Digest": format!("sha256:{}", c.to_string().repeat(64)),
                "Size": size,
                "Annotations": comps.map(|c| json!({"ostree.components": c})),
            })
        })
        .collect();
    let v = json!({"Digest": format!("sha256:{}", "f".repeat(64)), "Labels": labels, "LayersData": layers});
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    path
}

#[test]
fn hhd_and_rpm_ostree_images_give_what_their_metadata_carries() {
    let dir = tempfile::tempdir().unwrap();
    // hhd-dev/rechunk, as its v2 label and the layers ostree-ext wrote for it (Bazzite-like).
    let hhd = |name: &str, packages: Value, layers: &[(char, u64, Option<&str>)]| {
        let info = json!({"version": 2, "uniq": name, "revision": null, "packages": packages,
                          "layers": []});
        let labels = json!({"dev.hhd.rechunk.info": info.to_string(),
                            "org.opencontainers.image.version": name});
        skopeo_json(dir.path(), &format!("{name}.json"), labels, layers)
    };
    let old = hhd(
        "rc40-20240726.5",
        json!({"kernel": "6.9.9-206.fsync.fc40", "python3-pydantic": "2.8.2-1.fc40",
               "tailscale": "1.70.0-1", "joycond": "0.0.git.115.f13982c1-1.fc40", "hhd": "3.3.3-1.fc40"}),
        &[
            ('a', 1000, Some("dedi:meta:kernel")),
            ('b', 500, Some("hhd,python3-pydantic,tailscale,joycond")),
        ],
    );
    let new = hhd(
        "rc40-20240728.1",
        json!({"kernel": "6.9.9-206.fsync.fc40", "python3-pydantic": "1.10.2-1.fc40",
               "tailscale": "1.70.0-1.fc40", "python3-typer": "0.9.0-1.fc40", "hhd": "3.3.4-1.fc40"}),
        &[
            ('a', 1000, Some("dedi:meta:kernel")),
            (
                'c',
                400,
                Some("hhd,python3-pydantic,tailscale,python3-typer"),
            ),
        ],
    );
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let md = ok(&["changelog", old, new]);
    for line in [
        "## Changes from `rc40-20240726.5` to `rc40-20240728.1`",
        "- **Kernel**: 6.9.9-206.fsync.fc40",
        "- **python3-typer** 0.9.0",
        "- **hhd** 3.3.3 → 3.3.4",
        "- **tailscale** 1.70.0-1 → 1.70.0-1.fc40",
        "- **python3-pydantic** 2.8.2 → 1.10.2",
        "- **joycond** 0.0.git.115.f13982c1",
    ] {
        assert!(md.lines().any(|l| l == line), "missing {line:?} in\n{md}");
    }
    let cl = json_of(&["changelog", "--json", old, new]);
    let diff = json_of(&["diff", "--json", old, new]);
    assert_eq!(
        cl["download"]["cost"]["download_bytes"],
        diff["download_bytes"]
    );
    assert_eq!(diff["download_bytes"], 400);
    // Triggers are known, sizes are not: the layer's bytes stay unattributed.
    let layer = &cl["download"]["layers"][0];
    assert_eq!(
        layer["triggered_by"],
        json!([
            "hhd",
            "python3-pydantic",
            "tailscale",
            "python3-typer",
            "joycond"
        ])
    );
    assert_eq!(cl["download"]["totals"]["unattributed"], 400);
    assert!(cl["notes"][0]
        .as_str()
        .unwrap()
        .contains("without epoch, arch or sizes"));

    // rpm-ostree: names per layer, no versions; the kernel from ostree.linux.
    let ostree = |name: &str, kernel: &str, layers: &[(char, u64, Option<&str>)]| {
        let labels = json!({"ostree.linux": kernel, "containers.bootc": "1"});
        skopeo_json(dir.path(), name, labels, layers)
    };
    let old = ostree(
        "fcos-a.json",
        "6.9.9-200.fc40.x86_64",
        &[
            ('0', 100, None),
            ('1', 1000, Some("kernel-core,kernel-modules")),
            ('2', 300, Some("bash,vim-minimal")),
            ('3', 50, Some("nano")),
        ],
    );
    let new = ostree(
        "fcos-b.json",
        "6.9.10-200.fc40.x86_64",
        &[
            ('0', 100, None),
            ('4', 1000, Some("kernel-core,kernel-modules")),
            ('2', 300, Some("bash,vim-minimal")),
            ('5', 60, Some("htop")),
        ],
    );
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let cl = json_of(&["changelog", "--json", old, new]);
    let changes: Vec<(&str, &str)> = cl["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changes,
        [
            ("htop", "added"),
            ("kernel-core", "upgraded"),
            ("nano", "removed")
        ]
    );
    assert_eq!(cl["major"][0]["new"], "6.9.10-200.fc40");
    let notes = cl["notes"].to_string();
    assert!(
        notes.contains("names 4 of its 5 components without a version"),
        "{notes}"
    );
    assert!(notes.contains("ostree.linux"), "{notes}");
    let layers = cl["download"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    // kernel-core triggered its layer (known through the label); kernel-modules may have.
    assert_eq!(layers[0]["triggered_by"], json!(["kernel-core"]));
    assert_eq!(layers[0]["components"][1]["role"], "unknown");
    assert_eq!(layers[1]["triggered_by"], json!(["htop"]));
    assert_eq!(cl["download"]["cost"]["download_bytes"], 1060);
}

#[test]
fn a_history_update_matches_compare() {
    let out = tempfile::tempdir().unwrap();
    let (from, to) = ("0d8e1884", "6bd4b0d8");
    let ok_compare = rechunk(&[
        "compare",
        "--strategies",
        "cluster",
        "--no-sweep",
        "--client",
        "every",
        "--max-layers",
        "16",
        "--to-version",
        to,
        "--output",
        out.path().to_str().unwrap(),
    ]);
    assert!(
        ok_compare.status.success(),
        "{}",
        String::from_utf8_lossy(&ok_compare.stderr)
    );
    let cl = json_of(&[
        "changelog",
        "--json",
        "--history",
        "fcos-stable",
        "--from-version",
        from,
        "--to-version",
        to,
        "--max-layers",
        "16",
    ]);
    let mut updates = csv::Reader::from_path(out.path().join("updates.csv")).unwrap();
    let row: BTreeMap<String, String> = updates
        .deserialize()
        .map(|r| r.unwrap())
        .find(|r: &BTreeMap<String, String>| {
            r["strategy"] == "cluster" && r["from"] == from && r["to"] == to
        })
        .expect("the update in updates.csv");
    let download: u64 = row["download_bytes"].parse().unwrap();
    assert_eq!(cl["download"]["cost"]["download_bytes"], download);
    assert_eq!(cl["download"]["unit"], "uncompressed");
    // attribution.csv says the same, role by role.
    let mut attribution = csv::Reader::from_path(out.path().join("attribution.csv")).unwrap();
    let mut by_role: BTreeMap<String, u64> = BTreeMap::new();
    for r in attribution.deserialize() {
        let r: BTreeMap<String, String> = r.unwrap();
        if r["strategy"] == "cluster" && r["from"] == from && r["to"] == to {
            *by_role.entry(r["role"].clone()).or_default() += r["bytes"].parse::<u64>().unwrap();
        }
    }
    let totals = &cl["download"]["totals"];
    let role = |k: &str| by_role.get(k).copied().unwrap_or(0);
    assert_eq!(totals["changed"], role("changed") + role("added"));
    assert_eq!(totals["shared"], role("shared"));
    assert_eq!(totals["regrouped"], role("regrouped"));
    assert_eq!(by_role.values().sum::<u64>(), download);
    let bad = rechunk(&[
        "changelog",
        "--history",
        "fcos-stable",
        "--from-version",
        "nope",
        "--to-version",
        to,
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success()
            && stderr.contains("--from-version \"nope\"")
            && stderr.contains("no such version"),
        "{stderr}"
    );
}

#[test]
fn plain_manifests_give_bytes_only_and_bad_input_fails_cleanly() {
    // The two real FCOS manifests of ostree-rs-ext's tests: no labels, no annotations.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let (m1, m2) = (data.join("manifest1.json"), data.join("manifest2.json"));
    let (m1, m2) = (m1.to_str().unwrap(), m2.to_str().unwrap());
    let cl = json_of(&["changelog", "--json", m1, m2]);
    assert_eq!(cl["packages_known"], false);
    assert_eq!(cl["download"]["cost"]["download_bytes"], 170_472_856u64);
    assert_eq!(cl["download"]["totals"]["unattributed"], 170_472_856u64);
    let md = ok(&["changelog", m1, m2]);
    assert!(
        md.contains("Unknown: an image does not list its packages"),
        "{md}"
    );
    let missing = rechunk(&["changelog", m1, "oci:/nonexistent/dir:v1"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr.contains("/nonexistent/dir/index.json"), "{stderr}");
    let usage = rechunk(&["changelog"]);
    assert_eq!(usage.status.code(), Some(2));
    let both = rechunk(&["changelog", m1, m2, "--history", "fcos-stable"]);
    assert_eq!(both.status.code(), Some(2));
}
