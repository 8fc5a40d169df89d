//! The non-package components of a version as `rechunk scan` will name them: the history
//! says `initramfs` and `rpmostree-unpackaged-content`, the tree holds an initramfs, classes of
//! generated content, the rpm database, unowned directories, and each is its own component
//! in the scan. The realised history ([`super::Chain::history`]) lists these, so that a
//! replay of it plans with the components a build of the trees plans with.
//!
//! Every unowned entry the tree will hold is listed (the skeleton, the directories rpm creates
//! for packages without any package owning them, the unowned files and their directories, the
//! rpm database) and named by the scan's own rule ([`rechunk_rootfs::unowned_claim`], the
//! rpm database directory and `user.component` trees before it). A component's version is a
//! digest of its entries and what their content is made from, so it changes exactly when the
//! scan's version (a digest of what its layer holds) does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rechunk_model::{Component, ComponentKind, Timestamp};
use rechunk_rootfs::{rpmdb_component_name, unowned_claim, EntryKind};
use sha2::{Digest, Sha256};

use super::install::DBPATH;
use super::layout::{EntrySpec, FileSpec};
use super::unowned::{UnownedLayout, SKELETON_DIRS, SKELETON_FILES, SKELETON_LINKS};

/// Bytes of a version digest (32 hex digits).
const VERSION_BYTES: usize = 16;

/// Planned size of an rpm database before rpm wrote it: a fixed part and a part per file
/// entry, fitted on two synthesized chains (FCOS stable's last version: 439 packages, 39,387
/// entries, 10,788,864 bytes; 7 packages, 262 entries, 282,624 bytes). A written version gets
/// the database's real size.
pub fn planned_rpmdb_bytes(entries: u64) -> u64 {
    212_277 + entries * 537 / 2
}

/// The directories packages make rpm create, and those they own (relative paths).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageDirs {
    /// Every parent directory of an entry rpm puts on disk, and every owned directory.
    pub created: BTreeSet<String>,
    pub owned: BTreeSet<String>,
    /// Entries rpm lists (ghosts and directories included): what the database records.
    pub entries: u64,
}

impl PackageDirs {
    /// Adds one package's file list.
    pub fn add(&mut self, files: &[FileSpec]) {
        for f in files {
            self.entries += 1;
            let rel = f.path.trim_start_matches('/');
            match f.entry {
                EntrySpec::Ghost { .. } => continue,
                EntrySpec::Dir => {
                    self.owned.insert(rel.to_owned());
                    self.created.insert(rel.to_owned());
                }
                _ => {}
            }
            add_parents(&mut self.created, rel);
        }
    }
}

/// The rpm database as written: its size and the version's date (rpm records install times in
/// it, so its bytes differ in every version).
#[derive(Clone, Copy, Debug)]
pub struct Rpmdb {
    pub bytes: u64,
    pub date: Timestamp,
}

/// One entry the tree will hold that no package owns.
struct Unowned<'a> {
    path: String,
    kind: EntryKind,
    size: u64,
    /// What the content is made from (hashed into the version).
    made_of: &'a str,
}

