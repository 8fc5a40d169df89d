//! From a history's component name and version string to a real rpm identity (name, epoch,
//! version, release, arch), and back to the version string `rechunk scan` will report.
//!
//! History versions are usually `[epoch:]version-release.arch` (the FCOS lockfiles and `rpm
//! -qa` dumps): those map one to one, so a scan of the synthesized tree reports exactly the
//! history's string. Anything else (a generic CSV's free-form `evr`) becomes version = the
//! string with characters rpm refuses replaced by `_` (plus a short digest of the original when
//! anything was replaced, so distinct strings stay distinct), release `0`, arch `noarch`; the
//! realised history then carries that mapped string. Multilib names from `rpm -qa` dumps
//! (`glibc.i686`, `pkg-1.0-1.x86_64` for duplicates) map back to the rpm name.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};

use crate::rng::hash;

/// Architectures a multilib system installs beside its primary one: their packages keep the
/// `.arch` in their layout key, so both copies have their own paths.
const SECONDARY_ARCHES: [&str; 3] = ["i686", "i386", "armv7hl"];

/// Architectures recognised as the last dot-part of a version string.
const ARCHES: [&str; 11] = [
    "x86_64", "noarch", "i686", "i386", "aarch64", "ppc64le", "s390x", "armv7hl", "riscv64", "src",
    "ppc64",
];

/// A real rpm package identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RpmIdentity {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
}

impl RpmIdentity {
    /// `[epoch:]version-release`.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// `[epoch:]version`: what an upstream update changes.
    pub fn upstream(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}", self.version),
            None => self.version.clone(),
        }
    }

    /// The version string a scan reports for the installed package (`evr.arch`).
    pub fn scan_version(&self) -> String {
        format!("{}.{}", self.evr(), self.arch)
    }

    /// `version-release.arch`: a kernel package's module directory name.
    pub fn kernel_release(&self) -> String {
        format!("{}-{}.{}", self.version, self.release, self.arch)
    }
}

/// The rpm names several package components of one snapshot share once their `.arch` or
/// `-evra` suffix is dropped: the multilib pairs of the `rpm -qa` loader's naming
/// (`glibc.x86_64` + `glibc.i686`, or `glibc` + `glibc.i686`).
pub fn shared_bases<'a>(
    components: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> HashSet<String> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for (name, evr) in components {
        let mut bases: Vec<&str> = vec![name];
        bases.extend(
            suffixes(evr)
                .iter()
                .filter_map(|s| name.strip_suffix(s.as_str())),
        );
        bases.sort_unstable();
        bases.dedup();
        for b in bases.into_iter().filter(|b| !b.is_empty()) {
            *count.entry(b.to_string()).or_default() += 1;
        }
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(b, _)| b)
        .collect()
}

/// The suffixes the `rpm -qa` loader appends to shared names: `-EVRA`, `.ARCH`.
fn suffixes(evr: &str) -> [String; 2] {
    let arch = parse_evra(evr).map_or("noarch", |p| p.3);
    [format!("-{evr}"), format!(".{arch}")]
}

/// The rpm identity of history component `component` at version string `evr`; `shared` are the
/// snapshot's [`shared_bases`].
pub fn rpm_identity(component: &str, evr: &str, shared: &HashSet<String>) -> Result<RpmIdentity> {
    let name = suffixes(evr)
        .iter()
        .filter_map(|suffix| component.strip_suffix(suffix.as_str()))
        .find(|base| shared.contains(*base))
        .unwrap_or(component);
    if !valid_name(name) {
        bail!(
            "component {component:?}: not usable as an rpm package name (letters, digits and . _ + - only, not starting with - or .)"
        );
    }
    Ok(match parse_evra(evr) {
        Some((epoch, version, release, arch)) => RpmIdentity {
            name: name.to_string(),
            epoch,
            version: version.to_string(),
            release: release.to_string(),
            arch: arch.to_string(),
        },
        None => RpmIdentity {
            name: name.to_string(),
            epoch: None,
            version: sanitized_version(evr),
            release: "0".to_string(),
            arch: "noarch".to_string(),
        },
    })
}

/// The key a package's paths and content derive from: the component name, except that a
/// primary-arch multilib name (`glibc.x86_64`) is keyed by its rpm name, so the package has the
/// same content whether the history calls it `glibc.x86_64` (beside `glibc.i686`) or `glibc`.
pub fn layout_key(component: &str, rpm: &RpmIdentity) -> String {
    let primary = !SECONDARY_ARCHES.contains(&rpm.arch.as_str());
    match component.strip_prefix(rpm.name.as_str()) {
        Some(rest) if primary && rest == format!(".{}", rpm.arch) => rpm.name.clone(),
        _ => component.to_string(),
    }
}

