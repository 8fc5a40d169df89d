//! The three outputs of one small update, checked in full: Markdown (exact text), JSON (the
//! documented fields), a template (every placeholder, and its errors).

use rechunk_changelog::{
    default_major, json, markdown, template, Changelog, Download, Inventory, Layout, LayoutLayer,
    TemplateError, Unit, PLACEHOLDERS,
};
use rechunk_model::{Component, ComponentKind};
use serde_json::Value;

fn component(name: &str, kind: ComponentKind, version: &str, size: u64) -> Component {
    Component::new(name, kind, version, size)
}

/// kernel upgraded (shares its layer with linux-firmware), htop added, pydantic downgraded,
/// joycond removed, setup modified after install, the rpmdb changed.
fn update() -> Changelog {
    use ComponentKind::*;
    let old = Inventory::from_components(
        "v1",
        &[
            component("kernel", Package, "6.9.9-200.fc40.x86_64", 3000),
            component("linux-firmware", Package, "20240709-1.fc40.noarch", 1000),
            component("python3-pydantic", Package, "2.8.2-1.fc40.noarch", 400),
            component("joycond", Package, "0.1-1.fc40.x86_64", 100),
            component("setup", Package, "2.14.5-1.fc40.noarch", 50),
            component("rpmdb", Rpmdb, "aaaa", 500),
        ],
        "test",
    );
    let new = Inventory::from_components(
        "v2",
        &[
            component("kernel", Package, "6.10.2-200.fc40.x86_64", 3000),
            component("linux-firmware", Package, "20240709-1.fc40.noarch", 1000),
            component("python3-pydantic", Package, "1.10.2-1.fc40.noarch", 400),
            component("htop", Package, "3.3.0-1.fc40.x86_64", 200),
            component(
                "setup",
                Package,
                "2.14.5-1.fc40.noarch+0123456789abcdef",
                50,
            ),
            component("rpmdb", Rpmdb, "bbbb", 500),
        ],
        "test",
    );
    let layer = |id: &str, bytes: u64, members: &[&str]| LayoutLayer {
        id: id.to_string(),
        bytes,
        members: Some(members.iter().map(|m| m.to_string()).collect()),
    };
    let old_layout = Layout {
        layers: vec![
            layer("k1", 2000, &["kernel", "linux-firmware"]),
            layer("p1", 300, &["python3-pydantic", "joycond", "setup"]),
            layer("r1", 100, &["rpmdb"]),
        ],
    };
    let new_layout = Layout {
        layers: vec![
            layer("k2", 2000, &["kernel", "linux-firmware"]),
            layer("p2", 250, &["python3-pydantic", "setup", "htop"]),
            layer("r2", 120, &["rpmdb"]),
        ],
    };
    let mut cl = Changelog::new(&old, &new, &default_major());
    cl.download = Some(Download::between(
        (&old, &old_layout),
        (&new, &new_layout),
        1000,
        Unit::Compressed,
    ));
    cl
}

#[test]
fn markdown_is_ready_to_paste() {
    let want = "\
## Changes from `v1` to `v2`

### Major components

- **Kernel**: 6.9.9-200.fc40 → 6.10.2-200.fc40
- **Firmware**: 20240709-1.fc40

### Package changes

1 added, 1 upgraded, 1 downgraded, 1 changed, 1 removed.

#### Added

- **htop** 3.3.0

#### Upgraded

- **kernel** 6.9.9 → 6.10.2

#### Downgraded

- **python3-pydantic** 2.8.2 → 1.10.2

#### Changed at the same version

- **setup** 2.14.5-1.fc40 (files modified after install)

#### Removed

- **joycond** 0.1

### Other content

- changed: `rpmdb`

### Download

A client on `v1` downloads **2.3 KiB** (compressed) in 3 of 3 layers; 0.0% of the 2.3 KiB image is already held. Manifest and config add 1000 B.

- 1.8 KiB: the added and changed components
- 500 B: unchanged components that share a layer with a changed one (the price of the plan)

| # | bytes | triggered by | fetched along, unchanged |
|---:|---:|---|---|
| 1 | 2.0 KiB | kernel | linux-firmware 500 B |
| 2 | 250 B | python3-pydantic, setup, htop, joycond (removed) | - |
| 3 | 120 B | rpmdb | - |

A layer's bytes are shared among its components in proportion to their uncompressed sizes.
";
    assert_eq!(markdown(&update()), want);
}

