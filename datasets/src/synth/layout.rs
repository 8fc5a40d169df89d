//! The file list of a synthesized package: paths, types, sizes, modes, rpm file flags and the
//! seed of every file's content, as a pure function of the package (name, EVR, size).
//!
//! A package draws files from an endless sequence seeded by its name alone: file `k` gets a
//! class (from the package's [`Archetype`] mix, see [`super::calibration`]), a size (from the
//! class's measured size distribution) and a path in the package's own directories. Files are
//! taken until their sizes add up to the package size; the last one is cut to fit, so the
//! regular-file bytes equal the size exactly. Two versions of a package therefore share their
//! paths and file sizes, and a bigger version only adds files at the end.
//!
//! Content seeds follow how real updates change files ([`Volatility`]): binaries, libraries,
//! byte-compiled Python and kernel modules change with every EVR (a rebuild changes them);
//! docs, man pages, translations, sources, headers, config, data and firmware can change only
//! when the upstream version does (never on a release-only bump), and then each one with its
//! class's probability ([`FileClass::upstream_change`]), decided per (file, upstream version)
//! along the package's upstream versions so far; licenses never change. A file's mtime moves
//! with its content: the build time for build-volatile files, the date its content first
//! appeared otherwise. Around the regular files come symlinks and extra hardlinks at the class's measured
//! rates, the package's own directories, `%config`/`%doc`/`%license` flags, and at low rates
//! setuid executables, file capabilities and `%ghost` files. The `rpm` package also
//! `%ghost`-owns the rpm database, as Fedora's does.
//!
//! Paths are unique to their package: the package name appears in every path (as a file name
//! or as the directory the package owns), so packages never conflict; a name that could still
//! collide (a package named like another package's private directory) is caught by
//! [`super::chain`] before anything is written.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::calibration::{self, ClassStats};
use super::content::Texture;
use crate::rng::{hash, unit_of};
use rechunk_model::Timestamp;

/// What kind of file, by where it lives (the calibration classifies real files with
/// [`FileClass::of_path`]; the layout places generated ones by class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileClass {
    /// Executables in /usr/bin, /usr/sbin, /usr/libexec.
    Bin,
    /// Shared libraries (`*.so*`).
    Lib,
    /// Python (and Perl) source.
    Python,
    /// Byte-compiled Python.
    Pyc,
    /// Message catalogs (`*.mo`).
    Locale,
    /// Man and info pages (gzip-compressed).
    Man,
    /// /usr/share/doc.
    Doc,
    /// /usr/share/licenses.
    License,
    /// /etc.
    Config,
    /// /usr/include.
    Header,
    /// Anything else under /usr/share.
    Data,
    /// Everything else (/usr/lib data, /var, ...).
    Other,
    /// Kernel modules (`*.ko.xz`).
    Kmod,
    /// /usr/lib/firmware.
    Firmware,
    /// Kernel image, System.map, config.
    Boot,
}

/// How a file's content moves between versions of its package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Volatility {
    /// Changes with every EVR.
    Build,
    /// May change when the upstream version (epoch:version) changes.
    Upstream,
    /// Never changes.
    Stable,
}

/// A package's kind, from its name: decides its mix of file classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Archetype {
    App,
    Library,
    Python,
    Perl,
    Data,
    Devel,
    Doc,
    Langpack,
    Fonts,
    Firmware,
    KernelCore,
    KernelModules,
    KernelMeta,
}

/// One entry of a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Absolute path, as rpm lists it.
    pub path: String,
    pub class: FileClass,
    pub entry: EntrySpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntrySpec {
    Regular {
        size: u64,
        seed: u64,
        texture: Texture,
        /// Permission bits (with setuid/setgid).
        mode: u16,
        flags: Flags,
        /// `cap_...` text, set by rpm on install.
        caps: Option<&'static str>,
        /// Files of one package with the same group are hardlinks of one inode (same content).
        link_group: Option<u32>,
        mtime: Timestamp,
    },
    Symlink {
        target: String,
    },
    Dir,
    /// Owned but not shipped.
    Ghost {
        mode: u16,
        flags: Flags,
    },
}

/// rpm file flags the layout uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub config: bool,
    pub noreplace: bool,
    pub missingok: bool,
    pub doc: bool,
    pub license: bool,
}

