//! Path → component assignment: which component every scanned entry belongs to, and the rule
//! that put it there.
//!
//! Rules, first match wins:
//! 1. [`Rule::Xattr`]: the entry or its nearest ancestor carries `user.component` (rpm-ostree
//!    and chunkah read it the same way); the value is the component name.
//! 2. [`Rule::Package`]: an installed package lists the path (resolved inside the tree, so
//!    `/bin/bash` finds `usr/bin/bash` behind `bin -> usr/bin`; `/etc/x` falls back to
//!    `usr/etc/x` on ostree-style trees). When several packages list a path, the owner is the
//!    first by: a real (non-ghost) claim, then a claim whose file type matches the tree, then
//!    package name, then NEVRA. With `group_by_source` the component is the source package.
//! 3. [`Rule::Rpmdb`]: unowned content under the rpm database directory.
//! 4. [`Rule::Initramfs`]: `usr/lib/modules/*/initramfs.img`, rebuilt on every build.
//! 5. [`Rule::BigFile`]: any other unowned regular file of at least 1 MiB, on its own.
//! 6. [`Rule::TopLevelDir`]: the rest, one component per top-level directory
//!    (`unpackaged:/etc`, `unpackaged:/opt`, `unpackaged:/` for files in the root itself).
//!
//! Afterwards every link of a hardlinked inode joins the component of its strongest link (by
//! the rule order above, then path) as [`Rule::Hardlink`]: one inode cannot span layers.
//!
//! Versions move exactly when what the image writer writes for a component does: a package
//! component's is its EVR (`1.0-1.x86_64`; a source group: a digest of its NEVRAs), plus `+`
//! and a digest of the differences when its entries differ from the rpmdb records
//! ([`crate::drift`]); every other component's is a digest of everything it holds, content and
//! written mtimes included.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rechunk_model::{Component, ComponentKind};
use rechunk_rpmdb::Package;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::accounts::Accounts;
use crate::drift::{find_drift, Claim, Drift, DriftInput};
use crate::resolve::TreeIndex;
use crate::{Entry, EntryKind, InodeId, Tree};

/// The xattr that names an entry's component (inherited by a directory's children).
pub const COMPONENT_XATTR: &str = "user.component";

/// Bytes of the drift digest appended to a package component's version (16 hex digits).
const DRIFT_DIGEST_BYTES: usize = 8;

/// Unowned regular files at least this big become their own component.
pub const BIG_FILE: u64 = 1 << 20;

/// Which rule placed an entry (see the module doc for the order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Xattr,
    Package,
    Rpmdb,
    Initramfs,
    BigFile,
    TopLevelDir,
    Hardlink,
}

/// The assignment of one tree.
#[derive(Debug, Default)]
pub struct Assignment {
    /// Sorted by name.
    pub components: Vec<Component>,
    /// Per tree entry: index into `components`.
    pub owner: Vec<usize>,
    /// Per tree entry: the rule that chose the owner.
    pub rule: Vec<Rule>,
    /// Per tree entry: the package (index into the package list) whose record owns the
    /// path, whatever rule won; used for the `rpm -V` checks.
    pub package_of: Vec<Option<usize>>,
    /// Where package components differ from their records (what moved their versions).
    pub drift: Vec<Drift>,
}

/// Inputs besides the tree.
pub struct AssignInput<'a> {
    pub packages: &'a [Package],
    /// Real relative paths of the rpm database directories found in the tree.
    pub rpmdb_dirs: &'a [PathBuf],
    pub group_by_source: bool,
    /// See [`crate::LoadOptions::clamp_mtime`].
    pub clamp_mtime: Option<i64>,
    /// The tree's user and group ids, to check owners against recorded names.
    pub accounts: &'a Accounts,
}

/// Where one entry goes before components are numbered.
struct Placement {
    name: String,
    kind: ComponentKind,
    rule: Rule,
}

