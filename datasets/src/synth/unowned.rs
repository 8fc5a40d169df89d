//! Content no package owns: the tree's skeleton (merged-/usr symlinks, account files) and the
//! history's non-package components, written after rpm has installed the packages.
//!
//! By component kind:
//! - `initramfs`: `usr/lib/modules/KVER/initramfs.img` (mode 0600, compressed content) for the
//!   tree's kernel release (`0.0.0-0.synth.x86_64` without a kernel package);
//! - `other` (rpm-ostree's "everything unowned", and the completed `generated-content`): the
//!   files a compose regenerates: SELinux policy and module store, udev hwdb, CA bundles, MIME
//!   database, `ld.so.cache`, fontconfig, gdk-pixbuf and GSettings caches, the info `dir` index,
//!   `/etc` defaults and `/var/lib` state, in the shares of [`GENERATED`]; a second such
//!   component goes under `var/lib/NAME`;
//! - `unpackaged` (`unpackaged:/DIR`): files under DIR; `big-file` (`file:/PATH`): one file at
//!   PATH; `xattr`: files under `usr/share/NAME` tagged `user.component=NAME`; names that are
//!   not paths go under `var/lib/NAME` / `opt/NAME.bin`;
//! - `rpmdb`: nothing: the real rpm database stands for it.
//!
//! Content and mtimes are functions of (component, version): the date the component first
//! had that version is its files' mtime, so an unchanged component is byte-for-byte and
//! mtime-for-mtime the same in every tree. Nothing is written over an existing path: a package
//! owning one is an error naming it.

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

/// The skeleton every tree starts from: merged-/usr symlinks, an empty /boot, root's account
/// files (rpm maps file owners through them).
pub fn skeleton(root: &Path) -> Result<()> {
    for d in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "usr/share",
        "etc",
        "var",
        "boot",
    ] {
        let p = root.join(d);
        fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        let p = root.join(link);
        symlink(target, &p).with_context(|| format!("creating the symlink {}", p.display()))?;
        set_mtime(&p, 0)?;
    }
    let mtime = 0;
    write(
        root,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/bash\n",
        0o644,
        mtime,
    )?;
    write(root, "etc/group", b"root:x:0:\n", 0o644, mtime)?;
    Ok(())
}

/// Writes the non-package components of a version.
pub fn write_components(root: &Path, unowned: &[UnownedSpec], kernel: Option<&str>) -> Result<()> {
    let mut others = 0;
    for u in unowned {
        let c = &u.component;
        let file = |rel: &str, size: u64, texture: Texture, mode: u32| {
            write_generated(root, c, rel, size, texture, mode, u.since)
        };
        match c.kind {
            ComponentKind::Initramfs => {
                let kver = kernel.unwrap_or(FALLBACK_KERNEL);
                file(
                    &format!("usr/lib/modules/{kver}/initramfs.img"),
                    c.size,
                    Texture::COMPRESSED,
                    0o600,
                )?;
            }
            ComponentKind::Other | ComponentKind::Generated => {
                let prefix = match others {
                    0 => String::new(),
                    _ => format!("var/lib/{}/", slug(&c.name)),
                };
                others += 1;
                generated(c, &prefix, &file)?;
            }
            ComponentKind::Unpackaged => {
                let dir = path_in_name(&c.name, "unpackaged:")
                    .unwrap_or_else(|| PathBuf::from(format!("var/lib/{}", slug(&c.name))));
                spread(&dir, "file", c.size, 8, &file)?;
            }
            ComponentKind::BigFile => {
                let path = path_in_name(&c.name, "file:")
                    .unwrap_or_else(|| PathBuf::from(format!("opt/{}.bin", slug(&c.name))));
                file(
                    &path.to_string_lossy(),
                    c.size,
                    Texture::for_gzip_ratio(0.6),
                    0o644,
                )?;
            }
            ComponentKind::Xattr => {
                let dir = PathBuf::from(format!("usr/share/{}", slug(&c.name)));
                spread(&dir, "data", c.size, 8, &file)?;
                set_xattr(&root.join(&dir), "user.component", c.name.as_bytes())?;
            }
            ComponentKind::Rpmdb | ComponentKind::Package | ComponentKind::SourcePackage => {}
        }
    }
    Ok(())
}

/// The [`GENERATED`] files for an `other` component.
fn generated(
    c: &Component,
    prefix: &str,
    file: &impl Fn(&str, u64, Texture, u32) -> Result<()>,
) -> Result<()> {
    let mut left = c.size;
    for (n, (pattern, share, count, ratio, mode)) in GENERATED.iter().enumerate() {
        let last_part = n == GENERATED.len() - 1;
        let part = match last_part {
            true => left,
            false => ((c.size as f64 * share) as u64).min(left),
        };
        left -= part;
        for i in 0..*count {
            let size = part / *count as u64 + u64::from(i == 0) * (part % *count as u64);
            let rel = format!("{prefix}{}", pattern.replace("{i}", &i.to_string()));
            file(&rel, size, Texture::for_gzip_ratio(*ratio), *mode)?;
        }
    }
    Ok(())
}

/// `size` bytes over `count` files `DIR/STEM{i}`.
fn spread(
    dir: &Path,
    stem: &str,
    size: u64,
    count: u64,
    file: &impl Fn(&str, u64, Texture, u32) -> Result<()>,
) -> Result<()> {
    for i in 0..count {
        let part = size / count + u64::from(i == 0) * (size % count);
        let rel = dir.join(format!("{stem}{i}"));
        file(
            &rel.to_string_lossy(),
            part,
            Texture::for_gzip_ratio(0.5),
            0o644,
        )?;
    }
    Ok(())
}

fn write_generated(
    root: &Path,
    c: &Component,
    rel: &str,
    size: u64,
    texture: Texture,
    mode: u32,
    mtime: Timestamp,
) -> Result<()> {
    let len = usize::try_from(size).context("file too large for memory")?;
    let seed = hash(&[c.name.as_bytes(), c.version.as_bytes(), rel.as_bytes()]);
    write(
        root,
        rel,
        &content::generate(seed, texture, len),
        mode,
        mtime,
    )
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
        write_components(root, &unowned, Some("6.1.0-1.x86_64")).unwrap();
        let size = |rel: &str| fs::metadata(root.join(rel)).unwrap().len();
        assert_eq!(size("usr/lib/modules/6.1.0-1.x86_64/initramfs.img"), 5000);
        assert_eq!(size("opt/big.bin"), 2 << 20);
        let srv: u64 = (0..8).map(|i| size(&format!("srv/file{i}"))).sum();
        assert_eq!(srv, 999);
        assert!(size("etc/ld.so.cache") > 0);
        let value = rustix::fs::getxattr(
            root.join("usr/share/custom"),
            "user.component",
            &mut [0u8; 16],
        );
        assert_eq!(value.ok(), Some(6));
        let err = write_components(root, &unowned[..1], Some("6.1.0-1.x86_64")).unwrap_err();
        assert!(
            err.to_string().contains("initramfs.img: already exists"),
            "{err}"
        );
    }
}