/// What the layout needs to know about a package.
#[derive(Clone, Copy, Debug)]
pub struct PackageRef<'a> {
    /// Unique among the packages of a tree: the history's component name.
    pub key: &'a str,
    /// rpm package name (the key without a `.arch` multilib suffix).
    pub name: &'a str,
    /// `[epoch:]version-release`: Build-volatile content follows it.
    pub evr: &'a str,
    /// The package's upstream versions (`[epoch:]version`) so far, each with the date it first
    /// appeared, oldest first, ending with the package's own: Upstream-volatile content
    /// follows them.
    pub upstreams: &'a [(String, Timestamp)],
    /// `version-release.arch` of the package: the kernel release its modules live under.
    pub kernel_release: &'a str,
    /// Regular-file bytes.
    pub size: u64,
    /// The mtime of build-volatile files (and of symlinks and directories).
    pub build_time: Timestamp,
    /// The mtime of stable files: when the package first appeared.
    pub first_seen: Timestamp,
}

/// Packages whose first executable is setuid root in Fedora (su, mount, passwd, sudo, ...).
const SETUID_PACKAGES: [&str; 8] = [
    "util-linux",
    "util-linux-core",
    "shadow-utils",
    "passwd",
    "sudo",
    "polkit",
    "fuse3",
    "pam",
];
/// Packages shipping an executable with file capabilities (newuidmap, arping, ...).
const CAPS_PACKAGES: [&str; 3] = ["shadow-utils-subid", "iputils", "libcap"];
/// What a capability file gets.
const CAPS: &str = "cap_net_raw=ep";

/// The rpm database files Fedora's `rpm` package owns as `%ghost` (the same list as
/// rpm-4.16.1.3-12.amzn2023.0.6 in the Amazon Linux 2023 rpmdb of the go-rpmdb data, moved to
/// /usr/lib/sysimage/rpm as Fedora ≥ 36 has it).
pub const RPMDB_DIR: &str = "/usr/lib/sysimage/rpm";
const RPMDB_GHOSTS: [&str; 3] = ["rpmdb.sqlite", "rpmdb.sqlite-shm", "rpmdb.sqlite-wal"];
const RPMDB_LOCK: &str = ".rpm.lock";

/// Words for file names (a number is appended, so names never repeat within a directory).
const WORDS: [&str; 48] = [
    "util", "core", "config", "parser", "client", "server", "common", "types", "main", "helper",
    "plugin", "module", "handler", "format", "table", "cache", "index", "engine", "stream",
    "socket", "event", "queue", "buffer", "string", "tree", "graph", "node", "path", "mount",
    "device", "driver", "power", "input", "output", "audio", "video", "image", "font", "color",
    "theme", "icon", "window", "render", "codec", "filter", "crypto", "auth", "net",
];
const LANGS: [&str; 24] = [
    "de", "fr", "es", "it", "ja", "zh_CN", "pt_BR", "ru", "pl", "nl", "sv", "cs", "ko", "uk", "tr",
    "hu", "fi", "da", "nb", "ca", "el", "ro", "sk", "zh_TW",
];
const DOC_NAMES: [&str; 6] = ["README", "NEWS", "AUTHORS", "ChangeLog", "THANKS", "TODO"];
const LICENSE_NAMES: [&str; 3] = ["LICENSE", "COPYING", "NOTICE"];
const BOOT_NAMES: [&str; 4] = ["vmlinuz", "System.map", "config", "symvers.xz"];
const DATA_EXTS: [&str; 6] = ["xml", "json", "png", "svg", "dat", "txt"];
const MODULE_AREAS: [&str; 6] = [
    "drivers/net",
    "drivers/gpu",
    "drivers/scsi",
    "fs",
    "net",
    "sound",
];
/// The biggest file a package gets (content is generated in memory): more bytes make more files.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Files per subdirectory in classes that spread over subdirectories.
const FILES_PER_DIR: usize = 6;

impl FileClass {
    pub const ALL: [FileClass; 15] = [
        FileClass::Bin,
        FileClass::Lib,
        FileClass::Python,
        FileClass::Pyc,
        FileClass::Locale,
        FileClass::Man,
        FileClass::Doc,
        FileClass::License,
        FileClass::Config,
        FileClass::Header,
        FileClass::Data,
        FileClass::Other,
        FileClass::Kmod,
        FileClass::Firmware,
        FileClass::Boot,
    ];

