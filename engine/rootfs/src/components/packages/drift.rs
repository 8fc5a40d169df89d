//! Package drift: where the bytes the image writer will put in a package component's layer
//! differ from what the rpmdb records of its packages say, so that the component's version
//! moves exactly when those bytes do (a layer key that says "unchanged" must mean an identical
//! blob).
//!
//! A package component's version is its EVR(s) when every entry it holds is exactly as
//! recorded, and EVR + `+` + a short digest over the differences otherwise. What counts, per
//! entry of the component, always as [`rechunk_tree::WriteRules`] writes it:
//! - with a usable record (installed, not `%ghost`, same file type): the permission bits; the
//!   uid/gid against the recorded owner names mapped through the tree's own account files
//!   ([`Accounts`]); the symlink target; for files and symlinks the written mtime against the
//!   record's (directories are written at mtime 0, so theirs never counts); every written
//!   xattr except a `security.capability` equal to the recorded capability (a written SELinux
//!   label, under `--selinux keep` or `policy`, counts as `selinux`); the hardlink set
//!   against rpm's; and the content. Content is read only when the size differs or the mtime
//!   differs from both the record's and ostree's canonical 0 (an ostree checkout zeroes every
//!   mtime; an edit after it sets a new one): then it is hashed with the package's digest
//!   algorithm and counts when it differs from FILEDIGESTS. A same-size edit that restored the
//!   recorded mtime goes unseen, as with `rpm -V --nofiledigest`.
//! - without one (a type change, a link joined from an unowned path, a path named by
//!   `user.component`): the whole written record and the content (what unowned components
//!   hash). A `%ghost` file present in the tree is not the package's at all (generated
//!   content, see `components::generated`).
//!
//! Per installed, non-ghost record of its packages: a path the tree lacks (`missing`, except
//! under the directories no image holds: /proc, /sys, /dev, /run, /tmp, /var/tmp, /boot), and
//! a path that went to another component (`elsewhere`), unless the rpm database took it (its
//! directory is the database's whoever lists it: a rule, the same on every build). Records rpm did not put on disk
//! (`--excludedocs`, `tsflags=nodocs`, other multilib colour) and `%ghost` records the tree
//! lacks are as recorded.
//!
//! And per parent directory the component's layer holds for it but another component owns: a
//! parent that is not root-owned 0755 without xattrs (`parent`), since its metadata is in this
//! layer's bytes too.
//!
//! Known limit: the ids a recorded owner name maps to are read from the tree; if a dynamically
//! allocated user gets another uid in the next build, its files' bytes change while they still
//! match their record.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rechunk_model::{Component, ComponentKind};
use rechunk_rpmdb::{Package, PackageFile};
use rechunk_tree::belongs::VOLATILE_DIRS;
use rechunk_tree::{
    content_digest, layer_members, DirIndex, Entry, EntryKind, InodeId, Member, SELINUX_XATTR,
};
use sha2::{Digest, Sha256};

use super::records::{type_matches, Record, Records};
use crate::accounts::Accounts;
use crate::caps;
use crate::components::{entries_by_component, Drift, Placed};
use crate::digest;
use crate::resolve::TreeIndex;

/// The mtime an ostree checkout gives every file.
const OSTREE_MTIME: i64 = 0;

/// The xattr rpm's FILECAPS describes.
const CAPABILITY_XATTR: &str = "security.capability";

/// Bytes of the drift digest appended to a package component's version (16 hex digits).
const DRIFT_DIGEST_BYTES: usize = 8;

/// Everything the drift check looks at.
pub(super) struct DriftInput<'a> {
    pub placed: &'a Placed<'a>,
    pub index: &'a TreeIndex<'a>,
    pub packages: &'a [Package],
    pub records: &'a Records,
    /// Per package: its component.
    pub component_of_package: &'a [usize],
    pub accounts: &'a Accounts,
}

