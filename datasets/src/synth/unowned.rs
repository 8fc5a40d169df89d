//! Content no package owns: the tree's skeleton (merged-/usr symlinks, account files) and the
//! history's non-package components, written after rpm has installed the packages.
//!
//! By component kind:
//! - `initramfs`: `usr/lib/modules/KVER/initramfs.img` (mode 0600, compressed content) for the
//!   tree's kernel release (`0.0.0-0.synth.x86_64` without a kernel package);
//! - `other` and `generated` (rpm-ostree's "everything unowned", the completed
//!   `generated-content`): the
//!   files a compose regenerates: SELinux policy and module store, udev hwdb, CA bundles, MIME
//!   database, `ld.so.cache`, fontconfig, gdk-pixbuf and GSettings caches, the info `dir` index,
//!   `/etc` defaults and `/var/lib` state, in the shares of [`GENERATED`]; a second such
//!   component goes under `var/lib/NAME`;
//! - `unpackaged` (`unpackaged:/DIR`): files under DIR; `big-file` (`file:/PATH`): one file at
//!   PATH; `xattr`: files under `usr/share/NAME` tagged `user.component=NAME`; names that are
//!   not paths go under `var/lib/NAME` / `opt/NAME.bin`;
//! - `rpmdb`: nothing: the real rpm database stands for it.
//!
//! The first `other` component counts the rpm database in, as rpm-ostree's unpackaged content
//! does: it gets the database's size less. [`layout`] says what goes where before anything is
//! written ([`super::realise`] names the components the scan will see from it), and
//! [`write_layout`] writes it. Content and mtimes are functions of (component, version): the
//! date the component first had that version is its files' mtime, so an unchanged component is
//! byte-for-byte and mtime-for-mtime the same in every tree. Nothing is written over an
//! existing path: a package owning one is an error naming it.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component as PathPart, Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use rechunk_model::{Component, ComponentKind, Timestamp};

use super::content::{self, Texture};
use crate::rng::hash;

/// Kernel release for the initramfs when the tree has no kernel package.
pub const FALLBACK_KERNEL: &str = "0.0.0-0.synth.x86_64";

/// Files of generated content: path (relative to the root; `{i}` numbers a spread), share of
/// the component's bytes (the last entry takes the rest), number of files the share is spread
/// over, gzip ratio, mode. What a Fedora compose regenerates (assumed shares: the SELinux
/// module store and policies, the udev hwdb and the rest of `/var/lib` state dominate).
const GENERATED: [(&str, f64, usize, f64, u32); 13] = [
    // The module store is bzip2-compressed CIL.
    (
        "var/lib/selinux/targeted/active/modules/100/module{i}/cil",
        0.35,
        300,
        1.0,
        0o644,
    ),
    (
        "etc/selinux/targeted/policy/policy.33",
        0.08,
        1,
        0.40,
        0o644,
    ),
    (
        "var/lib/selinux/targeted/active/policy.kern",
        0.08,
        1,
        0.40,
        0o644,
    ),
    ("usr/lib/udev/hwdb.bin", 0.15, 1, 0.35, 0o644),
    (
        "etc/pki/ca-trust/extracted/pem/bundle{i}.pem",
        0.03,
        4,
        0.55,
        0o644,
    ),
    ("usr/share/mime/generated{i}", 0.04, 20, 0.35, 0o644),
    ("etc/ld.so.cache", 0.01, 1, 0.35, 0o644),
    (
        "usr/lib/fontconfig/cache/{i}-le64.cache-9",
        0.02,
        4,
        0.45,
        0o644,
    ),
    (
        "usr/lib64/gdk-pixbuf-2.0/2.10.0/loaders.cache",
        0.001,
        1,
        0.30,
        0o644,
    ),
    ("usr/share/info/dir", 0.001, 1, 0.30, 0o644),
    (
        "usr/share/glib-2.0/schemas/gschemas.compiled",
        0.01,
        1,
        0.35,
        0o644,
    ),
    ("etc/sysconfig/generated{i}", 0.02, 30, 0.35, 0o644),
    ("var/lib/misc/state{i}", 0.208, 60, 0.50, 0o644),
];

/// A non-package component of a version and the date it first had this version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnownedSpec {
    pub component: Component,
    pub since: Timestamp,
}

/// Directories every tree starts with (merged /usr, an empty /boot).
pub const SKELETON_DIRS: [&str; 8] = [
    "usr/bin",
    "usr/sbin",
    "usr/lib",
    "usr/lib64",
    "usr/share",
    "etc",
    "var",
    "boot",
];
/// The merged-/usr symlinks: (link, target).
pub const SKELETON_LINKS: [(&str, &str); 4] = [
    ("bin", "usr/bin"),
    ("sbin", "usr/sbin"),
    ("lib", "usr/lib"),
    ("lib64", "usr/lib64"),
];
/// Root's account files (rpm maps file owners through them), mode 0644, mtime 0.
pub const SKELETON_FILES: [(&str, &[u8]); 2] = [
    ("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n"),
    ("etc/group", b"root:x:0:\n"),
];