    /// The class of a real package file, by its path (symlinks are classified the same way).
    pub fn of_path(path: &str) -> FileClass {
        let under = |p: &str| path.starts_with(p);
        let has_so = path.ends_with(".so") || path.contains(".so.");
        if under("/usr/lib/modules/") || under("/lib/modules/") {
            return match path {
                _ if path.contains(".ko") => FileClass::Kmod,
                _ if BOOT_NAMES.iter().any(|b| path.ends_with(b)) => FileClass::Boot,
                _ => FileClass::Other,
            };
        }
        if under("/usr/lib/firmware/") || under("/lib/firmware/") {
            return FileClass::Firmware;
        }
        if under("/usr/share/licenses/") {
            return FileClass::License;
        }
        if under("/usr/share/doc/") {
            return FileClass::Doc;
        }
        if under("/usr/share/man/") || under("/usr/share/info/") {
            return FileClass::Man;
        }
        if path.ends_with(".mo") {
            return FileClass::Locale;
        }
        if under("/etc/") {
            return FileClass::Config;
        }
        if under("/usr/include/") {
            return FileClass::Header;
        }
        if path.ends_with(".pyc") {
            return FileClass::Pyc;
        }
        if path.ends_with(".py") || path.ends_with(".pm") || path.ends_with(".pl") {
            return FileClass::Python;
        }
        if has_so {
            return FileClass::Lib;
        }
        if under("/usr/bin/") || under("/usr/sbin/") || under("/usr/libexec/") {
            return FileClass::Bin;
        }
        if under("/usr/share/") {
            return FileClass::Data;
        }
        FileClass::Other
    }

    /// How well the class compresses (gzip -6 ratio). Assumptions per kind of content, with
    /// the binary, library, translation and firmware ratios tuned so that a synthesized FCOS
    /// tree compresses like the real FCOS image the simulator's ratio comes from (0.516; the
    /// README has the measurement). Firmware is the FCOS 37-era uncompressed kind, as the
    /// history's sizes are FCOS 37's.
    pub fn texture(self) -> Texture {
        let ratio = match self {
            FileClass::Bin => 0.40,
            FileClass::Lib => 0.38,
            FileClass::Python | FileClass::Header => 0.28,
            FileClass::Pyc => 0.45,
            FileClass::Locale => 0.40,
            FileClass::Doc | FileClass::License | FileClass::Config => 0.35,
            FileClass::Data => 0.50,
            FileClass::Other => 0.45,
            FileClass::Firmware => 0.65,
            // Already compressed: man pages (.gz), modules (.ko.xz), the kernel image.
            FileClass::Man | FileClass::Kmod | FileClass::Boot => 1.0,
        };
        Texture::for_gzip_ratio(ratio)
    }

    /// How the content moves between versions.
    pub fn volatility(self) -> Volatility {
        match self {
            FileClass::Bin
            | FileClass::Lib
            | FileClass::Pyc
            | FileClass::Kmod
            | FileClass::Boot
            | FileClass::Other => Volatility::Build,
            FileClass::License => Volatility::Stable,
            _ => Volatility::Upstream,
        }
    }

    /// For upstream-volatile classes, the probability that a file changes in an upstream
    /// update (assumptions: translations are regenerated nearly whole, sources and docs
    /// change in part, data and firmware less, config rarely).
    pub fn upstream_change(self) -> f64 {
        match self {
            FileClass::Locale => 0.8,
            FileClass::Doc => 0.5,
            FileClass::Python | FileClass::Header => 0.4,
            FileClass::Man => 0.3,
            FileClass::Data | FileClass::Firmware => 0.3,
            FileClass::Config => 0.2,
            _ => 1.0,
        }
    }

    fn is_executable(self) -> bool {
        matches!(self, FileClass::Bin)
    }
}

impl Archetype {
    pub const ALL: [Archetype; 13] = [
        Archetype::App,
        Archetype::Library,
        Archetype::Python,
        Archetype::Perl,
        Archetype::Data,
        Archetype::Devel,
        Archetype::Doc,
        Archetype::Langpack,
        Archetype::Fonts,
        Archetype::Firmware,
        Archetype::KernelCore,
        Archetype::KernelModules,
        Archetype::KernelMeta,
    ];

