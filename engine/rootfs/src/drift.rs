//! Package drift: where the bytes the image writer will put in a package component's layer
//! differ from what the rpmdb records of its packages say, so that the component's version
//! moves exactly when those bytes do (a layer key that says "unchanged" must mean an identical
//! blob).
//!
//! A package component's version is its EVR(s) when every entry it holds is exactly as
//! recorded, and EVR + `+` + a short digest over the differences otherwise (see
//! [`crate::assign`]). What counts, per entry of the component:
//! - with a usable record (installed, not `%ghost`, same file type): the permission bits; the
//!   uid/gid against the recorded owner names mapped through the tree's own account files
//!   ([`Accounts`]); the symlink target; for files and symlinks the mtime as the writer writes
//!   it (clamped to `SOURCE_DATE_EPOCH`; directories are written at mtime 0, so theirs never
//!   counts); every xattr except a `security.capability` equal to the recorded capability
//!   (so `security.selinux` labels and `user.*` count, as the writer writes them all); the
//!   hardlink count against rpm's; and the content. Content is read only when the size differs
//!   or the mtime differs from both the record's and ostree's canonical 0 (an ostree checkout
//!   zeroes every mtime; an edit after it sets a new one): then it is hashed with the
//!   package's digest algorithm and counts when it differs from FILEDIGESTS. A same-size edit
//!   that restored the recorded mtime goes unseen, as with `rpm -V --nofiledigest`.
//! - without one (a `%ghost` file present in the tree, a type change, a link joined from an
//!   unowned path, a path named by `user.component`): everything the writer writes, content
//!   included (what unowned components hash).
//!
//! And per installed, non-ghost record of its packages: a path the tree lacks (`missing`,
//! except under the directories no image holds: /proc, /sys, /dev, /run, /tmp, /var/tmp,
//! /boot), and a path that went to another component (`elsewhere`). Records rpm did not put
//! on disk (`--excludedocs`, `tsflags=nodocs`, other multilib colour) and `%ghost` records the
//! tree lacks are as recorded.
//!
//! Known limit: the ids a recorded owner name maps to are read from the tree; if a dynamically
//! allocated user gets another uid in the next build, its files' bytes change while they still
//! match their record.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rechunk_rpmdb::{Package, PackageFile};
use serde::Serialize;

use crate::accounts::Accounts;
use crate::assign::type_matches;
use crate::caps;
use crate::digest;
use crate::resolve::TreeIndex;
use crate::{Entry, EntryKind, InodeId, Tree};
use rechunk_tree::belongs::VOLATILE_DIRS;

/// The mtime an ostree checkout gives every file.
const OSTREE_MTIME: i64 = 0;

/// The xattr rpm's FILECAPS describes.
const CAPABILITY_XATTR: &str = "security.capability";

/// One path of a package component that differs from its packages' records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The component whose version it moves.
    pub component: String,
    /// Relative to the root; for a `missing` file, rpm's path without its leading `/`.
    pub path: PathBuf,
    /// What differs, in this order: `unrecorded` (no usable record: everything counts),
    /// `mode`, `owner`, `target`, `content`, `links`, `mtime`, `xattrs`, `missing`,
    /// `elsewhere`.
    pub differs: Vec<&'static str>,
}

/// Which record owns an entry: `packages[package].files[file]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Claim {
    pub package: usize,
    pub file: usize,
}

/// Everything the drift check looks at.
pub(crate) struct DriftInput<'a> {
    pub tree: &'a Tree,
    pub index: &'a TreeIndex<'a>,
    pub packages: &'a [Package],
    /// Per entry: the record that owns it.
    pub claim: &'a [Option<Claim>],
    /// Per package, per file record: the entry it names (for installed or ghost records).
    pub located: &'a [Vec<Option<usize>>],
    /// Per entry: its component.
    pub owner: &'a [usize],
    /// Per package: its component.
    pub component_of_package: &'a [usize],
    pub accounts: &'a Accounts,
    pub clamp_mtime: Option<i64>,
}

/// A difference with the bytes that identify it (hashed into the version).
pub(crate) struct Finding {
    pub component: usize,
    pub path: PathBuf,
    pub differs: Vec<&'static str>,
    pub detail: Vec<u8>,
}

/// Attributes that differ for one entry, with their values as written.
#[derive(Default)]
struct Detail {
    differs: Vec<&'static str>,
    bytes: Vec<u8>,
}

impl Detail {
    fn add(&mut self, what: &'static str, value: &[u8]) {
        self.differs.push(what);
        self.bytes.extend_from_slice(what.as_bytes());
        self.bytes.push(b'=');
        self.bytes.extend_from_slice(value);
        self.bytes.push(0);
    }
}