/// Assigns every entry of `tree` to a component.
pub fn assign(tree: &Tree, index: &TreeIndex, input: &AssignInput) -> Assignment {
    let claims = package_claims(tree, index, input.packages);
    let package_of: Vec<Option<usize>> =
        claims.claim.iter().map(|c| c.map(|c| c.package)).collect();
    let names = package_component_names(input.packages, input.group_by_source);
    let xattr = inherited_xattr_components(tree, index);
    let mut placements: Vec<Placement> = tree
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| place(e, xattr[i].as_deref(), package_of[i], &names, input))
        .collect();
    join_hardlinks(tree, &mut placements);
    build(tree, index, placements, &claims, package_of, input)
}

/// Which record owns each entry, and where each record's path is.
struct Claims {
    /// Per entry: the winning record (after the multiple-owner rule).
    claim: Vec<Option<Claim>>,
    /// Per package, per file record: the entry its path names (installed or ghost records).
    located: Vec<Vec<Option<usize>>>,
}

/// Per entry, the record that owns it (after the multiple-owner rule).
fn package_claims(tree: &Tree, index: &TreeIndex, packages: &[Package]) -> Claims {
    // (not ghost, type matches, name, nevra) ranks claims; smallest wins.
    type Rank<'p> = (bool, bool, &'p str, String);
    let mut best: Vec<Option<(Rank, Claim)>> = vec![None; tree.entries.len()];
    let mut located: Vec<Vec<Option<usize>>> = Vec::with_capacity(packages.len());
    for (pi, pkg) in packages.iter().enumerate() {
        let mut found = vec![None; pkg.files.len()];
        for (fi, f) in pkg.files.iter().enumerate() {
            if !(f.installed || f.flags.is_ghost()) {
                continue;
            }
            let Some(i) = find_package_path(index, &f.path) else {
                continue;
            };
            found[fi] = Some(i);
            let e = &tree.entries[i];
            let rank = (
                f.flags.is_ghost(),
                !type_matches(e, f.mode),
                pkg.name.as_str(),
                pkg.nevra(),
            );
            if best[i].as_ref().is_none_or(|(r, _)| rank < *r) {
                best[i] = Some((
                    rank,
                    Claim {
                        package: pi,
                        file: fi,
                    },
                ));
            }
        }
        located.push(found);
    }
    Claims {
        claim: best.into_iter().map(|b| b.map(|(_, c)| c)).collect(),
        located,
    }
}

/// The tree entry an rpm path names, through symlinked directories, with the `/usr/etc`
/// fallback for ostree-style trees.
pub(crate) fn find_package_path(index: &TreeIndex, path: &str) -> Option<usize> {
    let lookup = |p: &Path| {
        index
            .resolve(p, false)
            .ok()
            .and_then(|real| index.get(&real))
    };
    lookup(Path::new(path)).or_else(|| {
        let rest = path.strip_prefix("/etc")?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        lookup(Path::new(&format!("/usr/etc{rest}")))
    })
}

pub(crate) fn type_matches(e: &Entry, rpm_mode: u32) -> bool {
    use rechunk_rpmdb::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
    let want = match e.kind {
        EntryKind::Regular => S_IFREG,
        EntryKind::Directory => S_IFDIR,
        EntryKind::Symlink(_) => S_IFLNK,
    };
    rpm_mode & S_IFMT == want
}

/// Component name of each package: its name, or with `group_by_source` its source package;
/// names shared by several packages (multilib, gpg-pubkey) get `.arch`, then the full NEVRA.
fn package_component_names(packages: &[Package], group_by_source: bool) -> Vec<String> {
    if group_by_source {
        return packages
            .iter()
            .map(|p| p.source_name().unwrap_or(&p.name).to_owned())
            .collect();
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for p in packages {
        *count.entry(&p.name).or_default() += 1;
    }
    let with_arch: Vec<String> = packages
        .iter()
        .map(|p| match count[p.name.as_str()] {
            1 => p.name.clone(),
            _ if p.arch.is_empty() => p.nevra(),
            _ => format!("{}.{}", p.name, p.arch),
        })
        .collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for n in &with_arch {
        *count.entry(n).or_default() += 1;
    }
    packages
        .iter()
        .zip(&with_arch)
        .map(|(p, n)| {
            if count[n.as_str()] > 1 {
                p.nevra()
            } else {
                n.clone()
            }
        })
        .collect()
}

/// Per entry, its own `user.component` or the nearest ancestor's.
fn inherited_xattr_components(tree: &Tree, index: &TreeIndex) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::with_capacity(tree.entries.len());
    for e in &tree.entries {
        let own = e
            .xattrs
            .iter()
            .find(|(n, _)| n == COMPONENT_XATTR)
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
            .filter(|v| !v.is_empty());
        // Entries are sorted parents first, so the parent's value is already known.
        let inherited = || {
            let parent = e.path.parent()?;
            out.get(index.get(parent)?).cloned().flatten()
        };
        let value = own.or_else(inherited);
        out.push(value);
    }
    out
}

