//! rpm versions: `[epoch:]version[-release][.arch]` parsed, ordered with rpm's own rules
//! (`rpmvercmp`, epoch first), and shown the way a person reads a change.
//!
//! The order matches what rpm 4.18's `rpm.vercmp()` answers (checked on generated pairs against
//! the real `rpm` in `tests/rpm_vercmp.rs`): a missing epoch is 0; versions, then releases, are
//! compared segment by segment (digits numerically, letters by byte, a digit segment newer than
//! a letter one, `~` older than anything, `^` newer than the end but older than anything else);
//! when only one side has a release, that side is newer.

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;

/// Architecture suffixes recognised at the end of a release (`1.fc40.x86_64`). A release is
/// split only at one of these, so `1.fc40` keeps its `fc40`.
const ARCHES: &[&str] = &[
    "noarch",
    "x86_64",
    "x86_64_v2",
    "x86_64_v3",
    "i386",
    "i486",
    "i586",
    "i686",
    "athlon",
    "aarch64",
    "armv7hl",
    "armv7hnl",
    "armhfp",
    "ppc64le",
    "ppc64",
    "s390x",
    "riscv64",
    "loongarch64",
    "src",
    "nosrc",
];

/// A parsed package version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Evr {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

impl Evr {
    /// Parses `[epoch:]version[-release][.arch]`: the epoch is the leading digits before a `:`,
    /// the release what follows the last `-`, the arch a known architecture after the release's
    /// last `.`. `None` for an empty version or release, or an epoch that is not a number.
    pub fn parse(text: &str) -> Option<Evr> {
        let text = text.trim();
        let (epoch, rest) = match text.split_once(':') {
            Some((e, rest)) => (Some(e.parse::<u32>().ok()?), rest),
            None => (None, text),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        if version.is_empty() || release.is_some_and(str::is_empty) {
            return None;
        }
        let (release, arch) = match release.and_then(|r| r.rsplit_once('.')) {
            Some((r, a)) if !r.is_empty() && ARCHES.contains(&a) => (Some(r), Some(a)),
            _ => (release, None),
        };
        Some(Evr {
            epoch,
            version: version.to_string(),
            release: release.map(str::to_string),
            arch: arch.map(str::to_string),
        })
    }

    /// `version-release` (the release only when there is one): what a person calls "the
    /// version" of a package.
    pub fn version_release(&self) -> String {
        match &self.release {
            Some(r) => format!("{}-{r}", self.version),
            None => self.version.clone(),
        }
    }

    /// `[epoch:]version[-release]`, without the arch.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}", self.version_release()),
            None => self.version_release(),
        }
    }

    fn epoch_or_zero(&self) -> u32 {
        self.epoch.unwrap_or(0)
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.evr())?;
        match &self.arch {
            Some(a) => write!(f, ".{a}"),
            None => Ok(()),
        }
    }
}

/// rpm's order of two package versions (the arch is not part of it).
pub fn compare_evr(a: &Evr, b: &Evr) -> Ordering {
    a.epoch_or_zero()
        .cmp(&b.epoch_or_zero())
        .then_with(|| rpmvercmp(&a.version, &b.version))
        .then_with(|| match (&a.release, &b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        })
}

/// rpm's `rpmvercmp`: compares two version (or release) strings segment by segment.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        // `~` sorts before everything, even the end of the string.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // `^` sorts after the end of the string but before anything else.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let take = |s: &[u8], from: usize| {
            let len = s[from..]
                .iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count();
            from + len
        };
        let (end_a, end_b) = (take(a, i), take(b, j));
        // b's segment is of the other type: a number is newer than letters.
        if end_b == j {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut sa, mut sb) = (&a[i..end_a], &b[j..end_b]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
        i = end_a;
        j = end_b;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// How far a version moved, for sorting changes: smaller is bigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Magnitude {
    Epoch,
    /// The first version segment differs (`6.9` → `7.0`).
    Major,
    /// The second (`6.9` → `6.10`).
    Minor,
    /// A later one.
    Patch,
    /// Only the release.
    Release,
    /// Only the arch, or the content at the same version.
    Content,
}

