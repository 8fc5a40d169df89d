//! What real Fedora-family packages look like, as numbers the layout draws from: per file
//! class the size distribution, symlinks and extra hardlinks per file; per package archetype
//! the mix of file classes; per package the owned directories, `%ghost` files, setuid and
//! capability rates.
//!
//! The measured part is `datasets/data/synth-calibration.json`, written by
//! `cargo run -p rechunk-datasets --example synth_calibrate -- /work/shared/datasets` from the
//! real file lists of the Amazon Linux 2023 rpmdb (Fedora-derived, 103 packages) and the
//! Fedora 43 `rpm -q` dump of chunkah's fixtures (10 packages); origins in
//! `datasets/data/SOURCE.md`. Those are container images: they hold no kernel, firmware or
//! fonts, so the classes and archetypes they lack use the documented assumptions in
//! [`assumed_class`] and [`assumed_archetype`], and rates they show as zero (setuid,
//! capabilities) use [`ASSUMED_SETUID_PER_EXECUTABLE`] / [`ASSUMED_CAPS_PER_EXECUTABLE`] so that
//! every engine rule has something to act on.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::layout::{Archetype, FileClass};

/// Points a log-normal assumption is represented by.
const ASSUMED_POINTS: usize = 200;

/// An archetype needs this many real packages for its measured class mix to be used.
const MIN_ARCHETYPE_PACKAGES: usize = 3;

/// Executables with the setuid bit, when the data has none (a Fedora desktop has about 30 among
/// some 4,000 executables: su, mount, passwd, sudo, pkexec, fusermount3, unix_chkpwd, ...).
pub const ASSUMED_SETUID_PER_EXECUTABLE: f64 = 0.008;
/// Executables with file capabilities (newuidmap, newgidmap, arping, ...), when the data has none.
pub const ASSUMED_CAPS_PER_EXECUTABLE: f64 = 0.003;

/// The measured statistics (the JSON file's schema).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Calibration {
    /// Where each input came from.
    pub origin: Vec<String>,
    pub packages: usize,
    /// Regular files (not counting extra hardlinks), symlinks, owned directories, ghosts.
    pub regular_files: usize,
    pub symlinks: usize,
    pub owned_dirs: usize,
    pub ghost_files: usize,
    pub executables: usize,
    pub setuid_files: usize,
    pub caps_files: usize,
    /// Share of regular files under /etc flagged `%config`.
    pub config_flagged_share: f64,
    /// The largest regular file's share of its package's bytes, by package size (most small
    /// packages are one binary or library plus small files; big ones spread more).
    pub top_file_share: Vec<TopShare>,
    pub classes: BTreeMap<FileClass, ClassStats>,
    pub archetypes: BTreeMap<Archetype, ArchetypeStats>,
}

/// Packages of at least `min_bytes` (up to the next bucket's): their largest file's share of
/// their bytes, sorted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopShare {
    pub min_bytes: u64,
    pub shares: Vec<f64>,
}

/// Package size buckets of [`Calibration::top_file_share`].
pub const TOP_SHARE_BUCKETS: [u64; 3] = [0, 256 << 10, 2 << 20];

/// One file class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassStats {
    /// Every regular file's size, sorted: sizes are drawn from this empirical distribution
    /// (quantiles interpolated on a log scale would inflate the mean many times over, as a
    /// class's few huge files dominate its bytes).
    pub sizes: Vec<u64>,
    /// Symlinks whose path falls in this class, per regular file of the class.
    pub symlinks_per_file: f64,
    /// Links beyond the first of a hardlinked inode, per regular file of the class.
    pub extra_links_per_file: f64,
}

/// One package archetype.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchetypeStats {
    pub packages: usize,
    pub files: usize,
    /// Share of the archetype's regular files in each class (sums to 1).
    pub class_share: BTreeMap<FileClass, f64>,
}