fn place(
    e: &Entry,
    xattr: Option<&str>,
    package: Option<usize>,
    names: &[String],
    input: &AssignInput,
) -> Placement {
    let p = |name: String, kind, rule| Placement { name, kind, rule };
    if let Some(name) = xattr {
        return p(name.to_owned(), ComponentKind::Xattr, Rule::Xattr);
    }
    if let Some(pi) = package {
        let kind = if input.group_by_source {
            ComponentKind::SourcePackage
        } else {
            ComponentKind::Package
        };
        return p(names[pi].clone(), kind, Rule::Package);
    }
    if let Some(dir) = input.rpmdb_dirs.iter().find(|d| e.path.starts_with(d)) {
        let name = format!("rpmdb:/{}", dir.display());
        return p(name, ComponentKind::Rpmdb, Rule::Rpmdb);
    }
    if e.kind == EntryKind::Regular {
        if is_initramfs(&e.path) {
            let name = "initramfs:/usr/lib/modules".to_owned();
            return p(name, ComponentKind::Initramfs, Rule::Initramfs);
        }
        if e.size >= BIG_FILE {
            let name = format!("file:/{}", e.path.display());
            return p(name, ComponentKind::BigFile, Rule::BigFile);
        }
    }
    let top = match e.path.components().count() {
        1 if e.kind != EntryKind::Directory => String::new(),
        _ => e
            .path
            .iter()
            .next()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    p(
        format!("unpackaged:/{top}"),
        ComponentKind::Unpackaged,
        Rule::TopLevelDir,
    )
}

fn is_initramfs(path: &Path) -> bool {
    let parts: Vec<_> = path.iter().collect();
    matches!(parts.as_slice(), [u, l, m, _kver, f]
        if *u == "usr" && *l == "lib" && *m == "modules" && *f == "initramfs.img")
}

/// Every link of one inode goes where its strongest link went: the first by rule order
/// (xattr, package, ... top-level dir), then path. One inode cannot span layers.
fn join_hardlinks(tree: &Tree, placements: &mut [Placement]) {
    let mut head: HashMap<InodeId, usize> = HashMap::new();
    for (i, e) in tree.entries.iter().enumerate() {
        let Some(id) = e.hardlink else { continue };
        let h = head.entry(id).or_insert(i);
        if placements[i].rule < placements[*h].rule {
            *h = i;
        }
    }
    for (i, e) in tree.entries.iter().enumerate() {
        let Some(h) = e.hardlink.and_then(|id| head.get(&id).copied()) else {
            continue;
        };
        if placements[h].name != placements[i].name {
            placements[i] = Placement {
                name: placements[h].name.clone(),
                kind: placements[h].kind,
                rule: Rule::Hardlink,
            };
        }
    }
}

/// Numbers the components (sorted by name) and fills in their sizes, versions and metadata.
fn build(
    tree: &Tree,
    index: &TreeIndex,
    placements: Vec<Placement>,
    claims: &Claims,
    package_of: Vec<Option<usize>>,
    input: &AssignInput,
) -> Assignment {
    // Every package is a component, even one whose files are all missing or that has none.
    let names = package_component_names(input.packages, input.group_by_source);
    let mut kinds: BTreeMap<String, ComponentKind> = BTreeMap::new();
    let package_kind = if input.group_by_source {
        ComponentKind::SourcePackage
    } else {
        ComponentKind::Package
    };
    for n in &names {
        kinds.insert(n.clone(), package_kind);
    }
    for pl in &placements {
        kinds.entry(pl.name.clone()).or_insert(pl.kind);
    }
    let number: HashMap<&str, usize> = kinds
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let owner: Vec<usize> = placements
        .iter()
        .map(|pl| number[pl.name.as_str()])
        .collect();
    let rule = placements.iter().map(|pl| pl.rule).collect();

    let mut members: Vec<Vec<usize>> = vec![Vec::new(); kinds.len()];
    for (pi, n) in names.iter().enumerate() {
        members[number[n.as_str()]].push(pi);
    }
    let mut components: Vec<Component> = kinds
        .iter()
        .enumerate()
        .map(|(ci, (name, kind))| {
            let mut c = Component::new(name.clone(), *kind, String::new(), 0);
            fill_package_metadata(&mut c, &members[ci], input.packages);
            c
        })
        .collect();
    add_sizes(tree, &owner, &mut components);
    set_content_versions(tree, &owner, input.clamp_mtime, &mut components);
    let mut component_of_package = vec![0; input.packages.len()];
    for (ci, m) in members.iter().enumerate() {
        for &pi in m {
            component_of_package[pi] = ci;
        }
    }
    let drift_input = DriftInput {
        tree,
        index,
        packages: input.packages,
        claim: &claims.claim,
        located: &claims.located,
        owner: &owner,
        component_of_package: &component_of_package,
        accounts: input.accounts,
        clamp_mtime: input.clamp_mtime,
    };
    let drift = apply_drift(&drift_input, &members, &mut components);
    resolve_requires(
        tree,
        &owner,
        &package_of,
        &members,
        input.packages,
        &mut components,
    );
    Assignment {
        components,
        owner,
        rule,
        package_of,
        drift,
    }
}

/// Appends `+` and a digest of its differences to the version of every package component
/// whose entries differ from their records (see [`crate::drift`]); returns the differences
/// sorted by component and path.
fn apply_drift(
    input: &DriftInput,
    members: &[Vec<usize>],
    components: &mut [Component],
) -> Vec<Drift> {
    let is_package: Vec<bool> = members.iter().map(|m| !m.is_empty()).collect();
    let mut findings = find_drift(input, &is_package);
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

/// Version, source, build time and changelog of a (source-)package component.
fn fill_package_metadata(c: &mut Component, members: &[usize], packages: &[Package]) {
    let pkgs: Vec<&Package> = members.iter().map(|&pi| &packages[pi]).collect();
    match pkgs.as_slice() {
        [] => {}
        [p] => {
            c.version = format!("{}.{}", p.evr(), p.arch);
            c.source = p.source_name().map(str::to_owned);
        }
        many => {
            let mut nevras: Vec<String> = many.iter().map(|p| p.nevra()).collect();
            nevras.sort();
            c.version = short_digest(nevras.join("\n").as_bytes());
            c.source = many[0].source_name().map(str::to_owned);
        }
    }
    c.build_time = pkgs.iter().map(|p| p.build_time).max();
    let mut times: Vec<i64> = pkgs
        .iter()
        .flat_map(|p| p.changelog_times.iter().copied())
        .collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    times.dedup();
    c.changelog_times = times;
}

/// Sizes count regular-file bytes once per inode per component; `files` counts non-directories.
fn add_sizes(tree: &Tree, owner: &[usize], components: &mut [Component]) {
    let mut seen: BTreeSet<(usize, InodeId)> = BTreeSet::new();
    for (e, &ci) in tree.entries.iter().zip(owner) {
        if e.is_dir() {
            continue;
        }
        components[ci].files += 1;
        if e.kind == EntryKind::Regular && e.hardlink.is_none_or(|id| seen.insert((ci, id))) {
            components[ci].size += e.size;
        }
    }
}

/// Non-package components get a digest over their entries (path, type, mode, owner, size,
/// link target, xattrs, the content and the mtime the image writer will write for files and
/// symlinks): it changes iff what would go into the image changes, so the layer key moves with
/// the layer's bytes. Directory mtimes are left out: the writer does not keep them. Only
/// unowned content is read, in parallel.
fn set_content_versions(
    tree: &Tree,
    owner: &[usize],
    clamp_mtime: Option<i64>,
    components: &mut [Component],
) {
    let unversioned: Vec<usize> = (0..tree.entries.len())
        .filter(|&i| components[owner[i]].version.is_empty())
        .collect();
    let contents: Vec<Option<[u8; 32]>> = unversioned
        .par_iter()
        .map(|&i| {
            let e = &tree.entries[i];
            (e.kind == EntryKind::Regular)
                .then(|| content_digest(&tree.root.join(&e.path)))
                .flatten()
        })
        .collect();
    let mut hashers: HashMap<usize, Sha256> = HashMap::new();
    for (&i, content) in unversioned.iter().zip(&contents) {
        let e = &tree.entries[i];
        let h = hashers.entry(owner[i]).or_default();
        h.update(e.path.as_os_str().as_encoded_bytes());
        let (kind, link) = match &e.kind {
            EntryKind::Regular => ('f', &b""[..]),
            EntryKind::Directory => ('d', &b""[..]),
            EntryKind::Symlink(t) => ('l', t.as_os_str().as_encoded_bytes()),
        };
        h.update(format!(
            "\0{kind}\0{:o}\0{}\0{}\0{}\0",
            e.mode, e.uid, e.gid, e.size
        ));
        h.update(link);
        if e.kind != EntryKind::Directory {
            let written = clamp_mtime.map_or(e.mtime, |c| e.mtime.min(c));
            h.update(written.to_le_bytes());
        }
        if let Some(d) = content {
            h.update(d);
        }
        for (n, v) in &e.xattrs {
            h.update(n.as_encoded_bytes());
            h.update(v);
        }
        h.update(b"\n");
    }
    for (ci, h) in hashers {
        components[ci].version = hex::encode(&h.finalize()[..16]);
    }
}

/// SHA-256 of a regular file's content, opened without following a symlink.
fn content_digest(path: &Path) -> Option<[u8; 32]> {
    use std::io::Read;
    let flags =
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, rustix::fs::Mode::empty()).ok()?;
    let mut file = std::fs::File::from(fd);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(h.finalize().into()),
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return None,
        }
    }
}