/// A difference with the bytes that identify it (hashed into the version).
struct Finding {
    component: usize,
    path: PathBuf,
    differs: Vec<&'static str>,
    detail: Vec<u8>,
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

    fn finding(self, component: usize, path: PathBuf) -> Option<Finding> {
        (!self.differs.is_empty()).then_some(Finding {
            component,
            path,
            differs: self.differs,
            detail: self.bytes,
        })
    }
}

/// Appends `+` and a digest of its differences to the version of every package component
/// whose layer differs from its records; returns the differences.
pub(super) fn apply(input: &DriftInput, components: &mut [Component]) -> Vec<Drift> {
    let mut is_package = vec![false; components.len()];
    for &ci in input.component_of_package {
        is_package[ci] = true;
    }
    let is_rpmdb: Vec<bool> = components
        .iter()
        .map(|c| c.kind == ComponentKind::Rpmdb)
        .collect();
    let mut findings = find(input, &is_package, &is_rpmdb);
    findings.sort_by(|a, b| (a.component, &a.path).cmp(&(b.component, &b.path)));
    let mut hashers: BTreeMap<usize, Sha256> = BTreeMap::new();
    for f in &findings {
        let h = hashers.entry(f.component).or_default();
        h.update(f.path.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(&f.detail);
        h.update(b"\n");
    }
    for (ci, h) in hashers {
        let digest = hex::encode(&h.finalize()[..DRIFT_DIGEST_BYTES]);
        components[ci].version = format!("{}+{digest}", components[ci].version);
    }
    findings
        .into_iter()
        .map(|f| Drift {
            component: components[f.component].name.clone(),
            path: f.path,
            differs: f.differs,
        })
        .collect()
}

fn find(input: &DriftInput, is_package: &[bool], is_rpmdb: &[bool]) -> Vec<Finding> {
    let links = Links::new(input);
    let tree = input.placed.tree;
    let owner = input.placed.owner;
    let mut findings: Vec<Finding> = (0..tree.entries.len())
        .into_par_iter()
        .filter(|&i| is_package[owner[i]])
        .filter_map(|i| entry_finding(input, &links, i))
        .collect();
    findings.extend(record_findings(input, is_rpmdb));
    findings.extend(parent_findings(input, is_package));
    findings
}

fn entry_finding(input: &DriftInput, links: &Links, i: usize) -> Option<Finding> {
    let e = &input.placed.tree.entries[i];
    let ci = input.placed.owner[i];
    let record = input.records.owner[i]
        .filter(|r| input.component_of_package[r.package] == ci)
        .map(|r| (r, &input.packages[r.package].files[r.file]))
        .filter(|(_, f)| f.installed && !f.flags.is_ghost() && type_matches(e, f.mode));
    let detail = match record {
        Some((r, f)) => compare(input, links, i, r, f),
        None => unrecorded(input, links, i),
    };
    detail.finding(ci, e.path.clone())
}

fn compare(input: &DriftInput, links: &Links, i: usize, r: Record, f: &PackageFile) -> Detail {
    let rules = input.placed.rules;
    let e = &input.placed.tree.entries[i];
    let mut d = Detail::default();
    if rules.mode(e) != f.mode & 0o7777 {
        d.add("mode", format!("{:o}", rules.mode(e)).as_bytes());
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
            let pkg = &input.packages[r.package];
            if let Some(content) = content_difference(input, e, pkg.digest_algo, f) {
                d.add("content", content.as_bytes());
            }
            let have = links.in_tree(input, i);
            if have != links.in_record(i, r, f) {
                d.add("links", &links.describe(input, &have));
            }
        }
        EntryKind::Directory => {}
    }
    if !e.is_dir() && rules.mtime(e) != rules.clamp(f.mtime) {
        d.add("mtime", rules.mtime(e).to_string().as_bytes());
    }
    if !xattrs_as_recorded(input, e, f) {
        d.add("xattrs", &xattr_bytes(input, e));
    }
    if let Some(label) = written_label(input, e) {
        d.add("selinux", label);
    }
    d
}