    /// The archetype of a package by its rpm name (first matching rule).
    pub fn of_name(name: &str) -> Archetype {
        let n = name;
        match () {
            _ if n == "kernel" => Archetype::KernelMeta,
            _ if n == "kernel-core" => Archetype::KernelCore,
            _ if n.starts_with("kernel-") => Archetype::KernelModules,
            _ if n.contains("firmware") => Archetype::Firmware,
            _ if n.contains("langpack") || n.ends_with("-locale") || n.ends_with("-l10n") => {
                Archetype::Langpack
            }
            _ if n.contains("fonts") => Archetype::Fonts,
            _ if n.ends_with("-devel") => Archetype::Devel,
            _ if n.ends_with("-doc") || n.ends_with("-docs") => Archetype::Doc,
            _ if n.starts_with("python") => Archetype::Python,
            _ if n.starts_with("perl") => Archetype::Perl,
            _ if n.ends_with("-libs") || n.starts_with("lib") => Archetype::Library,
            _ if n.ends_with("-data")
                || n.ends_with("-common")
                || n.ends_with("data")
                || n.contains("-base") =>
            {
                Archetype::Data
            }
            _ => Archetype::App,
        }
    }

    /// Whether the package's first file takes the measured share of its bytes (the main
    /// binary or library); not for archetypes made of many similar files, whose largest file
    /// is small (firmware, modules, translations, fonts).
    fn first_file_takes_share(self) -> bool {
        matches!(
            self,
            Archetype::App
                | Archetype::Library
                | Archetype::Python
                | Archetype::Perl
                | Archetype::Data
                | Archetype::Devel
                | Archetype::Doc
        )
    }

    /// The class of a package's first file (its defining one).
    fn first_class(self) -> Option<FileClass> {
        Some(match self {
            Archetype::App => FileClass::Bin,
            Archetype::Library => FileClass::Lib,
            Archetype::Python | Archetype::Perl => FileClass::Python,
            Archetype::Data | Archetype::Fonts => FileClass::Data,
            Archetype::Devel => FileClass::Header,
            Archetype::Doc | Archetype::KernelMeta => FileClass::Doc,
            Archetype::Langpack => FileClass::Locale,
            Archetype::Firmware => FileClass::Firmware,
            Archetype::KernelCore => FileClass::Boot,
            Archetype::KernelModules => FileClass::Kmod,
        })
    }
}

/// The whole file list of a package, sorted by path.
pub fn package_files(p: &PackageRef) -> Vec<FileSpec> {
    let mut b = Builder::new(p);
    b.regular_files();
    b.ghosts();
    b.finish()
}

/// Non-directory entries of a package that land on disk (regular files, hardlinks,
/// symlinks; not directories or ghosts).
pub fn count(files: &[FileSpec]) -> u64 {
    files
        .iter()
        .filter(|f| !matches!(f.entry, EntrySpec::Dir | EntrySpec::Ghost { .. }))
        .count() as u64
}

/// Per-class state while laying out one package.
struct Builder<'a> {
    p: &'a PackageRef<'a>,
    archetype: Archetype,
    mix: Vec<(FileClass, f64)>,
    stats: BTreeMap<FileClass, ClassStats>,
    /// Files placed so far per class.
    index: BTreeMap<FileClass, usize>,
    files: Vec<FileSpec>,
    /// Directories the package owns.
    dirs: BTreeSet<String>,
    next_link_group: u32,
    setuid_rate: f64,
    caps_rate: f64,
}