/// One unowned file of a version: where, how big, what it is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct UnownedFile {
    /// Relative to the root.
    pub rel: String,
    pub size: u64,
    pub texture: Texture,
    pub mode: u32,
    pub mtime: Timestamp,
    /// The content is a function of this seed, the texture and the size.
    pub seed: u64,
}

/// The unowned content of a version, before anything is written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnownedLayout {
    pub files: Vec<UnownedFile>,
    /// Directories tagged `user.component=NAME`: (relative path, NAME).
    pub tagged: Vec<(String, String)>,
}

/// The skeleton every tree starts from: merged-/usr symlinks, an empty /boot, root's account
/// files (rpm maps file owners through them).
pub fn skeleton(root: &Path) -> Result<()> {
    for d in SKELETON_DIRS {
        let p = root.join(d);
        fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    }
    for (link, target) in SKELETON_LINKS {
        let p = root.join(link);
        symlink(target, &p).with_context(|| format!("creating the symlink {}", p.display()))?;
        set_mtime(&p, 0)?;
    }
    for (rel, data) in SKELETON_FILES {
        write(root, rel, data, 0o644, 0)?;
    }
    Ok(())
}

/// Where the non-package components of a version go. The first `other` component (rpm-ostree's
/// "everything unowned", which counts the rpm database in) gives `rpmdb_bytes` of its size to
/// the real database rpm wrote, so that the tree holds what the history says.
pub fn layout(unowned: &[UnownedSpec], kernel: Option<&str>, rpmdb_bytes: u64) -> UnownedLayout {
    let mut out = UnownedLayout::default();
    let mut others = 0;
    for u in unowned {
        let c = &u.component;
        let mut file = |rel: &str, size: u64, texture: Texture, mode: u32| {
            out.files.push(UnownedFile {
                rel: rel.to_owned(),
                size,
                texture,
                mode,
                mtime: u.since,
                seed: hash(&[c.name.as_bytes(), c.version.as_bytes(), rel.as_bytes()]),
            })
        };
        match c.kind {
            ComponentKind::Initramfs => {
                let kver = kernel.unwrap_or(FALLBACK_KERNEL);
                file(
                    &format!("usr/lib/modules/{kver}/initramfs.img"),
                    c.size,
                    Texture::COMPRESSED,
                    0o600,
                );
            }
            ComponentKind::Other | ComponentKind::Generated => {
                let (prefix, size) = match others {
                    0 => (String::new(), c.size.saturating_sub(rpmdb_bytes)),
                    _ => (format!("var/lib/{}/", slug(&c.name)), c.size),
                };
                others += 1;
                generated(size, &prefix, &mut file);
            }
            ComponentKind::Unpackaged => {
                let dir = path_in_name(&c.name, "unpackaged:")
                    .unwrap_or_else(|| PathBuf::from(format!("var/lib/{}", slug(&c.name))));
                spread(&dir, "file", c.size, 8, &mut file);
            }
            ComponentKind::BigFile => {
                let path = path_in_name(&c.name, "file:")
                    .unwrap_or_else(|| PathBuf::from(format!("opt/{}.bin", slug(&c.name))));
                file(
                    &path.to_string_lossy(),
                    c.size,
                    Texture::for_gzip_ratio(0.6),
                    0o644,
                );
            }
            ComponentKind::Xattr => {
                let dir = format!("usr/share/{}", slug(&c.name));
                spread(Path::new(&dir), "data", c.size, 8, &mut file);
                out.tagged.push((dir, c.name.clone()));
            }
            ComponentKind::Rpmdb | ComponentKind::Package | ComponentKind::SourcePackage => {}
        }
    }
    out
}

/// Writes the unowned content of a version (after the packages are installed).
pub fn write_layout(root: &Path, layout: &UnownedLayout) -> Result<()> {
    for f in &layout.files {
        let len = usize::try_from(f.size).context("file too large for memory")?;
        write(
            root,
            &f.rel,
            &content::generate(f.seed, f.texture, len),
            f.mode,
            f.mtime,
        )?;
    }
    for (dir, name) in &layout.tagged {
        let path = root.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        set_xattr(&path, "user.component", name.as_bytes())?;
    }
    Ok(())
}

/// The [`GENERATED`] files for `size` bytes of generated content.
fn generated(size: u64, prefix: &str, file: &mut impl FnMut(&str, u64, Texture, u32)) {
    let mut left = size;
    for (n, (pattern, share, count, ratio, mode)) in GENERATED.iter().enumerate() {
        let last_part = n == GENERATED.len() - 1;
        let part = match last_part {
            true => left,
            false => ((size as f64 * share) as u64).min(left),
        };
        left -= part;
        for i in 0..*count {
            let size = part / *count as u64 + u64::from(i == 0) * (part % *count as u64);
            let rel = format!("{prefix}{}", pattern.replace("{i}", &i.to_string()));
            file(&rel, size, Texture::for_gzip_ratio(*ratio), *mode);
        }
    }
}