/// The embedded measurement.
pub fn measured() -> &'static Calibration {
    static CALIBRATION: OnceLock<Calibration> = OnceLock::new();
    CALIBRATION.get_or_init(|| {
        serde_json::from_str(include_str!("../../data/synth-calibration.json"))
            .expect("datasets/data/synth-calibration.json parses (checked by a unit test)")
    })
}

/// What the layout uses for a class: the measurement when the data has the class, else the
/// assumption.
pub fn class(c: FileClass) -> ClassStats {
    match measured().classes.get(&c) {
        Some(s) if s.sizes.len() >= 20 => s.clone(),
        _ => assumed_class(c),
    }
}

/// Class mix of an archetype: measured with enough packages, else assumed.
pub fn archetype(a: Archetype) -> BTreeMap<FileClass, f64> {
    match measured().archetypes.get(&a) {
        Some(s) if s.packages >= MIN_ARCHETYPE_PACKAGES && !s.class_share.is_empty() => {
            s.class_share.clone()
        }
        _ => assumed_archetype(a),
    }
}

/// Rates per executable: measured when the data has any, else assumed.
pub fn setuid_per_executable() -> f64 {
    let m = measured();
    match (m.setuid_files, m.executables) {
        (s, e) if s > 0 && e > 0 => s as f64 / e as f64,
        _ => ASSUMED_SETUID_PER_EXECUTABLE,
    }
}

pub fn caps_per_executable() -> f64 {
    let m = measured();
    match (m.caps_files, m.executables) {
        (c, e) if c > 0 && e > 0 => c as f64 / e as f64,
        _ => ASSUMED_CAPS_PER_EXECUTABLE,
    }
}

/// The largest file's share of the bytes of a package of `size` bytes, for a uniform draw
/// `u` in [0, 1); `None` without a measurement.
pub fn top_file_share(size: u64, u: f64) -> Option<f64> {
    let bucket = measured()
        .top_file_share
        .iter()
        .rev()
        .find(|b| b.min_bytes <= size)?;
    pick(&bucket.shares, u)
}

/// The value at draw `u` (uniform in [0, 1)) of an empirical distribution.
pub fn pick<T: Copy>(sorted: &[T], u: f64) -> Option<T> {
    let i = (u.clamp(0.0, 1.0) * sorted.len() as f64) as usize;
    sorted.get(i.min(sorted.len().saturating_sub(1))).copied()
}

/// Share of packages owning a `%ghost` file (besides directories).
pub fn ghost_files_per_package() -> f64 {
    let m = measured();
    if m.packages == 0 {
        return 0.0;
    }
    (m.ghost_files as f64 / m.packages as f64).min(1.0)
}

/// Sizes of classes the container data lacks, as a log-normal (median, σ of ln size) and a
/// cap. Assumptions, from the Fedora 40 kernel and linux-firmware packages' published file
/// lists: `.ko.xz` modules are small (median about 12 KiB), firmware blobs larger and more
/// spread, kernel images a few MiB.
pub fn assumed_class(c: FileClass) -> ClassStats {
    let (median, sigma, cap): (f64, f64, f64) = match c {
        FileClass::Kmod => (12_000.0, 1.1, 4e6),
        FileClass::Firmware => (40_000.0, 1.8, 2e7),
        FileClass::Boot => (2_000_000.0, 1.5, 1.6e7),
        FileClass::Header => (4_000.0, 1.2, 2e5),
        _ => (4_000.0, 1.6, 5e6),
    };
    ClassStats {
        sizes: lognormal_points(median, sigma, cap),
        symlinks_per_file: 0.0,
        extra_links_per_file: 0.0,
    }
}

