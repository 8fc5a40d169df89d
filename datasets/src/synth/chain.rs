//! From a history to the plan of a chain of trees: which packages (with every detail that
//! goes into their .rpm files) and which unowned content each version holds.
//!
//! - **Completion.** Every tree gets an initramfs and generated content, as every real image
//!   has: a version without a component of kind `initramfs` gets `initramfs` (6% of its
//!   package bytes, FCOS's share), one without `other`/`unpackaged` content gets
//!   `generated-content` (5%); both change at every version, as a compose rebuilds them.
//! - **Scaling** ([`Scale`]): factor `k` adds `k − 1` clones of every package, named
//!   `NAME-x2` .. `NAME-xK`, with the same versions, sizes and change dates (so the same
//!   change pattern), their own content, source package `SOURCE-xI` and requires mapped to the
//!   clones. `Scale::Desktop` picks the smallest `k` that gives the history's last version at
//!   least [`DESKTOP`] packages, files and bytes.
//! - **Package specs.** A package's spec (rpm identity, size, source, requires, build time,
//!   changelog) comes from the version where that component first appears with that version
//!   string, so the same (component, version) is the same .rpm in every tree of the chain.
//!   Build time = that version's date. Changelog = one entry per change of the component seen
//!   in the history up to then (within two years), plus, when the history gives
//!   rpm-ostree's `change_frequency` n and fewer than n of those fall in the last year, evenly
//!   spaced entries in that year up to n; times at noon UTC, newest first, as rpm stores them.
//!
//! [`Chain::history`] is the history the trees realise: the scaled, completed input's
//! packages with their versions as `rechunk scan` reports them (no `change_frequency`: a tree
//! carries changelogs, not contentmeta's count), and the non-package components as the scan
//! names them ([`super::realise`]: classes of generated content, the rpm database, unowned
//! directories), so a replay of it and the built trees describe the same images. The rpm
//! database's size is planned until the version is written ([`Chain::record_written`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rechunk_model::{Component, ComponentKind, History, Snapshot, Timestamp, DAY};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::identity::{layout_key, rpm_identity, shared_bases, RpmIdentity};
use super::layout::{self, FileSpec, PackageRef};
use super::realise::{self, PackageDirs, Rpmdb};
use super::unowned::{self, UnownedSpec};

/// Changes the bytes of every package: part of each .rpm cache key.
pub const GENERATOR_VERSION: &str = "rechunk-synth-1";

/// What `Scale::Desktop` reaches on the history's last version.
pub const DESKTOP: DesktopSize = DesktopSize {
    packages: 2_000,
    files: 150_000,
    bytes: 6_000_000_000,
};

/// The biggest component synthesized: a package is built in memory (content and payload), so
/// a bigger one is refused rather than risk the machine. Real packages stay far below (FCOS's
/// biggest, linux-firmware, is 185 MB).
pub const MAX_COMPONENT_BYTES: u64 = 4 << 30;

/// The biggest `--scale` factor: the scaled history is held in memory whole.
pub const MAX_FACTOR: u32 = 100;

/// Share of package bytes given to a completed initramfs and to completed generated content.
const INITRAMFS_SHARE: f64 = 0.06;
const GENERATED_SHARE: f64 = 0.05;
const MIN_COMPLETION: u64 = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DesktopSize {
    pub packages: u64,
    /// Non-directory entries.
    pub files: u64,
    pub bytes: u64,
}

/// How big the trees are relative to the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// As the history says.
    Real,
    /// Every package `k` times (k ≥ 1).
    Factor(u32),
    /// The smallest factor reaching [`DESKTOP`].
    Desktop,
}

