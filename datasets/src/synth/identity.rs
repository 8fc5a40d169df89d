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

use anyhow::{bail, Result};

use crate::rng::hash;

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

/// The rpm identity of history component `component` at version string `evr`; `siblings`
/// tells whether other components of the same snapshot share the rpm name (multilib).
pub fn rpm_identity(
    component: &str,
    evr: &str,
    has_sibling: impl Fn(&str) -> bool,
) -> Result<RpmIdentity> {
    let parsed = parse_evra(evr);
    let arch = parsed.as_ref().map_or("noarch", |p| p.3);
    let name = multilib_name(component, evr, arch, &has_sibling);
    if !valid_name(name) {
        bail!(
            "component {component:?}: not usable as an rpm package name (letters, digits and . _ + - only, not starting with - or .)"
        );
    }
    Ok(match parsed {
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

/// `glibc.i686` → `glibc` and `pkg-1.0-1.x86_64` → `pkg` when the stripped name is shared
/// with another component of the snapshot (the `rpm -qa` loader's naming of multilib pairs).
fn multilib_name<'a>(
    component: &'a str,
    evr: &str,
    arch: &str,
    has_sibling: &impl Fn(&str) -> bool,
) -> &'a str {
    [format!("-{evr}"), format!(".{arch}")]
        .iter()
        .filter_map(|suffix| component.strip_suffix(suffix.as_str()))
        .find(|base| !base.is_empty() && has_sibling(base))
        .unwrap_or(component)
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
        rpm_identity(component, evr, |n| n == "glibc").unwrap()
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
        assert!(rpm_identity("unpackaged:/etc", "1", |_| false).is_err());
        assert!(rpm_identity("-x", "1", |_| false).is_err());
    }
}
