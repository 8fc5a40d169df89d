//! The `rpm -V` view: where the tree differs from what the rpmdb recorded for the files it owns.
//!
//! Checked per owned path: file type, permission bits, symlink target, and for regular
//! non-config files the size and (optionally, it reads every byte) the digest. Config files
//! are expected to be edited, so only their type is checked. Ghost and not-installed files
//! are skipped. A file the rpmdb lists but the tree lacks is reported as missing, except under
//! `/var` (bootc images ship /var as tmpfiles.d entries) and the volatile directories.

use rayon::prelude::*;
use rechunk_rpmdb::{Package, PackageFile};
use rechunk_tree::{ContentSource, Entry};

use crate::components::packages::records::{find_package_path, type_matches};
use crate::digest;
use crate::error::{Warning, WarningKind};
use crate::resolve::TreeIndex;
use crate::{EntryKind, Tree};

/// One owned file to check against its record.
struct Check<'a> {
    entry: usize,
    package: &'a Package,
    file: &'a PackageFile,
}

/// Compares the tree with the records of the packages that own its paths.
pub fn verify(
    tree: &Tree,
    content: &dyn ContentSource,
    index: &TreeIndex,
    packages: &[Package],
    package_of: &[Option<usize>],
    digests: bool,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let mut checks = Vec::new();
    for (pi, pkg) in packages.iter().enumerate() {
        for f in pkg
            .files
            .iter()
            .filter(|f| f.installed && !f.flags.is_ghost())
        {
            match find_package_path(index, &f.path) {
                Some(i) if package_of[i] == Some(pi) => checks.push(Check {
                    entry: i,
                    package: pkg,
                    file: f,
                }),
                Some(_) => {} // another package's record won this path
                None if expected_on_disk(&f.path) => warnings.push(Warning {
                    kind: WarningKind::Missing,
                    path: tree.root.join(f.path.trim_start_matches('/')),
                    message: format!("listed by {} but not in the tree", pkg.nevra()),
                }),
                None => {}
            }
        }
    }
    let mut found: Vec<Warning> = checks
        .par_iter()
        .filter_map(|c| check(tree, content, c, digests))
        .collect();
    warnings.append(&mut found);
    warnings
}

fn expected_on_disk(rpm_path: &str) -> bool {
    const NOT_KEPT: [&str; 7] = [
        "/var/", "/run/", "/tmp/", "/proc/", "/sys/", "/dev/", "/boot/",
    ];
    !NOT_KEPT.iter().any(|p| rpm_path.starts_with(p))
}

fn check(tree: &Tree, content: &dyn ContentSource, c: &Check, digests: bool) -> Option<Warning> {
    let e = &tree.entries[c.entry];
    let f = c.file;
    let warn = |message: String| Warning {
        kind: WarningKind::Modified,
        path: tree.root.join(&e.path),
        message: format!("{message} (rpmdb record of {})", c.package.nevra()),
    };
    if !type_matches(e, f.mode) {
        return Some(warn(format!("file type differs: rpm mode {:o}", f.mode)));
    }
    if f.flags.is_config() {
        return None;
    }
    if e.mode != f.mode & 0o7777 {
        return Some(warn(format!(
            "mode {:o} differs from {:o}",
            e.mode,
            f.mode & 0o7777
        )));
    }
    let has_caps = e.xattrs.iter().any(|(n, _)| n == "security.capability");
    if has_caps != f.caps.is_some() {
        return Some(warn(match &f.caps {
            Some(c) => format!("capabilities {c} missing"),
            None => "file capabilities set (security.capability), none recorded".to_owned(),
        }));
    }
    match &e.kind {
        EntryKind::Symlink(target) => {
            let want = f.link_target.as_deref().unwrap_or("");
            (target.as_os_str() != want).then(|| {
                warn(format!(
                    "symlink target {} differs from {want}",
                    target.display()
                ))
            })
        }
        EntryKind::Regular if e.size != f.size => {
            Some(warn(format!("size {} differs from {}", e.size, f.size)))
        }
        EntryKind::Regular if digests => {
            check_digest(content, e, c.package.digest_algo, f).map(warn)
        }
        _ => None,
    }
}

/// Hashes the file with the package's digest algorithm; `Some(message)` on a difference.
/// MD5 and SHA-1 digests (old packages) are not checked.
fn check_digest(
    content: &dyn ContentSource,
    e: &Entry,
    algo: u32,
    f: &PackageFile,
) -> Option<String> {
    let want = f.digest.as_deref()?;
    digest::hasher_for(algo)?;
    match digest::file_digest(content, e, algo) {
        Ok((_, got)) => (got != want).then(|| format!("digest {got} differs from {want}")),
        Err(e) => Some(format!("cannot read to verify: {e}")),
    }
}