/// Everything that goes into one package's .rpm file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackageSpec {
    /// The history's component name (unique in a tree).
    pub component: String,
    /// What all file paths and content derive from ([`layout_key`]: the component name, or
    /// the rpm name for a primary-arch multilib name).
    pub key: String,
    pub rpm: RpmIdentity,
    /// Regular-file bytes.
    pub size: u64,
    /// Source package name (written as SOURCERPM `SOURCE-VERSION-RELEASE.src.rpm`).
    pub source: Option<String>,
    /// rpm names this package requires.
    pub requires: Vec<String>,
    pub build_time: Timestamp,
    /// The component's upstream versions up to this one, each with the date it first
    /// appeared, oldest first (see [`layout`] for what follows them).
    pub upstreams: Vec<(String, Timestamp)>,
    /// When the component first appeared: the mtime of its files that never change.
    pub first_seen: Timestamp,
    /// Changelog entry times, newest first.
    pub changelog: Vec<Timestamp>,
}

/// One tree of the chain.
#[derive(Clone, Debug)]
pub struct VersionPlan {
    pub id: String,
    pub date: Timestamp,
    /// Sorted by component name.
    pub packages: Vec<Arc<PackageSpec>>,
    /// The non-package components (initramfs, generated content, unowned files), as the
    /// history gives them, with the date each first had its version.
    pub unowned: Vec<UnownedSpec>,
    /// `version-release.arch` of the kernel package (`kernel-core`, else `kernel`), if any.
    pub kernel_release: Option<String>,
    /// Per package (aligned with `packages`): the directories it makes rpm create and owns.
    pub package_dirs: Vec<Arc<PackageDirs>>,
}

impl VersionPlan {
    /// The directories all packages make rpm create and own, and the entries rpm records.
    pub fn dirs(&self) -> PackageDirs {
        let mut all = PackageDirs::default();
        for d in &self.package_dirs {
            all.created.extend(d.created.iter().cloned());
            all.owned.extend(d.owned.iter().cloned());
            all.entries += d.entries;
        }
        all
    }

    /// Where the unowned content goes, with an rpm database of `rpmdb_bytes`.
    pub fn unowned_layout(&self, rpmdb_bytes: u64) -> unowned::UnownedLayout {
        unowned::layout(&self.unowned, self.kernel_release.as_deref(), rpmdb_bytes)
    }

    /// The non-package components the scan will see, with an rpm database of `rpmdb_bytes`.
    pub fn realised_unowned(&self, dirs: &PackageDirs, rpmdb_bytes: u64) -> Vec<Component> {
        let rpmdb = Rpmdb {
            bytes: rpmdb_bytes,
            date: self.date,
        };
        realise::components(dirs, &self.unowned_layout(rpmdb_bytes), rpmdb)
    }
}

/// A planned chain.
#[derive(Clone, Debug)]
pub struct Chain {
    /// What the trees realise (see the module doc).
    pub history: History,
    /// Packages were cloned this many times (1 = as the history says).
    pub factor: u32,
    pub versions: Vec<VersionPlan>,
}

impl PackageSpec {
    /// The package's file list.
    pub fn files(&self) -> Vec<FileSpec> {
        let (evr, kernel) = (self.rpm.evr(), self.rpm.kernel_release());
        layout::package_files(&PackageRef {
            key: &self.key,
            name: &self.rpm.name,
            evr: &evr,
            upstreams: &self.upstreams,
            kernel_release: &kernel,
            size: self.size,
            build_time: self.build_time,
            first_seen: self.first_seen,
        })
    }

    /// A digest of everything the .rpm depends on, the generator and calibration included.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(GENERATOR_VERSION.as_bytes());
        h.update(include_bytes!("../../data/synth-calibration.json"));
        h.update(serde_json::to_vec(self).expect("a PackageSpec always serializes"));
        hex::encode(&h.finalize()[..8])
    }

    /// The cache file name: NEVRA (without epoch) and the digest.
    pub fn rpm_file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}-{}.rpm",
            self.rpm.name,
            self.rpm.version,
            self.rpm.release,
            self.rpm.arch,
            self.digest()
        )
    }
}