/// How far `old` → `new` moved.
pub fn magnitude(old: &Evr, new: &Evr) -> Magnitude {
    if old.epoch_or_zero() != new.epoch_or_zero() {
        return Magnitude::Epoch;
    }
    if rpmvercmp(&old.version, &new.version) != Ordering::Equal {
        let segments = |v: &str| -> Vec<String> {
            v.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let (a, b) = (segments(&old.version), segments(&new.version));
        let first_diff = (0..a.len().max(b.len()))
            .find(|&k| {
                a.get(k)
                    .zip(b.get(k))
                    .is_none_or(|(x, y)| rpmvercmp(x, y) != Ordering::Equal)
            })
            .unwrap_or(2);
        return match first_diff {
            0 => Magnitude::Major,
            1 => Magnitude::Minor,
            _ => Magnitude::Patch,
        };
    }
    if compare_evr(old, new) != Ordering::Equal {
        Magnitude::Release
    } else {
        Magnitude::Content
    }
}

/// `old` and `new` as a person reads the change: the epoch only when it differs, the release
/// only when the versions are equal, the arch only when all else is equal
/// (`6.1.2 → 6.1.3`, `6.1.2-1 → 6.1.2-2`, `1:2.0 → 2:1.0`).
pub fn display_change(old: &Evr, new: &Evr) -> (String, String) {
    if old.epoch_or_zero() != new.epoch_or_zero() {
        let with_epoch = |e: &Evr| format!("{}:{}", e.epoch_or_zero(), e.version);
        return (with_epoch(old), with_epoch(new));
    }
    if old.version != new.version {
        return (old.version.clone(), new.version.clone());
    }
    if old.release != new.release {
        return (old.version_release(), new.version_release());
    }
    if old.arch != new.arch {
        let with_arch = |e: &Evr| match &e.arch {
            Some(a) => format!("{}.{a}", e.version_release()),
            None => e.version_release(),
        };
        return (with_arch(old), with_arch(new));
    }
    (old.version_release(), new.version_release())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evr(s: &str) -> Evr {
        Evr::parse(s).unwrap_or_else(|| panic!("{s} parses"))
    }

    #[test]
    fn parses_epoch_release_and_known_arches_only() {
        let e = evr("2:3.1-4.fc40.noarch");
        assert_eq!(
            (
                e.epoch,
                e.version.as_str(),
                e.release.as_deref(),
                e.arch.as_deref()
            ),
            (Some(2), "3.1", Some("4.fc40"), Some("noarch"))
        );
        let e = evr("1.70.0-1.fc40");
        assert_eq!((e.release.as_deref(), e.arch), (Some("1.fc40"), None));
        let e = evr("0.0.git.283.bb3fa35b");
        assert_eq!(
            (e.version.as_str(), e.release),
            ("0.0.git.283.bb3fa35b", None)
        );
        assert_eq!(evr("1.0-1.x86_64").to_string(), "1.0-1.x86_64");
        assert_eq!(evr("5:1.0-1").evr(), "5:1.0-1");
        for bad in ["", "x:1.0-1", "1.0-", "-1", ":1"] {
            assert_eq!(Evr::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rpmvercmp_known_cases() {
        use Ordering::*;
        // Cases from rpm's own test suite (tests/rpmvercmp.at), by meaning.
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("1.0010", "1.9", Greater),
            ("1.05", "1.5", Equal),
            ("1.0", "1", Greater),
            ("2.0", "2_0", Equal),
            ("2.0", "2a", Greater),
            ("a", "1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("6.0.rc1", "6.0", Greater),
            ("fc4", "fc.4", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn epoch_first_then_version_then_release() {
        use Ordering::*;
        assert_eq!(compare_evr(&evr("1:1.0-1"), &evr("9.0-1")), Greater);
        assert_eq!(compare_evr(&evr("0:1.0-1"), &evr("1.0-1")), Equal);
        assert_eq!(compare_evr(&evr("1.0-2"), &evr("1.0-10")), Less);
        assert_eq!(compare_evr(&evr("1.0-1"), &evr("1.0")), Greater);
        assert_eq!(
            compare_evr(&evr("1.0-1.x86_64"), &evr("1.0-1.noarch")),
            Equal
        );
    }

    #[test]
    fn changes_read_like_a_person_writes_them() {
        let show = |a: &str, b: &str| {
            let (x, y) = display_change(&evr(a), &evr(b));
            format!("{x} → {y}")
        };
        assert_eq!(show("6.1.2-1.fc40", "6.1.3-1.fc40"), "6.1.2 → 6.1.3");
        assert_eq!(
            show("6.1.2-1.fc40", "6.1.2-2.fc40"),
            "6.1.2-1.fc40 → 6.1.2-2.fc40"
        );
        assert_eq!(
            show("1.70.0-1", "1.70.0-1.fc40"),
            "1.70.0-1 → 1.70.0-1.fc40"
        );
        assert_eq!(show("1:2.0-1", "2:1.0-1"), "1:2.0 → 2:1.0");
        assert_eq!(show("2.0-1", "1:1.0-1"), "0:2.0 → 1:1.0");
        assert_eq!(
            show("1.0-1.x86_64", "1.0-1.noarch"),
            "1.0-1.x86_64 → 1.0-1.noarch"
        );
        assert_eq!(
            magnitude(&evr("6.9.9-1"), &evr("6.10.1-1")),
            Magnitude::Minor
        );
        assert_eq!(magnitude(&evr("6.9.9-1"), &evr("7.0-1")), Magnitude::Major);
        assert_eq!(
            magnitude(&evr("6.9.9-1"), &evr("6.9.10-1")),
            Magnitude::Patch
        );
        assert_eq!(
            magnitude(&evr("6.9.9-1"), &evr("6.9.9-2")),
            Magnitude::Release
        );
        assert_eq!(magnitude(&evr("1:1-1"), &evr("2:1-1")), Magnitude::Epoch);
        assert_eq!(
            magnitude(&evr("1-1.x86_64"), &evr("1-1.noarch")),
            Magnitude::Content
        );
    }
}