/// The SELinux label written for `e` (`--selinux keep` or `policy`): the rpmdb records none,
/// so a label is a difference of its own, told apart from other xattrs in reports.
fn written_label<'e>(input: &DriftInput, e: &'e Entry) -> Option<&'e [u8]> {
    input
        .placed
        .rules
        .xattrs(e)
        .find(|(n, _)| *n == SELINUX_XATTR)
        .map(|(_, v)| v)
}

/// `Some(identity)` when a regular file's content is not the recorded one. Reads the file
/// only when its size or mtime says it may have changed.
fn content_difference(input: &DriftInput, e: &Entry, algo: u32, f: &PackageFile) -> Option<String> {
    let touched = e.mtime != f.mtime && e.mtime != OSTREE_MTIME;
    if e.size == f.size && !touched {
        return None;
    }
    match digest::file_digest(input.placed.content, e, algo) {
        Ok((used, hex))
            if used == algo && e.size == f.size && f.digest.as_deref() == Some(&hex) =>
        {
            None
        }
        Ok((used, hex)) => Some(format!("{used}:{hex}")),
        // The writer will fail on it; until then the version says it could not be read.
        Err(err) => Some(format!("unreadable:{err}")),
    }
}

/// Whether every xattr the writer will write, but the SELinux label ([`written_label`]), is one
/// the record accounts for: only a `security.capability` equal to the recorded capability is.
fn xattrs_as_recorded(input: &DriftInput, e: &Entry, f: &PackageFile) -> bool {
    let want = f.caps.as_deref().map(caps::from_text);
    let mut seen_caps = false;
    for (name, value) in other_xattrs(input, e) {
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

fn xattr_bytes(input: &DriftInput, e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in other_xattrs(input, e) {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(hex::encode(value).as_bytes());
        out.push(b',');
    }
    out
}

/// The written xattrs but the SELinux label.
fn other_xattrs<'e>(
    input: &DriftInput,
    e: &'e Entry,
) -> impl Iterator<Item = (&'e OsStr, &'e [u8])> + 'e {
    input
        .placed
        .rules
        .xattrs(e)
        .filter(|(n, _)| *n != SELINUX_XATTR)
}

/// No usable record: the whole written record counts, content included.
fn unrecorded(input: &DriftInput, links: &Links, i: usize) -> Detail {
    let e = &input.placed.tree.entries[i];
    let first = links.first_of(input, i);
    let written = input.placed.rules.written(e, first);
    let content = match written.kind {
        rechunk_tree::WrittenKind::Regular { .. } => {
            match content_digest(input.placed.content, e) {
                Ok(d) => Some(d),
                Err(err) => {
                    // The writer will fail on it; until then the version says so.
                    let mut d = Detail::default();
                    d.add("unrecorded", format!("unreadable:{err}").as_bytes());
                    return d;
                }
            }
        }
        _ => None,
    };
    let mut d = Detail::default();
    d.add("unrecorded", &written.digest(content.as_ref()));
    d
}

/// Records whose path is not in their component: missing from the tree, or placed elsewhere
/// (but not in the rpm database's).
fn record_findings(input: &DriftInput, is_rpmdb: &[bool]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (pi, pkg) in input.packages.iter().enumerate() {
        let ci = input.component_of_package[pi];
        for (fi, f) in pkg.files.iter().enumerate() {
            if !f.installed || f.flags.is_ghost() {
                continue;
            }
            let (path, what) = match input.records.located[pi][fi] {
                None if never_in_an_image(input.index, &f.path) => continue,
                None => (PathBuf::from(f.path.trim_start_matches('/')), "missing"),
                Some(i) => {
                    let ours = input.records.owner[i].is_some_and(|r| r.package == pi);
                    let placed = input.placed.owner[i];
                    if !ours || placed == ci || is_rpmdb[placed] {
                        continue;
                    }
                    (input.placed.tree.entries[i].path.clone(), "elsewhere")
                }
            };
            let mut d = Detail::default();
            d.add(what, b"");
            out.extend(d.finding(ci, path));
        }
    }
    out
}