#[test]
fn json_has_the_documented_fields_and_sums() {
    let cl = update();
    let v: Value = serde_json::from_str(&json(&cl).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["from"]["id"], "v1");
    assert_eq!(v["counts"]["added"], 1);
    assert_eq!(v["counts"]["removed"], 1);
    assert_eq!(v["major"][0]["label"], "Kernel");
    assert_eq!(v["major"][0]["new"], "6.10.2-200.fc40");
    let kernel = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kernel")
        .unwrap();
    assert_eq!(kernel["change"], "upgraded");
    assert_eq!(kernel["old_shown"], "6.9.9");
    assert_eq!(kernel["new"]["evr"]["version"], "6.10.2");
    assert_eq!(kernel["new"]["evr"]["arch"], "x86_64");
    assert_eq!(kernel["new"]["size"], 3000);
    assert_eq!(v["other"][0]["name"], "rpmdb");
    let d = &v["download"];
    assert_eq!(d["unit"], "compressed");
    assert_eq!(d["cost"]["download_bytes"], 2370);
    let totals = &d["totals"];
    let sum: u64 = ["changed", "shared", "regrouped", "rebuilt", "unattributed"]
        .iter()
        .map(|k| totals[k].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 2370);
    let layer = &d["layers"][0];
    assert_eq!(layer["index"], 0);
    assert_eq!(layer["id"], "k2");
    assert_eq!(layer["cause"], "changed");
    assert_eq!(layer["triggered_by"][0], "kernel");
    assert_eq!(layer["components"][1]["role"], "shared");
    assert_eq!(layer["components"][1]["bytes"], 500);
}

#[test]
fn templates_fill_every_placeholder_and_refuse_unknown_ones() {
    let cl = update();
    let out = template(
        "# {{ to }} (from {{from}})\nKernel {{version:kernel}} (was {{old_version:kernel}}), \
         firmware {{version:linux-firmware}}, joycond {{version:joycond}}\n\
         {{added_count}}+{{upgraded_count}}+{{downgraded_count}}+{{changed_count}}+{{removed_count}}\n\
         {{download_size}} = {{download_bytes}} = {{changed_bytes}}+{{shared_bytes}}+\
         {{regrouped_bytes}}+{{rebuilt_bytes}}+{{unattributed_bytes}}, {{layers_fetched}}/{{layers_total}}\n\
         {{upgraded}}{{removed}}",
        &cl,
    )
    .unwrap();
    assert_eq!(
        out,
        "# v2 (from v1)\nKernel 6.10.2-200.fc40 (was 6.9.9-200.fc40), firmware 20240709-1.fc40, \
         joycond \n1+1+1+1+1\n2.3 KiB = 2370 = 1870+500+0+0+0, 3/3\n\
         - **kernel** 6.9.9 → 6.10.2\n- **joycond** 0.1\n"
    );
    // Every documented placeholder is accepted.
    for (name, _) in PLACEHOLDERS {
        let name = name.replace("PKG", "kernel");
        template(&format!("{{{{{name}}}}}"), &cl).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(matches!(
        template("ok\n{{nope}}", &cl),
        Err(TemplateError::Unknown { line: 2, .. })
    ));
    assert_eq!(
        template("a {{to", &cl),
        Err(TemplateError::Unclosed { line: 1 })
    );
    assert!(matches!(
        template("{{version:no-such}}", &cl),
        Err(TemplateError::NoPackage { .. })
    ));
}