impl Chain {
    /// Plans the chain of `input` at `scale`.
    pub fn new(input: &History, scale: Scale) -> Result<Chain> {
        if input.snapshots.is_empty() {
            bail!("history {:?} has no versions", input.name);
        }
        let now = chrono::Utc::now().timestamp();
        for s in &input.snapshots {
            if let Some(c) = s.components.iter().find(|c| c.size > MAX_COMPONENT_BYTES) {
                bail!(
                    "version {:?} of history {:?}: component {:?} has {} bytes; synth builds components of up to {MAX_COMPONENT_BYTES} bytes",
                    s.id,
                    input.name,
                    c.name,
                    c.size
                );
            }
            if s.date <= 0 || s.date >= now {
                bail!(
                    "version {:?} of history {:?} is dated {}: synthesized packages need build times after 1970 and not in the future",
                    s.id,
                    input.name,
                    crate::time::rfc3339(s.date)
                );
            }
        }
        let completed = complete(input);
        let factor = match scale {
            Scale::Real => 1,
            Scale::Factor(k) if !(1..=MAX_FACTOR).contains(&k) => {
                bail!("--scale: the factor must be between 1 and {MAX_FACTOR}, not {k}")
            }
            Scale::Factor(k) => k,
            Scale::Desktop => factor_for(&completed, DESKTOP)?,
        };
        let scaled = scale_history(&completed, factor)?;
        plan(scaled, factor)
    }

    /// Index of the version with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.versions.iter().position(|v| v.id == id)
    }

    /// Records what writing version `index` realised: its non-package components, measured
    /// (the rpm database's real size), replace the planned ones in [`Chain::history`].
    pub fn record_written(&mut self, index: usize, unowned: &[Component]) -> Result<()> {
        let snapshot = self
            .history
            .snapshots
            .get_mut(index)
            .with_context(|| format!("the chain has no version number {index}"))?;
        let mut components: Vec<Component> = snapshot
            .components
            .drain(..)
            .filter(|c| is_package(c.kind))
            .collect();
        components.extend(unowned.iter().cloned());
        *snapshot = Snapshot::new(snapshot.id.clone(), snapshot.date, components);
        Ok(())
    }
}

/// Adds an initramfs and generated content to the versions that lack them.
fn complete(input: &History) -> History {
    let snapshots = input
        .snapshots
        .iter()
        .map(|s| {
            let package_bytes: u64 = s
                .components
                .iter()
                .filter(|c| is_package(c.kind))
                .map(|c| c.size)
                .sum();
            let share = |f: f64| ((package_bytes as f64 * f) as u64).max(MIN_COMPLETION);
            let mut components = s.components.clone();
            let has =
                |kinds: &[ComponentKind]| s.components.iter().any(|c| kinds.contains(&c.kind));
            let built = format!("built-{}", s.id);
            if !has(&[ComponentKind::Initramfs]) {
                components.push(Component::new(
                    "initramfs",
                    ComponentKind::Initramfs,
                    built.clone(),
                    share(INITRAMFS_SHARE),
                ));
            }
            if !has(&[ComponentKind::Other, ComponentKind::Unpackaged]) {
                components.push(Component::new(
                    "generated-content",
                    ComponentKind::Other,
                    built,
                    share(GENERATED_SHARE),
                ));
            }
            Snapshot::new(s.id.clone(), s.date, components)
        })
        .collect();
    History {
        name: input.name.clone(),
        snapshots,
    }
}

fn is_package(kind: ComponentKind) -> bool {
    matches!(kind, ComponentKind::Package | ComponentKind::SourcePackage)
}