/// Every difference between the package components and their records; `is_package` says
/// which components are (source-)package components.
pub(crate) fn find_drift(input: &DriftInput, is_package: &[bool]) -> Vec<Finding> {
    let links = Links::new(input);
    let mut findings: Vec<Finding> = (0..input.tree.entries.len())
        .into_par_iter()
        .filter(|&i| is_package[input.owner[i]])
        .filter_map(|i| entry_finding(input, &links, i))
        .collect();
    findings.extend(record_findings(input));
    findings
}

fn entry_finding(input: &DriftInput, links: &Links, i: usize) -> Option<Finding> {
    let e = &input.tree.entries[i];
    let ci = input.owner[i];
    let record = input.claim[i]
        .filter(|c| input.component_of_package[c.package] == ci)
        .map(|c| (c, &input.packages[c.package].files[c.file]))
        .filter(|(_, f)| f.installed && !f.flags.is_ghost() && type_matches(e, f.mode));
    let detail = match record {
        Some((c, f)) => compare(input, links, e, c, f),
        None => unrecorded(input, e),
    };
    (!detail.differs.is_empty()).then(|| Finding {
        component: ci,
        path: e.path.clone(),
        differs: detail.differs,
        detail: detail.bytes,
    })
}

/// The mtime the writer puts in a layer.
fn written_mtime(mtime: i64, clamp: Option<i64>) -> i64 {
    clamp.map_or(mtime, |c| mtime.min(c))
}

fn compare(input: &DriftInput, links: &Links, e: &Entry, c: Claim, f: &PackageFile) -> Detail {
    let mut d = Detail::default();
    if e.mode != f.mode & 0o7777 {
        d.add("mode", format!("{:o}", e.mode).as_bytes());
    }
    let (uid, gid) = (input.accounts.uid(&f.user), input.accounts.gid(&f.group));
    if (e.uid, e.gid) != (uid, gid) {
        d.add("owner", format!("{}:{}", e.uid, e.gid).as_bytes());
    }
    match &e.kind {
        EntryKind::Symlink(target) => {
            let want = f.link_target.as_deref().unwrap_or("");
            if target.as_os_str() != OsStr::new(want) {
                d.add("target", target.as_os_str().as_bytes());
            }
        }
        EntryKind::Regular => {
            let pkg = &input.packages[c.package];
            if let Some(content) = content_difference(input.tree, e, pkg.digest_algo, f) {
                d.add("content", content.as_bytes());
            }
            let (have, want) = (links.in_tree(e), links.in_record(c, f));
            if have != want {
                d.add("links", have.to_string().as_bytes());
            }
        }
        EntryKind::Directory => {}
    }
    let mtime = written_mtime(e.mtime, input.clamp_mtime);
    if !e.is_dir() && mtime != written_mtime(f.mtime, input.clamp_mtime) {
        d.add("mtime", mtime.to_string().as_bytes());
    }
    if !xattrs_as_recorded(e, f) {
        d.add("xattrs", &xattr_bytes(e));
    }
    d
}

/// `Some(identity)` when a regular file's content is not the recorded one. Reads the file
/// only when its size or mtime says it may have changed.
fn content_difference(tree: &Tree, e: &Entry, algo: u32, f: &PackageFile) -> Option<String> {
    let touched = e.mtime != f.mtime && e.mtime != OSTREE_MTIME;
    if e.size == f.size && !touched {
        return None;
    }
    match digest::file_digest(&tree.root.join(&e.path), algo) {
        Ok((used, hex))
            if used == algo && e.size == f.size && f.digest.as_deref() == Some(&hex) =>
        {
            None
        }
        Ok((used, hex)) => Some(format!("{used}:{hex}")),
        // The writer will fail on it; until then the version says it could not be read.
        Err(err) => Some(format!("unreadable:{:?}", err.kind())),
    }
}

/// Whether every xattr the writer will write is one the record accounts for: only a
/// `security.capability` equal to the recorded capability is.
fn xattrs_as_recorded(e: &Entry, f: &PackageFile) -> bool {
    let want = f.caps.as_deref().map(caps::from_text);
    let mut seen_caps = false;
    for (name, value) in &e.xattrs {
        if name != CAPABILITY_XATTR {
            return false;
        }
        seen_caps = true;
        let have = caps::from_xattr(value);
        if have.is_none() || want != Some(have) {
            return false;
        }
    }
    seen_caps == want.is_some()
}

fn xattr_bytes(e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in &e.xattrs {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(hex::encode(value).as_bytes());
        out.push(b',');
    }
    out
}