/// The non-package components of a version, sorted by name.
pub fn components(dirs: &PackageDirs, layout: &UnownedLayout, rpmdb: Rpmdb) -> Vec<Component> {
    let db_dir = DBPATH.trim_start_matches('/');
    let mut made: Vec<String> = Vec::new();
    let mut entries: Vec<Unowned> = Vec::new();
    let mut created: BTreeSet<String> = dirs.created.clone();
    for d in SKELETON_DIRS {
        created.insert(d.to_owned());
        add_parents(&mut created, d);
    }
    add_parents(&mut created, db_dir);
    for f in &layout.files {
        add_parents(&mut created, &f.rel);
        made.push(format!(
            "{:016x} {:?} {} {:o}",
            f.seed, f.texture, f.mtime, f.mode
        ));
    }
    for (dir, _) in &layout.tagged {
        created.insert(dir.clone());
        add_parents(&mut created, dir);
    }
    for d in created.iter().filter(|d| !dirs.owned.contains(*d)) {
        entries.push(unowned(d, EntryKind::Directory, 0, ""));
    }
    for (link, target) in SKELETON_LINKS {
        entries.push(unowned(link, EntryKind::Symlink(target.into()), 0, target));
    }
    for (rel, data) in SKELETON_FILES {
        entries.push(unowned(
            rel,
            EntryKind::Regular,
            data.len() as u64,
            "skeleton",
        ));
    }
    for (f, made_of) in layout.files.iter().zip(&made) {
        entries.push(unowned(&f.rel, EntryKind::Regular, f.size, made_of));
    }
    let db = (
        rpmdb_component_name(Path::new(db_dir)),
        ComponentKind::Rpmdb,
    );
    let date = rpmdb.date.to_string();
    let mut parts: BTreeMap<(String, ComponentKind), Vec<&Unowned>> = BTreeMap::new();
    let db_files = [
        unowned(
            &format!("{db_dir}/rpmdb.sqlite"),
            EntryKind::Regular,
            rpmdb.bytes,
            &date,
        ),
        unowned(&format!("{db_dir}/.rpm.lock"), EntryKind::Regular, 0, &date),
        unowned(db_dir, EntryKind::Directory, 0, ""),
    ];
    parts.entry(db.clone()).or_default().extend(db_files.iter());
    for e in &entries {
        let path = Path::new(&e.path);
        if path.starts_with(db_dir) {
            continue; // the database directory is listed above, whoever owns it
        }
        let tag = layout
            .tagged
            .iter()
            .find(|(dir, _)| path.starts_with(dir))
            .map(|(_, name)| (name.clone(), ComponentKind::Xattr));
        let key = tag.unwrap_or_else(|| {
            let claim = unowned_claim(path, &e.kind, e.size);
            (claim.name, claim.kind)
        });
        parts.entry(key).or_default().push(e);
    }
    parts
        .into_iter()
        .map(|((name, kind), mut members)| {
            members.sort_by(|a, b| a.path.cmp(&b.path));
            let mut h = Sha256::new();
            for m in &members {
                h.update(format!(
                    "{}\0{:?}\0{}\0{}\n",
                    m.path, m.kind, m.size, m.made_of
                ));
            }
            let version = hex::encode(&h.finalize()[..VERSION_BYTES]);
            let size = members.iter().map(|m| m.size).sum();
            let mut c = Component::new(name, kind, version, size);
            c.files = members
                .iter()
                .filter(|m| m.kind != EntryKind::Directory)
                .count() as u64;
            c
        })
        .collect()
}

fn unowned<'a>(path: &str, kind: EntryKind, size: u64, made_of: &'a str) -> Unowned<'a> {
    Unowned {
        path: path.to_owned(),
        kind,
        size,
        made_of,
    }
}

/// Adds every parent directory of `rel` (not the root).
fn add_parents(set: &mut BTreeSet<String>, rel: &str) {
    let mut path = rel;
    while let Some((parent, _)) = path.rsplit_once('/') {
        if !set.insert(parent.to_owned()) {
            break;
        }
        path = parent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::unowned::{layout, UnownedSpec};

    #[test]
    fn components_follow_the_scans_rules() {
        let spec = |name: &str, kind, version: &str, size| UnownedSpec {
            component: Component::new(name, kind, version, size),
            since: 1_700_000_000,
        };
        let unowned = |v: &str| {
            layout(
                &[
                    spec("initramfs", ComponentKind::Initramfs, v, 5 << 20),
                    spec("unpackaged", ComponentKind::Other, v, 20 << 20),
                    spec("custom", ComponentKind::Xattr, "1", 10),
                ],
                Some("6.1.0-1.x86_64"),
                1 << 20,
            )
        };
        let mut dirs = PackageDirs::default();
        dirs.created.insert("usr/lib/modules".into());
        dirs.owned.insert("usr/lib/modules".into());
        let db = |date| Rpmdb {
            bytes: 1 << 20,
            date,
        };
        let v1 = components(&dirs, &unowned("a"), db(1));
        let names: Vec<&str> = v1.iter().map(|c| c.name.as_str()).collect();
        for want in [
            "initramfs:/usr/lib/modules",
            "generated:selinux",
            "generated:hwdb",
            "rpmdb:/usr/lib/sysimage/rpm",
            "unpackaged:/",
            "unpackaged:/etc",
            "unpackaged:/var",
            "unpackaged:/usr",
            "custom",
        ] {
            assert!(names.contains(&want), "{want} in {names:?}");
        }
        // All of the bytes, and the database's share taken from the unpackaged content.
        let total: u64 = v1.iter().map(|c| c.size).sum();
        let skeleton: u64 = SKELETON_FILES.iter().map(|(_, d)| d.len() as u64).sum();
        assert_eq!(total, (5 << 20) + (20 << 20) + 10 + skeleton);
        // A new version of the content changes what it is in, and the database; the rest stays.
        let v2 = components(&dirs, &unowned("b"), db(2));
        let changed: Vec<&str> = v1
            .iter()
            .zip(&v2)
            .filter(|(a, b)| a.version != b.version)
            .map(|(a, _)| a.name.as_str())
            .collect();
        assert!(changed.contains(&"generated:hwdb"));
        assert!(changed.contains(&"rpmdb:/usr/lib/sysimage/rpm"));
        for same in ["custom", "unpackaged:/", "unpackaged:/usr"] {
            assert!(!changed.contains(&same), "{same} changed");
        }
    }
}