/// The smallest factor that brings the last version to `target`, counting the files of every
/// clone's own layout.
fn factor_for(history: &History, target: DesktopSize) -> Result<u32> {
    let Some(last) = history.snapshots.last() else {
        return Ok(1);
    };
    let packages: Vec<&Component> = last
        .components
        .iter()
        .filter(|c| is_package(c.kind))
        .collect();
    let shared = shared_bases(
        packages
            .iter()
            .map(|c| (c.name.as_str(), c.version.as_str())),
    );
    let none = HashSet::new();
    let mut bytes: u64 = last
        .components
        .iter()
        .filter(|c| !is_package(c.kind))
        .map(|c| c.size)
        .sum();
    let (mut count, mut files) = (0u64, 0u64);
    for k in 1..=MAX_FACTOR {
        for c in &packages {
            let name = match k {
                1 => c.name.clone(),
                _ => clone_name(&c.name, k),
            };
            let rpm = rpm_identity(&name, &c.version, if k == 1 { &shared } else { &none })
                .with_context(|| format!("version {:?}", last.id))?;
            let spec = PackageSpec {
                key: layout_key(&name, &rpm),
                component: name,
                rpm,
                size: c.size,
                source: None,
                requires: Vec::new(),
                build_time: last.date,
                upstreams: Vec::new(),
                first_seen: last.date,
                changelog: Vec::new(),
            };
            files += layout::count(&spec.files());
            bytes += c.size;
            count += 1;
        }
        if count >= target.packages && files >= target.files && bytes >= target.bytes {
            return Ok(k);
        }
    }
    bail!(
        "--scale desktop: the last version {:?} does not reach {} packages, {} files and {} bytes even with {MAX_FACTOR} copies",
        last.id,
        target.packages,
        target.files,
        target.bytes
    )
}

/// Clones every package component `factor − 1` times.
fn scale_history(history: &History, factor: u32) -> Result<History> {
    if factor == 1 {
        return Ok(history.clone());
    }
    let mut snapshots = Vec::with_capacity(history.snapshots.len());
    for s in &history.snapshots {
        let packages: HashSet<&str> = s
            .components
            .iter()
            .filter(|c| is_package(c.kind))
            .map(|c| c.name.as_str())
            .collect();
        let names: HashSet<&str> = s.components.iter().map(|c| c.name.as_str()).collect();
        let mut components = s.components.clone();
        for i in 2..=factor {
            for c in s.components.iter().filter(|c| is_package(c.kind)) {
                let mut clone = c.clone();
                clone.name = clone_name(&c.name, i);
                if names.contains(clone.name.as_str()) {
                    bail!(
                        "version {:?}: cannot scale: the clone name {:?} is already a component",
                        s.id,
                        clone.name
                    );
                }
                clone.source = c.source.as_ref().map(|src| clone_name(src, i));
                clone.requires = c
                    .requires
                    .iter()
                    .map(|r| match packages.contains(r.as_str()) {
                        true => clone_name(r, i),
                        false => r.clone(),
                    })
                    .collect();
                components.push(clone);
            }
        }
        snapshots.push(Snapshot::new(s.id.clone(), s.date, components));
    }
    Ok(History {
        name: format!("{} x{factor}", history.name),
        snapshots,
    })
}

fn clone_name(name: &str, i: u32) -> String {
    format!("{name}-x{i}")
}