/// `size` bytes over `count` files `DIR/STEM{i}`.
fn spread(
    dir: &Path,
    stem: &str,
    size: u64,
    count: u64,
    file: &mut impl FnMut(&str, u64, Texture, u32),
) {
    for i in 0..count {
        let part = size / count + u64::from(i == 0) * (size % count);
        let rel = dir.join(format!("{stem}{i}"));
        file(
            &rel.to_string_lossy(),
            part,
            Texture::for_gzip_ratio(0.5),
            0o644,
        );
    }
}

/// Writes a new file (parents created) with its mode and mtime; refuses an existing path.
pub fn write(root: &Path, rel: &str, data: &[u8], mode: u32, mtime: Timestamp) -> Result<()> {
    let path = root.join(rel);
    if fs::symlink_metadata(&path).is_ok() {
        bail!(
            "{}: already exists (a package owns it); unowned content is never written over it",
            path.display()
        );
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let ctx = || format!("writing {}", path.display());
    fs::write(&path, data).with_context(ctx)?;
    let file = fs::File::options()
        .write(true)
        .open(&path)
        .with_context(ctx)?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(ctx)?;
    let secs = u64::try_from(mtime).unwrap_or(0);
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .with_context(ctx)
}

/// The relative path in a scan-style name (`unpackaged:/etc` → `etc`), when it is a safe one.
fn path_in_name(name: &str, prefix: &str) -> Option<PathBuf> {
    let rel = Path::new(name.strip_prefix(prefix)?.trim_start_matches('/'));
    let safe = rel.components().all(|p| matches!(p, PathPart::Normal(_)));
    (safe && !rel.as_os_str().is_empty() && !rel.starts_with("usr/lib/sysimage"))
        .then(|| rel.to_path_buf())
}

/// A name usable as one path element.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' | '+' => c,
            _ => '_',
        })
        .collect();
    match s.trim_start_matches('.') {
        "" => format!("component-{:08x}", hash(&[name.as_bytes()]) as u32),
        t => t.to_string(),
    }
}

/// Sets a path's mtime (and atime), not following a final symlink.
pub fn set_mtime(path: &Path, date: Timestamp) -> Result<()> {
    let t = rustix::fs::Timespec {
        tv_sec: date,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("setting the mtime of {}", path.display()))
}

/// Sets an extended attribute on `path` itself (not following a final symlink).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty())
        .with_context(|| format!("setting {name} on {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_shares_sum_to_one_and_names_map_to_paths() {
        let sum: f64 = GENERATED.iter().map(|g| g.1).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert_eq!(
            path_in_name("unpackaged:/etc", "unpackaged:"),
            Some("etc".into())
        );
        assert_eq!(
            path_in_name("file:/opt/a/b.bin", "file:"),
            Some("opt/a/b.bin".into())
        );
        assert_eq!(path_in_name("file:/../x", "file:"), None);
        assert_eq!(path_in_name("unpackaged:/", "unpackaged:"), None);
        assert_eq!(slug("a/b:c"), "a_b_c");
        assert_eq!(
            slug(".."),
            format!("component-{:08x}", hash(&[b".."]) as u32)
        );
    }

    #[test]
    fn components_write_their_sizes_and_refuse_existing_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        skeleton(root).unwrap();
        let spec = |name: &str, kind, size| UnownedSpec {
            component: Component::new(name, kind, "v1", size),
            since: 1_700_000_000,
        };
        let unowned = [
            spec("initramfs", ComponentKind::Initramfs, 5000),
            spec(
                "rpmostree-unpackaged-content",
                ComponentKind::Other,
                100_000,
            ),
            spec("unpackaged:/srv", ComponentKind::Unpackaged, 999),
            spec("file:/opt/big.bin", ComponentKind::BigFile, 2 << 20),
            spec("custom", ComponentKind::Xattr, 10),
        ];
        let planned = layout(&unowned, Some("6.1.0-1.x86_64"), 30_000);
        write_layout(root, &planned).unwrap();
        let size = |rel: &str| fs::metadata(root.join(rel)).unwrap().len();
        assert_eq!(size("usr/lib/modules/6.1.0-1.x86_64/initramfs.img"), 5000);
        assert_eq!(size("opt/big.bin"), 2 << 20);
        let srv: u64 = (0..8).map(|i| size(&format!("srv/file{i}"))).sum();
        assert_eq!(srv, 999);
        assert!(size("etc/ld.so.cache") > 0);
        // The rpm database's share of the unpackaged content is the database's.
        let generated: u64 = GENERATED
            .iter()
            .flat_map(|(p, _, count, _, _)| {
                (0..*count).map(move |i| p.replace("{i}", &i.to_string()))
            })
            .map(|rel| size(&rel))
            .sum();
        assert_eq!(generated, 70_000);
        let value = rustix::fs::getxattr(
            root.join("usr/share/custom"),
            "user.component",
            &mut [0u8; 16],
        );
        assert_eq!(value.ok(), Some(6));
        let again = layout(&unowned[..1], Some("6.1.0-1.x86_64"), 0);
        let err = write_layout(root, &again).unwrap_err();
        assert!(
            err.to_string().contains("initramfs.img: already exists"),
            "{err}"
        );
    }
}