/// No usable record: everything the writer writes counts, content included.
fn unrecorded(input: &DriftInput, e: &Entry) -> Detail {
    let mut d = Detail::default();
    let (kind, link): (&str, &[u8]) = match &e.kind {
        EntryKind::Regular => ("f", b""),
        EntryKind::Directory => ("d", b""),
        EntryKind::Symlink(t) => ("l", t.as_os_str().as_bytes()),
    };
    let mut bytes =
        format!("{kind}\0{:o}\0{}\0{}\0{}\0", e.mode, e.uid, e.gid, e.size).into_bytes();
    bytes.extend_from_slice(link);
    if !e.is_dir() {
        let mtime = written_mtime(e.mtime, input.clamp_mtime);
        bytes.extend_from_slice(format!("\0{mtime}").as_bytes());
    }
    bytes.push(0);
    bytes.extend_from_slice(&xattr_bytes(e));
    if e.kind == EntryKind::Regular {
        let content = match digest::file_digest(&input.tree.root.join(&e.path), digest::SHA256) {
            Ok((_, hex)) => hex,
            Err(err) => format!("unreadable:{:?}", err.kind()),
        };
        bytes.extend_from_slice(format!("\0{content}").as_bytes());
    }
    d.add("unrecorded", &bytes);
    d
}

/// Records whose path is not in their component: missing from the tree, or placed elsewhere.
fn record_findings(input: &DriftInput) -> Vec<Finding> {
    let mut out = Vec::new();
    for (pi, pkg) in input.packages.iter().enumerate() {
        let ci = input.component_of_package[pi];
        for (fi, f) in pkg.files.iter().enumerate() {
            if !f.installed || f.flags.is_ghost() {
                continue;
            }
            let (path, what, detail) = match input.located[pi][fi] {
                None if never_in_an_image(input.index, &f.path) => continue,
                None => (PathBuf::from(f.path.trim_start_matches('/')), "missing", ""),
                Some(i) => {
                    let ours = input.claim[i].is_some_and(|c| c.package == pi);
                    if !ours || input.owner[i] == ci {
                        continue;
                    }
                    (input.tree.entries[i].path.clone(), "elsewhere", "")
                }
            };
            let mut d = Detail::default();
            d.add(what, detail.as_bytes());
            out.push(Finding {
                component: ci,
                path,
                differs: d.differs,
                detail: d.bytes,
            });
        }
    }
    out
}

/// Paths under the directories whose content no image holds (the scan empties the volatile
/// ones; /boot must be empty), looked up through symlinked parents (`/var/run` → `run`).
fn never_in_an_image(index: &TreeIndex, rpm_path: &str) -> bool {
    let path = Path::new(rpm_path);
    let real = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => index
            .resolve(parent, true)
            .map(|p| p.join(name))
            .unwrap_or_else(|_| path.to_owned()),
        _ => path.to_owned(),
    };
    let real = real.strip_prefix("/").unwrap_or(&real);
    VOLATILE_DIRS
        .iter()
        .chain(&["boot"])
        .any(|d| real.starts_with(d))
}

/// Hardlink counts: per tree inode, and per rpm (package, device, inode) among the records rpm
/// put on disk.
struct Links {
    tree: HashMap<InodeId, usize>,
    records: HashMap<(usize, (u32, u32)), usize>,
}

impl Links {
    fn new(input: &DriftInput) -> Links {
        let mut tree: HashMap<InodeId, usize> = HashMap::new();
        for id in input.tree.entries.iter().filter_map(|e| e.hardlink) {
            *tree.entry(id).or_default() += 1;
        }
        let mut records: HashMap<(usize, (u32, u32)), usize> = HashMap::new();
        for (pi, pkg) in input.packages.iter().enumerate() {
            for f in &pkg.files {
                if has_link_identity(f) {
                    *records.entry((pi, f.inode)).or_default() += 1;
                }
            }
        }
        Links { tree, records }
    }

    fn in_tree(&self, e: &Entry) -> usize {
        e.hardlink
            .map_or(1, |id| self.tree.get(&id).copied().unwrap_or(1))
    }

    fn in_record(&self, c: Claim, f: &PackageFile) -> usize {
        if !has_link_identity(f) {
            return 1;
        }
        self.records
            .get(&(c.package, f.inode))
            .copied()
            .unwrap_or(1)
    }
}

/// Regular files rpm put on disk with an inode number (headers without FILEINODES give 0).
fn has_link_identity(f: &PackageFile) -> bool {
    f.installed && !f.flags.is_ghost() && f.is_regular() && f.inode.1 != 0
}