/// `[epoch:]version-release.arch` with rpm-valid parts.
fn parse_evra(evr: &str) -> Option<(Option<u32>, &str, &str, &str)> {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) => (Some(e.parse::<u32>().ok()?), rest),
        None => (None, evr),
    };
    let (vr, arch) = rest.rsplit_once('.')?;
    if !ARCHES.contains(&arch) {
        return None;
    }
    let (version, release) = vr.rsplit_once('-')?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(version_char);
    (ok(version) && ok(release)).then_some((epoch, version, release, arch))
}

fn version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '~' | '^')
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
}

fn sanitized_version(evr: &str) -> String {
    let clean: String = evr
        .chars()
        .map(|c| if version_char(c) { c } else { '_' })
        .collect();
    if clean == evr && !clean.is_empty() {
        clean
    } else {
        format!("{clean}.h{:08x}", hash(&[evr.as_bytes()]) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(component: &str, evr: &str) -> RpmIdentity {
        let shared = HashSet::from(["glibc".to_string()]);
        rpm_identity(component, evr, &shared).unwrap()
    }

    #[test]
    fn lockfile_versions_map_one_to_one() {
        let p = id("NetworkManager", "1:1.46.2-1.fc40.x86_64");
        assert_eq!(
            (
                p.name.as_str(),
                p.epoch,
                p.version.as_str(),
                p.release.as_str(),
                p.arch.as_str()
            ),
            ("NetworkManager", Some(1), "1.46.2", "1.fc40", "x86_64")
        );
        assert_eq!(p.scan_version(), "1:1.46.2-1.fc40.x86_64");
        assert_eq!(p.upstream(), "1:1.46.2");
        assert_eq!(
            id("tzdata", "2024a-5.fc40.noarch").scan_version(),
            "2024a-5.fc40.noarch"
        );
        assert_eq!(
            id("kernel-core", "6.10.12-200.fc40.x86_64").kernel_release(),
            "6.10.12-200.fc40.x86_64"
        );
    }

    #[test]
    fn multilib_and_free_form() {
        assert_eq!(id("glibc.i686", "2.39-22.fc40.i686").name, "glibc");
        assert_eq!(
            id("glibc-2.39-22.fc40.i686", "2.39-22.fc40.i686").name,
            "glibc"
        );
        // Without a sibling the suffix is part of the name.
        assert_eq!(id("python3.i686", "3.12-1.i686").name, "python3.i686");
        let free = id("app", "build 7/2");
        assert_eq!(free.release, "0");
        assert!(free.version.starts_with("build_7_2.h"), "{}", free.version);
        assert_ne!(
            id("app", "build 7/2").version,
            id("app", "build_7_2").version
        );
        assert_eq!(id("app", "3").version, "3");
        let none = HashSet::new();
        assert!(rpm_identity("unpackaged:/etc", "1", &none).is_err());
        assert!(rpm_identity("-x", "1", &none).is_err());
        // Both loader namings of a multilib pair.
        let pair = [
            ("glibc.x86_64", "2.39-1.x86_64"),
            ("glibc.i686", "2.39-1.i686"),
        ];
        assert_eq!(shared_bases(pair), HashSet::from(["glibc".to_string()]));
        let pair = [("glibc", "2.39-1.x86_64"), ("glibc.i686", "2.39-1.i686")];
        assert_eq!(shared_bases(pair), HashSet::from(["glibc".to_string()]));
        let dup = [
            ("k-1-1.x86_64", "1-1.x86_64"),
            ("k-2-1.x86_64", "2-1.x86_64"),
        ];
        assert_eq!(shared_bases(dup), HashSet::from(["k".to_string()]));
        assert!(shared_bases([("glibc", "1-1.x86_64"), ("bash", "1-1.x86_64")]).is_empty());
        // Layout keys: the primary arch's copy is keyed like the unique package.
        let primary = id("glibc.x86_64", "2.39-22.fc40.x86_64");
        assert_eq!(layout_key("glibc.x86_64", &primary), "glibc");
        let secondary = id("glibc.i686", "2.39-22.fc40.i686");
        assert_eq!(layout_key("glibc.i686", &secondary), "glibc.i686");
        assert_eq!(
            layout_key("glibc", &id("glibc", "2.39-22.fc40.x86_64")),
            "glibc"
        );
    }
}