/// Package specs (at first appearance) and the per-version plans.
fn plan(history: History, factor: u32) -> Result<Chain> {
    let mut specs: HashMap<(String, String), (Arc<PackageSpec>, Arc<PackageDirs>)> = HashMap::new();
    let mut unowned_since: HashMap<(String, String), Timestamp> = HashMap::new();
    // Per component: its upstream versions in order of first appearance, with their dates.
    let mut upstreams: HashMap<String, Vec<(String, Timestamp)>> = HashMap::new();
    // Per component: the dates its version changed (first appearance included) and its last
    // version seen.
    let mut changes: HashMap<String, (Vec<Timestamp>, String)> = HashMap::new();
    let mut versions = Vec::with_capacity(history.snapshots.len());
    let mut realised = Vec::with_capacity(history.snapshots.len());
    for s in &history.snapshots {
        for c in s.components.iter().filter(|c| is_package(c.kind)) {
            let entry = changes
                .entry(c.name.clone())
                .or_insert_with(|| (Vec::new(), String::new()));
            if entry.1 != c.version {
                entry.0.push(s.date);
                entry.1 = c.version.clone();
            }
        }
        let rpm_names = rpm_names(s)?;
        for (name, rpm) in &rpm_names {
            let seen = upstreams.entry(name.to_string()).or_default();
            let upstream = rpm.upstream();
            if !seen.iter().any(|(u, _)| *u == upstream) {
                seen.push((upstream, s.date));
            }
        }
        let mut packages = Vec::new();
        let mut package_dirs = Vec::new();
        let mut unowned = Vec::new();
        let mut components = Vec::with_capacity(s.components.len());
        for c in &s.components {
            if !is_package(c.kind) {
                let since = *unowned_since
                    .entry((c.name.clone(), c.version.clone()))
                    .or_insert(s.date);
                unowned.push(UnownedSpec {
                    component: c.clone(),
                    since,
                });
                continue;
            }
            let key = (c.name.clone(), c.version.clone());
            let (spec, dirs) = match specs.get(&key) {
                Some(known) => known.clone(),
                None => {
                    let rpm = rpm_names[c.name.as_str()].clone();
                    // The upstream versions up to this one (a return to an old upstream version
                    // continues from where it was).
                    let seen = upstreams.get(&c.name).map_or(&[][..], Vec::as_slice);
                    let upstream = rpm.upstream();
                    let end = seen
                        .iter()
                        .position(|(u, _)| *u == upstream)
                        .map_or(0, |i| i + 1);
                    let spec = Arc::new(package_spec(
                        c,
                        rpm,
                        s,
                        seen[..end].to_vec(),
                        &rpm_names,
                        &changes,
                    ));
                    let mut dirs = PackageDirs::default();
                    dirs.add(&spec.files());
                    let known = (spec, Arc::new(dirs));
                    specs.insert(key, known.clone());
                    known
                }
            };
            let mut realised_component = c.clone();
            realised_component.version = spec.rpm.scan_version();
            realised_component.size = spec.size;
            realised_component.build_time = Some(spec.build_time);
            // A scan lists each changelog time once (rpm keeps every entry: two on one day
            // share a time).
            realised_component.changelog_times = spec.changelog.clone();
            realised_component.changelog_times.dedup();
            // What a scan cannot see: a tree carries its packages' changelogs, not
            // contentmeta's count.
            realised_component.change_frequency = None;
            packages.push((spec, dirs));
            components.push(realised_component);
        }
        packages.sort_by(|a, b| a.0.component.cmp(&b.0.component));
        let (packages, package_dirs_sorted): (Vec<_>, Vec<_>) = packages.into_iter().unzip();
        package_dirs.extend(package_dirs_sorted);
        let kernel_release = ["kernel-core", "kernel"].iter().find_map(|k| {
            packages
                .iter()
                .find(|p| p.rpm.name == *k)
                .map(|p| p.rpm.kernel_release())
        });
        let version = VersionPlan {
            id: s.id.clone(),
            date: s.date,
            packages,
            unowned,
            kernel_release,
            package_dirs,
        };
        let dirs = version.dirs();
        let rpmdb = realise::planned_rpmdb_bytes(dirs.entries);
        components.extend(version.realised_unowned(&dirs, rpmdb));
        versions.push(version);
        realised.push(Snapshot::new(s.id.clone(), s.date, components));
    }
    Ok(Chain {
        history: History {
            name: history.name,
            snapshots: realised,
        },
        factor,
        versions,
    })
}

/// The rpm identity of every package component of a snapshot.
fn rpm_names(s: &Snapshot) -> Result<BTreeMap<&str, RpmIdentity>> {
    let packages = || s.components.iter().filter(|c| is_package(c.kind));
    let shared = shared_bases(packages().map(|c| (c.name.as_str(), c.version.as_str())));
    packages()
        .map(|c| {
            let id = rpm_identity(&c.name, &c.version, &shared)
                .with_context(|| format!("version {:?}", s.id))?;
            Ok((c.name.as_str(), id))
        })
        .collect()
}