/// Parent directories a package component's layer holds, owned by another component, whose
/// written metadata says more than a synthetic parent would (root-owned 0755, no xattrs).
fn parent_findings(input: &DriftInput, is_package: &[bool]) -> Vec<Finding> {
    let tree = input.placed.tree;
    let rules = input.placed.rules;
    let dirs = DirIndex::new(tree);
    let owned = entries_by_component(input.placed.owner, is_package.len());
    let mut out = Vec::new();
    for (ci, entries) in owned.iter().enumerate() {
        if !is_package[ci] {
            continue;
        }
        for m in layer_members(tree, &dirs, entries) {
            let Member::Entry(i) = m else { continue };
            if input.placed.owner[i] == ci {
                continue;
            }
            let w = rules.written(&tree.entries[i], None);
            if !w.is_plain_dir() {
                let mut d = Detail::default();
                d.add("parent", &w.digest(None));
                out.extend(d.finding(ci, tree.entries[i].path.clone()));
            }
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

/// Hardlink sets: per tree inode, and per rpm (package, device, inode) among the records rpm
/// put on disk, as sorted entry indices.
struct Links {
    tree: HashMap<InodeId, Vec<usize>>,
    records: HashMap<(usize, (u32, u32)), Vec<usize>>,
}

impl Links {
    fn new(input: &DriftInput) -> Links {
        let mut tree: HashMap<InodeId, Vec<usize>> = HashMap::new();
        for (i, e) in input.placed.tree.entries.iter().enumerate() {
            if let Some(id) = e.hardlink {
                tree.entry(id).or_default().push(i);
            }
        }
        let mut records: HashMap<(usize, (u32, u32)), Vec<usize>> = HashMap::new();
        for (pi, pkg) in input.packages.iter().enumerate() {
            for (fi, f) in pkg.files.iter().enumerate() {
                if has_link_identity(f) {
                    let set = records.entry((pi, f.inode)).or_default();
                    set.extend(input.records.located[pi][fi]);
                }
            }
        }
        for set in records.values_mut() {
            set.sort_unstable();
        }
        Links { tree, records }
    }

    /// The entries sharing entry `i`'s inode (itself alone when it has no links).
    fn in_tree(&self, input: &DriftInput, i: usize) -> Vec<usize> {
        input.placed.tree.entries[i]
            .hardlink
            .and_then(|id| self.tree.get(&id).cloned())
            .unwrap_or_else(|| vec![i])
    }

    /// The entries rpm's records put in entry `i`'s set (itself alone without link identity).
    fn in_record(&self, i: usize, r: Record, f: &PackageFile) -> Vec<usize> {
        if !has_link_identity(f) {
            return vec![i];
        }
        self.records
            .get(&(r.package, f.inode))
            .cloned()
            .unwrap_or_else(|| vec![i])
    }

    /// The first path of entry `i`'s set when `i` is a later one: what its tar hardlink names.
    fn first_of<'t>(&self, input: &'t DriftInput, i: usize) -> Option<&'t Path> {
        let first = *self.in_tree(input, i).first()?;
        (first != i).then(|| input.placed.tree.entries[first].path.as_path())
    }

    fn describe(&self, input: &DriftInput, set: &[usize]) -> Vec<u8> {
        let paths: Vec<String> = set
            .iter()
            .map(|&i| input.placed.tree.entries[i].path.display().to_string())
            .collect();
        paths.join(",").into_bytes()
    }
}

/// Regular files rpm put on disk with an inode number (headers without FILEINODES give 0).
fn has_link_identity(f: &PackageFile) -> bool {
    f.installed && !f.flags.is_ghost() && f.is_regular() && f.inode.1 != 0
}