impl<'a> Builder<'a> {
    fn new(p: &'a PackageRef<'a>) -> Builder<'a> {
        let archetype = Archetype::of_name(p.name);
        let mix = calibration::archetype(archetype).into_iter().collect();
        Builder {
            p,
            archetype,
            mix,
            stats: BTreeMap::new(),
            index: BTreeMap::new(),
            files: Vec::new(),
            dirs: BTreeSet::new(),
            next_link_group: 0,
            setuid_rate: calibration::setuid_per_executable(),
            caps_rate: calibration::caps_per_executable(),
        }
    }

    fn draw(&self, what: &str, k: usize) -> f64 {
        unit_of(hash(&[
            self.p.key.as_bytes(),
            what.as_bytes(),
            &(k as u64).to_le_bytes(),
        ]))
    }

    fn stats(&mut self, class: FileClass) -> &ClassStats {
        self.stats
            .entry(class)
            .or_insert_with(|| calibration::class(class))
    }

    /// Regular files until the package size is reached, with their symlinks and hardlinks.
    fn regular_files(&mut self) {
        let mut left = self.p.size;
        let mut k = 0;
        while left > 0 {
            let class = match (k, self.archetype.first_class()) {
                (0, Some(first)) => first,
                _ => self.pick_class(k),
            };
            let share = match k {
                0 if self.archetype.first_file_takes_share() => {
                    calibration::top_file_share(self.p.size, self.draw("top-share", 0))
                }
                _ => None,
            };
            let size = match share {
                Some(share) => (self.p.size as f64 * share).round() as u64,
                None => self.draw_size(class, k),
            };
            let size = size.min(left).clamp(1, MAX_FILE_BYTES);
            left -= size;
            self.add_regular(class, size);
            k += 1;
        }
    }

    fn pick_class(&self, k: usize) -> FileClass {
        let u = self.draw("class", k);
        let mut acc = 0.0;
        for (class, share) in &self.mix {
            acc += share;
            if u < acc {
                return *class;
            }
        }
        self.mix.last().map_or(FileClass::Data, |(c, _)| *c)
    }

    /// A size from the class's size distribution.
    fn draw_size(&mut self, class: FileClass, k: usize) -> u64 {
        let u = self.draw("size", k);
        calibration::pick(&self.stats(class).sizes, u).unwrap_or(4096)
    }

    fn add_regular(&mut self, class: FileClass, size: u64) {
        let i = *self.index.entry(class).and_modify(|i| *i += 1).or_insert(0);
        let (path, owned_root) = self.path(class, i);
        self.own_parents(&path, owned_root.as_deref());
        let (token, mtime): (&str, Timestamp) = match class.volatility() {
            Volatility::Build => (self.p.evr, self.p.build_time),
            Volatility::Upstream => self.last_upstream_change(class, &path),
            Volatility::Stable => ("", self.p.first_seen),
        };
        let seed = hash(&[self.p.key.as_bytes(), path.as_bytes(), token.as_bytes()]);
        let mut mode: u16 = if class.is_executable() || class == FileClass::Lib {
            0o755
        } else {
            0o644
        };
        let mut caps = None;
        if class.is_executable() {
            let first = self.index.get(&class) == Some(&0);
            let named = |list: &[&str]| first && list.contains(&self.p.name);
            if named(&SETUID_PACKAGES) || self.draw_path("setuid", &path) < self.setuid_rate {
                mode = 0o4755;
            } else if named(&CAPS_PACKAGES) || self.draw_path("caps", &path) < self.caps_rate {
                caps = Some(CAPS);
            }
        }
        let flags = Flags {
            config: class == FileClass::Config,
            noreplace: class == FileClass::Config,
            doc: matches!(class, FileClass::Doc | FileClass::Man),
            license: class == FileClass::License,
            missingok: false,
        };
        let stats = self.stats(class).clone();
        let link_group =
            (self.draw_path("hardlink", &path) < stats.extra_links_per_file).then(|| {
                self.next_link_group += 1;
                self.next_link_group
            });
        let regular = EntrySpec::Regular {
            size,
            seed,
            texture: class.texture(),
            mode,
            flags,
            caps,
            link_group,
            mtime,
        };
        if link_group.is_some() {
            self.files.push(FileSpec {
                path: link_name(class, &path),
                class,
                entry: regular.clone(),
            });
        }
        // Symlinks: the class's rate, more than one when it exceeds 1.
        let rate = stats.symlinks_per_file;
        let links =
            rate.floor() as usize + usize::from(self.draw_path("symlink", &path) < rate.fract());
        for n in 0..links {
            let (link, target) = symlink_for(class, &path, n);
            self.own_parents(&link, owned_root.as_deref());
            self.files.push(FileSpec {
                path: link,
                class,
                entry: EntrySpec::Symlink { target },
            });
        }
        self.files.push(FileSpec {
            path,
            class,
            entry: regular,
        });
    }

    /// The upstream version whose content a file has: the last one at which it changed (the
    /// first upstream version counts as a change), with that version's date.
    fn last_upstream_change(&self, class: FileClass, path: &str) -> (&'a str, Timestamp) {
        let p = class.upstream_change();
        let mut last: (&'a str, Timestamp) = ("", self.p.first_seen);
        for (i, (upstream, since)) in self.p.upstreams.iter().enumerate() {
            let draw = unit_of(hash(&[
                self.p.key.as_bytes(),
                path.as_bytes(),
                upstream.as_bytes(),
            ]));
            if i == 0 || draw < p {
                last = (upstream.as_str(), *since);
            }
        }
        last
    }

    fn draw_path(&self, what: &str, path: &str) -> f64 {
        unit_of(hash(&[
            self.p.key.as_bytes(),
            what.as_bytes(),
            path.as_bytes(),
        ]))
    }

    /// Path of the `i`-th file of `class`, and the directory the package owns it under (None
    /// when it sits in a shared directory).
    fn path(&self, class: FileClass, i: usize) -> (String, Option<String>) {
        let key = self.p.key;
        let word = WORDS[(hash(&[key.as_bytes(), &(i as u64).to_le_bytes()]) % 48) as usize];
        let w = format!("{word}{i}");
        let sub = |root: &str| match i / FILES_PER_DIR {
            0 => root.to_string(),
            // "set" is no file-name word: a subdirectory never takes a file's name.
            d => format!("{root}/set{d}"),
        };
        let own = |root: String, file: String| (format!("{}/{file}", sub(&root)), Some(root));
        let kver = self.p.kernel_release;
        match class {
            FileClass::Bin if i == 0 => (format!("/usr/bin/{key}"), None),
            FileClass::Bin => own(format!("/usr/libexec/{key}"), w),
            FileClass::Lib if i == 0 => (format!("/usr/lib64/lib{key}.so.1.0.0"), None),
            FileClass::Lib => own(format!("/usr/lib64/{key}"), format!("lib{w}.so")),
            FileClass::Python => own(
                format!("/usr/lib/python3.12/site-packages/{key}"),
                format!("{w}.py"),
            ),
            FileClass::Pyc => own(
                format!("/usr/lib/python3.12/site-packages/{key}"),
                format!("__pycache__/{w}.cpython-312.pyc"),
            ),
            FileClass::Locale if i < LANGS.len() => (
                format!("/usr/share/locale/{}/LC_MESSAGES/{key}.mo", LANGS[i]),
                None,
            ),
            FileClass::Locale => own(
                format!("/usr/share/{key}/locale"),
                format!("{}/{w}.mo", LANGS[i % LANGS.len()]),
            ),
            FileClass::Man => {
                let section = [1, 8, 5, 3][i % 4];
                let page = match i {
                    0 => key.to_string(),
                    _ => format!("{key}::{w}"),
                };
                (
                    format!("/usr/share/man/man{section}/{page}.{section}.gz"),
                    None,
                )
            }
            FileClass::Doc => {
                let name = DOC_NAMES
                    .get(i)
                    .map_or(format!("{w}.txt"), |n| n.to_string());
                own(format!("/usr/share/doc/{key}"), name)
            }
            FileClass::License => {
                let name = LICENSE_NAMES.get(i).map_or(w, |n| n.to_string());
                own(format!("/usr/share/licenses/{key}"), name)
            }
            FileClass::Config => own(format!("/etc/{key}"), format!("{w}.conf")),
            FileClass::Header => own(format!("/usr/include/{key}"), format!("{w}.h")),
            FileClass::Data => own(
                format!("/usr/share/{key}"),
                format!("{w}.{}", DATA_EXTS[i % DATA_EXTS.len()]),
            ),
            FileClass::Other => own(format!("/usr/lib/{key}"), w),
            FileClass::Kmod => {
                let area = MODULE_AREAS[i % MODULE_AREAS.len()];
                own(
                    format!("/usr/lib/modules/{kver}/kernel/{area}/{key}"),
                    format!("{w}.ko.xz"),
                )
            }
            FileClass::Firmware => own(format!("/usr/lib/firmware/{key}"), format!("{w}.xz")),
            FileClass::Boot => match BOOT_NAMES.get(i) {
                Some(name) => (format!("/usr/lib/modules/{kver}/{name}"), None),
                None => own(format!("/usr/lib/modules/{kver}/{key}"), w),
            },
        }
    }

    /// Records every directory from `owned_root` down to `path`'s parent as owned.
    fn own_parents(&mut self, path: &str, owned_root: Option<&str>) {
        let Some(root) = owned_root else { return };
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if parent.len() < root.len() {
                break;
            }
            self.dirs.insert(parent.to_string());
            dir = parent;
        }
    }

    /// `%ghost` files: the `rpm` package's database files; for other packages, at the
    /// measured rate, a state file under a directory of their own.
    fn ghosts(&mut self) {
        let ghost = |mode: u16, flags: Flags| EntrySpec::Ghost { mode, flags };
        if self.p.name == "rpm" {
            self.dirs.insert(RPMDB_DIR.to_string());
            let db = Flags {
                config: true,
                noreplace: true,
                missingok: true,
                ..Flags::default()
            };
            for f in RPMDB_GHOSTS {
                self.files.push(FileSpec {
                    path: format!("{RPMDB_DIR}/{f}"),
                    class: FileClass::Other,
                    entry: ghost(0o644, db),
                });
            }
            self.files.push(FileSpec {
                path: format!("{RPMDB_DIR}/{RPMDB_LOCK}"),
                class: FileClass::Other,
                entry: ghost(0o644, Flags::default()),
            });
        } else if self.p.size > 0 && self.draw("ghost", 0) < calibration::ghost_files_per_package()
        {
            let dir = format!("/var/lib/{}", self.p.key);
            self.files.push(FileSpec {
                path: format!("{dir}/state"),
                class: FileClass::Other,
                entry: ghost(0o600, Flags::default()),
            });
            self.dirs.insert(dir);
        }
    }

    fn finish(mut self) -> Vec<FileSpec> {
        for d in std::mem::take(&mut self.dirs) {
            self.files.push(FileSpec {
                path: d,
                class: FileClass::Other,
                entry: EntrySpec::Dir,
            });
        }
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.files
    }
}