/// The spec of `c` first seen with its version in `s`.
fn package_spec(
    c: &Component,
    rpm: RpmIdentity,
    s: &Snapshot,
    upstreams: Vec<(String, Timestamp)>,
    rpm_names: &BTreeMap<&str, RpmIdentity>,
    changes: &HashMap<String, (Vec<Timestamp>, String)>,
) -> PackageSpec {
    let mut requires: Vec<String> = c
        .requires
        .iter()
        .filter_map(|r| rpm_names.get(r.as_str()).map(|id| id.name.clone()))
        .filter(|r| *r != rpm.name)
        .collect();
    requires.sort();
    requires.dedup();
    let seen = changes.get(&c.name).map_or(&[][..], |(d, _)| d.as_slice());
    PackageSpec {
        key: layout_key(&c.name, &rpm),
        component: c.name.clone(),
        size: c.size,
        source: c.source.clone(),
        requires,
        build_time: s.date,
        first_seen: upstreams.first().map_or(s.date, |u| u.1),
        upstreams,
        changelog: changelog(seen, s.date, c.change_frequency),
        rpm,
    }
}

/// Changelog times for a build at `build_time` (see the module doc).
fn changelog(
    changes: &[Timestamp],
    build_time: Timestamp,
    frequency: Option<u32>,
) -> Vec<Timestamp> {
    let year = 365 * DAY;
    let mut times: Vec<Timestamp> = changes
        .iter()
        .copied()
        .filter(|&t| t <= build_time && build_time - t <= 2 * year)
        .collect();
    let recent = times.iter().filter(|&&t| build_time - t < year).count() as u64;
    let want = u64::from(frequency.unwrap_or(0));
    if want > recent {
        let missing = want - recent;
        let step = year / (missing as i64 + 1);
        times.extend((1..=missing as i64).map(|j| build_time - j * step));
    }
    let mut times: Vec<Timestamp> = times
        .into_iter()
        .map(|t| t - t.rem_euclid(DAY) + DAY / 2)
        .collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (version, date, [(component, version, size)]).
    type Rows<'a> = [(&'a str, i64, &'a [(&'a str, &'a str, u64)])];

    fn history(rows: &Rows) -> History {
        History {
            name: "test".into(),
            snapshots: rows
                .iter()
                .map(|(id, date, comps)| {
                    Snapshot::new(
                        *id,
                        *date,
                        comps
                            .iter()
                            .map(|(n, v, s)| Component::new(*n, ComponentKind::Package, *v, *s))
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    const T0: i64 = 1_700_000_000;

    #[test]
    fn specs_come_from_first_appearance_and_are_shared() {
        let h = history(&[
            (
                "v1",
                T0,
                &[("a", "1.0-1.x86_64", 1000), ("b", "2.0-1.noarch", 500)],
            ),
            (
                "v2",
                T0 + 7 * DAY,
                &[("a", "1.0-1.x86_64", 9999), ("b", "2.0-2.noarch", 600)],
            ),
            (
                "v3",
                T0 + 14 * DAY,
                &[("a", "1.0-1.x86_64", 1000), ("b", "2.0-1.noarch", 500)],
            ),
        ]);
        let chain = Chain::new(&h, Scale::Real).unwrap();
        let spec = |v: usize, name: &str| {
            chain.versions[v]
                .packages
                .iter()
                .find(|p| p.component == name)
                .unwrap()
                .clone()
        };
        assert!(Arc::ptr_eq(&spec(0, "a"), &spec(1, "a")));
        assert_eq!(spec(1, "a").size, 1000, "size from the first appearance");
        assert_eq!(
            spec(0, "b").digest(),
            spec(2, "b").digest(),
            "downgrade = same rpm"
        );
        assert_ne!(spec(0, "b").digest(), spec(1, "b").digest());
        assert_eq!(spec(1, "b").build_time, T0 + 7 * DAY);
        assert_eq!(spec(1, "b").changelog.len(), 2);
        // Completed: an initramfs and generated content in every version.
        for v in &chain.versions {
            let kinds: Vec<_> = v.unowned.iter().map(|u| u.component.kind).collect();
            assert!(kinds.contains(&ComponentKind::Initramfs), "{kinds:?}");
            assert!(kinds.contains(&ComponentKind::Other), "{kinds:?}");
        }
        assert_eq!(
            chain.history.snapshots[1].component("a").unwrap().size,
            1000
        );
    }

    #[test]
    fn scaling_clones_packages_with_the_same_change_pattern() {
        let h = history(&[
            ("v1", T0, &[("a", "1.0-1.x86_64", 1 << 20)]),
            ("v2", T0 + DAY, &[("a", "1.1-1.x86_64", 1 << 20)]),
        ]);
        assert!(Chain::new(&h, Scale::Factor(0)).is_err());
        assert!(Chain::new(&h, Scale::Factor(MAX_FACTOR + 1)).is_err());
        let err = Chain::new(&h, Scale::Desktop).unwrap_err().to_string();
        assert!(err.contains("even with 100 copies"), "{err}");
        let chain = Chain::new(&h, Scale::Factor(3)).unwrap();
        let names: Vec<&str> = chain.versions[1]
            .packages
            .iter()
            .map(|p| p.component.as_str())
            .collect();
        assert_eq!(names, ["a", "a-x2", "a-x3"]);
        let v = |i: usize, n: &str| {
            chain.history.snapshots[i]
                .component(n)
                .unwrap()
                .version
                .clone()
        };
        assert_ne!(v(0, "a-x3"), v(1, "a-x3"));
        assert_eq!(v(1, "a-x3"), "1.1-1.x86_64");
        // The smallest factor meeting every target on the last version (small targets here;
        // DESKTOP's own figures are in the README, from `rechunk synth --dry-run`).
        let rows: Vec<(String, u64)> = (0..10)
            .map(|i| (format!("p{i}"), 400_000 + i * 100_000))
            .collect();
        let comps: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|(n, s)| (n.as_str(), "1.0-1.x86_64", *s))
            .collect();
        let h = complete(&history(&[("v1", T0, &comps)]));
        let unowned: u64 = h.snapshots[0]
            .components
            .iter()
            .filter(|c| !is_package(c.kind))
            .map(|c| c.size)
            .sum();
        let target = DesktopSize {
            packages: 25,
            files: 1_000,
            bytes: 40_000_000,
        };
        let k = u64::from(factor_for(&h, target).unwrap());
        let scaled = Chain::new(&h, Scale::Factor(k as u32)).unwrap();
        // The packages of the first k copies: `pN` and `pN-xI` for I ≤ k.
        let copy = |name: &str| name.split_once("-x").map_or(1, |(_, i)| i.parse().unwrap());
        let meets = |k: u64| {
            let v = &scaled.versions[0];
            let packages: Vec<_> = v
                .packages
                .iter()
                .filter(|p| copy(&p.component) <= k)
                .collect();
            let files: u64 = packages.iter().map(|p| layout::count(&p.files())).sum();
            let bytes: u64 = packages.iter().map(|p| p.size).sum();
            packages.len() as u64 >= target.packages
                && files >= target.files
                && bytes + unowned >= target.bytes
        };
        assert!(meets(k) && !meets(k - 1), "factor {k}");
    }

    #[test]
    fn changelog_fills_up_to_the_change_frequency() {
        let t = T0 + 100 * DAY;
        let log = changelog(&[T0, T0 + 50 * DAY], t, Some(5));
        assert_eq!(log.len(), 5);
        assert!(log.windows(2).all(|w| w[0] >= w[1]));
        assert!(log.iter().all(|&x| x <= t && x % DAY == DAY / 2));
        assert_eq!(changelog(&[T0], t, None).len(), 1);
    }

    #[test]
    fn bad_dates_are_refused() {
        let h = history(&[("v1", 0, &[("a", "1-1.x86_64", 1)])]);
        let err = Chain::new(&h, Scale::Real).unwrap_err().to_string();
        assert!(err.contains("v1") && err.contains("1970"), "{err}");
    }
}