/// Class mixes of archetypes the data lacks (shares of regular files; assumptions).
pub fn assumed_archetype(a: Archetype) -> BTreeMap<FileClass, f64> {
    use FileClass::*;
    let mix: &[(FileClass, f64)] = match a {
        Archetype::KernelCore => &[(Boot, 0.01), (Kmod, 0.85), (Other, 0.14)],
        Archetype::KernelModules => &[(Kmod, 0.97), (Other, 0.03)],
        Archetype::Firmware => &[(Firmware, 0.96), (License, 0.03), (Doc, 0.01)],
        Archetype::Fonts => &[(Data, 0.9), (License, 0.05), (Doc, 0.05)],
        Archetype::Langpack => &[(Locale, 0.9), (Data, 0.1)],
        Archetype::Devel => &[(Header, 0.8), (Lib, 0.1), (Data, 0.1)],
        Archetype::Doc => &[(Doc, 0.9), (License, 0.1)],
        Archetype::Perl => &[(Python, 0.7), (Man, 0.2), (Lib, 0.05), (Doc, 0.05)],
        Archetype::Data => &[(Data, 0.85), (Doc, 0.05), (License, 0.05), (Config, 0.05)],
        Archetype::Library => &[(Lib, 0.6), (Locale, 0.15), (Data, 0.15), (License, 0.1)],
        Archetype::Python => &[(Python, 0.45), (Pyc, 0.45), (Data, 0.05), (Doc, 0.05)],
        Archetype::KernelMeta => &[(Doc, 1.0)],
        Archetype::App => &[
            (Bin, 0.2),
            (Data, 0.3),
            (Man, 0.15),
            (Locale, 0.15),
            (Doc, 0.1),
            (Config, 0.05),
            (License, 0.05),
        ],
    };
    mix.iter().copied().collect()
}

/// A log-normal distribution as [`ASSUMED_POINTS`] equally likely values (the quantiles at
/// the middle of each of as many equal slices), capped.
fn lognormal_points(median: f64, sigma: f64, cap: f64) -> Vec<u64> {
    (0..ASSUMED_POINTS)
        .map(|i| {
            let p = (i as f64 + 0.5) / ASSUMED_POINTS as f64;
            (median * (sigma * normal_quantile(p)).exp())
                .min(cap)
                .max(1.0) as u64
        })
        .collect()
}

/// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_calibration_parses_and_is_complete() {
        let m = measured();
        assert!(m.packages > 100, "{} packages", m.packages);
        assert!(!m.origin.is_empty());
        assert_eq!(m.top_file_share.len(), TOP_SHARE_BUCKETS.len());
        for b in &m.top_file_share {
            assert!(
                b.shares.len() >= 10,
                "{} packages from {} bytes",
                b.shares.len(),
                b.min_bytes
            );
            assert!(b.shares.windows(2).all(|w| w[0] <= w[1]));
        }
        for size in [1, 1 << 20, 1 << 30] {
            assert!(top_file_share(size, 0.5).is_some_and(|s| s > 0.0 && s <= 1.0));
        }
        for (c, s) in &m.classes {
            assert!(!s.sizes.is_empty(), "{c:?}");
            assert!(s.sizes.windows(2).all(|w| w[0] <= w[1]), "{c:?}");
        }
        for (a, s) in &m.archetypes {
            let sum: f64 = s.class_share.values().sum();
            assert!((sum - 1.0).abs() < 1e-6, "{a:?} shares sum to {sum}");
        }
        for a in Archetype::ALL {
            let sum: f64 = archetype(a).values().sum();
            assert!((sum - 1.0).abs() < 1e-6, "{a:?} shares sum to {sum}");
        }
    }

    #[test]
    fn lognormal_points_have_the_median_in_the_middle() {
        let q = lognormal_points(12_000.0, 1.1, 4e6);
        assert_eq!(q.len(), ASSUMED_POINTS);
        let median = (q[99] + q[100]) as f64 / 2.0;
        assert!((median - 12_000.0).abs() < 100.0, "{median}");
        assert!(q.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pick(&q, 0.0), Some(q[0]));
        assert_eq!(pick(&q, 0.999_999), Some(q[199]));
        assert_eq!(pick::<u64>(&[], 0.5), None);
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
    }
}