fn short_digest(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// Requires → provides (and file requires → the file's owner), as component names.
fn resolve_requires(
    tree: &Tree,
    owner: &[usize],
    package_of: &[Option<usize>],
    members: &[Vec<usize>],
    packages: &[Package],
    components: &mut [Component],
) {
    let mut component_of_package = vec![usize::MAX; packages.len()];
    for (ci, m) in members.iter().enumerate() {
        for &pi in m {
            component_of_package[pi] = ci;
        }
    }
    let mut providers: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    for (pi, p) in packages.iter().enumerate() {
        for name in &p.provides {
            providers
                .entry(name)
                .or_default()
                .insert(component_of_package[pi]);
        }
    }
    let mut file_owner: HashMap<String, usize> = HashMap::new();
    for (i, e) in tree.entries.iter().enumerate() {
        if package_of[i].is_some() {
            file_owner.insert(format!("/{}", e.path.display()), owner[i]);
        }
    }
    for (ci, m) in members.iter().enumerate() {
        let mut deps: BTreeSet<usize> = BTreeSet::new();
        for &pi in m {
            for req in &packages[pi].requires {
                if let Some(set) = providers.get(req.as_str()) {
                    deps.extend(set.iter().copied());
                } else if let Some(&o) = file_owner.get(req) {
                    deps.insert(o);
                }
            }
        }
        deps.remove(&ci);
        let names: Vec<String> = deps.iter().map(|&d| components[d].name.clone()).collect();
        components[ci].requires = names;
    }
}