/// The name of a hardlink to `path` (`.opt-1.pyc` for byte-compiled Python, as Fedora links
/// identical optimisation levels).
fn link_name(class: FileClass, path: &str) -> String {
    match (class, path.strip_suffix(".pyc")) {
        (FileClass::Pyc, Some(stem)) => format!("{stem}.opt-1.pyc"),
        _ => format!("{path}-hardlink"),
    }
}

/// The `n`-th symlink to `path` and its target (relative, in the same directory; for the
/// first library, the soname link `libX.so.1 -> libX.so.1.0.0`).
fn symlink_for(class: FileClass, path: &str, n: usize) -> (String, String) {
    let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
    match (class, base.strip_suffix(".so.1.0.0"), n) {
        (FileClass::Lib, Some(stem), 0) => (format!("{dir}/{stem}.so.1"), base.to_string()),
        (FileClass::Lib, Some(stem), 1) => (format!("{dir}/{stem}.so"), base.to_string()),
        _ => (format!("{path}-link{n}"), base.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg<'a>(
        key: &'a str,
        evr: &'a str,
        upstreams: &'a [(String, Timestamp)],
        size: u64,
    ) -> PackageRef<'a> {
        PackageRef {
            key,
            name: key,
            evr,
            upstreams,
            kernel_release: "6.1.0-1.x86_64",
            size,
            build_time: 3,
            first_seen: 1,
        }
    }

    fn ups(versions: &[&str]) -> Vec<(String, Timestamp)> {
        versions
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), i as Timestamp + 1))
            .collect()
    }

    fn regular_bytes(files: &[FileSpec]) -> u64 {
        let mut groups = BTreeSet::new();
        files
            .iter()
            .filter_map(|f| match f.entry {
                EntrySpec::Regular {
                    size, link_group, ..
                } => link_group.is_none_or(|g| groups.insert(g)).then_some(size),
                _ => None,
            })
            .sum()
    }

    #[test]
    fn sizes_add_up_and_paths_are_unique_and_owned() {
        for (name, size) in [
            ("bash", 8_820_142),
            ("glibc-langpack-de", 2_000_000),
            ("python3-libs", 40_000_000),
            ("linux-firmware", 30_000_000),
            ("kernel-modules", 20_000_000),
            ("tiny", 1),
            ("empty", 0),
        ] {
            let files = package_files(&pkg(name, "1.0-1", &ups(&["1.0"]), size));
            assert_eq!(regular_bytes(&files), size, "{name}");
            let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(paths.len(), files.len(), "{name}: duplicate paths");
            for f in &files {
                assert!(
                    f.path.contains(name) || f.path.contains("6.1.0"),
                    "{}",
                    f.path
                );
                if let EntrySpec::Symlink { target } = &f.entry {
                    let dir = f.path.rsplit_once('/').unwrap().0;
                    assert!(
                        paths.contains(format!("{dir}/{target}").as_str()),
                        "{}",
                        f.path
                    );
                }
            }
        }
    }

    #[test]
    fn many_packages_lay_out_unique_paths_and_exact_sizes() {
        let names = [
            "app",
            "libfoo",
            "python3-x",
            "perl-Y",
            "foo-data",
            "foo-devel",
            "foo-doc",
            "glibc-langpack-de",
            "dejavu-fonts",
            "amd-gpu-firmware",
            "kernel-core",
            "kernel-modules",
            "kernel",
        ];
        let mut all: BTreeSet<String> = BTreeSet::new();
        for (n, base) in names.iter().enumerate() {
            for i in 0..25u64 {
                let key = format!("{base}{i}");
                let size = (hash(&[key.as_bytes()]) % 50_000_000) >> (i % 12);
                let files = package_files(&pkg(&key, "1-1", &ups(&["1"]), size));
                assert_eq!(regular_bytes(&files), size, "{key}");
                // No path twice, within a package (a file and a directory of one name) or
                // across packages.
                for f in &files {
                    assert!(all.insert(f.path.clone()), "{key} (#{n}): {} twice", f.path);
                }
            }
        }
    }

    #[test]
    fn updates_keep_paths_and_stable_content() {
        let seeds = |evr, upstreams: &[&str]| -> BTreeMap<String, (u64, Timestamp)> {
            package_files(&pkg("foo", evr, &ups(upstreams), 30_000_000))
                .into_iter()
                .filter_map(|f| match f.entry {
                    EntrySpec::Regular { seed, mtime, .. } => Some((f.path, (seed, mtime))),
                    _ => None,
                })
                .collect()
        };
        let (v1, rebuild, upstream) = (
            seeds("1.0-1", &["1.0"]),
            seeds("1.0-2", &["1.0"]),
            seeds("2.0-1", &["1.0", "2.0"]),
        );
        assert_eq!(v1, seeds("1.0-1", &["1.0"]), "deterministic");
        let paths = |m: &BTreeMap<String, (u64, Timestamp)>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(paths(&v1), paths(&rebuild));
        assert_eq!(paths(&v1), paths(&upstream));
        let same = |a: &BTreeMap<String, (u64, Timestamp)>,
                    b: &BTreeMap<String, (u64, Timestamp)>| {
            a.iter().filter(|(p, s)| b.get(*p) == Some(s)).count()
        };
        let n = v1.len();
        // A rebuild keeps docs, translations, data; an upstream update keeps licenses and part
        // of the data; both change every binary.
        assert!(same(&v1, &rebuild) > same(&v1, &upstream), "{n} files");
        assert!(same(&v1, &upstream) > 0);
        assert!(same(&v1, &rebuild) < n);
        assert!(!v1.contains_key("/usr/bin/foo") || v1["/usr/bin/foo"] != rebuild["/usr/bin/foo"]);
    }

    #[test]
    fn rpm_package_ghost_owns_the_database() {
        let files = package_files(&pkg("rpm", "4.19.1.1-8.fc41", &ups(&["4.19.1.1"]), 100_000));
        let ghost = files
            .iter()
            .find(|f| f.path == "/usr/lib/sysimage/rpm/rpmdb.sqlite")
            .expect("rpmdb.sqlite listed");
        assert!(matches!(ghost.entry, EntrySpec::Ghost { mode: 0o644, .. }));
        assert!(files
            .iter()
            .any(|f| f.path == RPMDB_DIR && f.entry == EntrySpec::Dir));
    }

    #[test]
    fn classes_of_real_paths() {
        for (path, class) in [
            ("/usr/bin/bash", FileClass::Bin),
            ("/usr/lib64/libc.so.6", FileClass::Lib),
            ("/usr/lib64/python3.12/os.py", FileClass::Python),
            (
                "/usr/lib64/python3.12/__pycache__/os.cpython-312.pyc",
                FileClass::Pyc,
            ),
            (
                "/usr/share/locale/de/LC_MESSAGES/bash.mo",
                FileClass::Locale,
            ),
            ("/usr/share/man/man1/bash.1.gz", FileClass::Man),
            ("/usr/share/doc/bash/README", FileClass::Doc),
            ("/usr/share/licenses/bash/COPYING", FileClass::License),
            ("/etc/skel/.bashrc", FileClass::Config),
            ("/usr/include/stdio.h", FileClass::Header),
            ("/usr/share/zoneinfo/UTC", FileClass::Data),
            ("/usr/lib/modules/6.1/kernel/fs/ext4.ko.xz", FileClass::Kmod),
            ("/usr/lib/modules/6.1/vmlinuz", FileClass::Boot),
            ("/usr/lib/firmware/iwlwifi.ucode.xz", FileClass::Firmware),
            ("/usr/lib/systemd/system/x.service", FileClass::Other),
        ] {
            assert_eq!(FileClass::of_path(path), class, "{path}");
        }
        assert_eq!(Archetype::of_name("kernel-core"), Archetype::KernelCore);
        assert_eq!(Archetype::of_name("glibc-langpack-en"), Archetype::Langpack);
        assert_eq!(Archetype::of_name("NetworkManager-libnm"), Archetype::App);
        assert_eq!(Archetype::of_name("openssl-libs"), Archetype::Library);
    }
}
