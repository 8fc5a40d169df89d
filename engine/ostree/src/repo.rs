//! Reading commits out of an ostree repository with libostree (cargo feature `libostree`):
//! a commit as a [`Tree`] whose files are read in place ([`read_commit`], for `--from`), and a
//! ref's commit log with each commit's packages ([`commit_log`], for `--previous` and
//! `compare --history`). Nothing is checked out: directories, metadata and xattrs come from
//! the dirtree/dirmeta objects and the file objects' headers, contents from the objects
//! themselves ([`crate::content`]).

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ostree::gio;
use ostree::gio::prelude::*;
use ostree::glib;
use rechunk_rpmdb::Package;
use rechunk_tree::{belongs, path_order, Entry, EntryKind, Skipped, Tree};

use crate::content::{RepoContent, Storage};
use crate::object::Checksum;
use crate::reference::OstreeRef;
use crate::{
    CommitInfo, Error, PackageSource, Packages, IMAGE_CONFIG_KEY, MANIFEST_DIGEST_KEY, MANIFEST_KEY,
};

/// rpm-ostree's commit metadata listing the commit's packages: `a(sssss)`, name, epoch,
/// version, release, arch.
pub const PKGLIST_KEY: &str = "rpmostree.rpmdb.pkglist";

/// A commit read as a tree.
pub struct CommitTree {
    pub tree: Tree,
    /// Opens the tree's regular files in the repository.
    pub content: RepoContent,
    pub commit: CommitInfo,
    /// Paths left out by design (volatile directories' contents, skip xattr, caches).
    pub skipped: Vec<Skipped>,
}

/// A file object's metadata.
#[derive(Clone, Debug)]
struct FileMeta {
    uid: u32,
    gid: u32,
    /// With the file type bits.
    mode: u32,
    size: u64,
    symlink: Option<PathBuf>,
    xattrs: Vec<(std::ffi::OsString, Vec<u8>)>,
}

type Listing = (Vec<(String, Checksum)>, Vec<(String, Checksum, Checksum)>);

/// An open repository and what was already read from it.
struct Repo {
    repo: ostree::Repo,
    name: String,
    files: HashMap<Checksum, FileMeta>,
    listings: HashMap<Checksum, std::rc::Rc<Listing>>,
}

fn glib_err(what: String) -> impl FnOnce(glib::Error) -> Error {
    move |e| Error::Repo {
        what,
        reason: e.message().to_string(),
    }
}

impl Repo {
    fn open(r: &OstreeRef) -> Result<Repo, Error> {
        if !crate::reference::is_repo(&r.repo) {
            return Err(Error::Repo {
                what: r.repo.display().to_string(),
                reason: "not an ostree repository (no config and objects/)".into(),
            });
        }
        let repo = ostree::Repo::new_for_path(&r.repo);
        repo.open(gio::Cancellable::NONE).map_err(glib_err(format!(
            "opening ostree repository {}",
            r.repo.display()
        )))?;
        Ok(Repo {
            repo,
            name: r.to_string(),
            files: HashMap::new(),
            listings: HashMap::new(),
        })
    }

    fn resolve(&self, r: &OstreeRef) -> Result<Checksum, Error> {
        let rev = self
            .repo
            .resolve_rev(&r.rev, false)
            .map_err(glib_err(format!("resolving {}", self.name)))?
            .ok_or_else(|| Error::Repo {
                what: self.name.clone(),
                reason: "no such ref or commit".into(),
            })?;
        parse_hex(&rev, &self.name)
    }

    /// The commit's fields; an error when it is only partly in the repository.
    fn commit(&self, checksum: &Checksum, require_complete: bool) -> Result<CommitInfo, Error> {
        let hex = checksum.to_hex();
        let what = format!("commit {hex} of {}", self.name);
        let (v, state) = self
            .repo
            .load_commit(&hex)
            .map_err(glib_err(format!("loading {what}")))?;
        if require_complete && state.contains(ostree::RepoCommitState::PARTIAL) {
            return Err(Error::Repo {
                what,
                reason: "is partial: its files are not all in the repository (pulled with \
                         --commit-metadata-only?)"
                    .into(),
            });
        }
        commit_info(&v, hex, &what)
    }

    fn listing(&mut self, tree: &Checksum) -> Result<std::rc::Rc<Listing>, Error> {
        if let Some(l) = self.listings.get(tree) {
            return Ok(l.clone());
        }
        let hex = tree.to_hex();
        let what = format!("dirtree {hex} of {}", self.name);
        let v = self
            .repo
            .load_variant(ostree::ObjectType::DirTree, &hex)
            .map_err(glib_err(format!("loading {what}")))?;
        let (files_v, dirs_v) = (v.child_value(0), v.child_value(1));
        let mut files = Vec::with_capacity(files_v.n_children());
        for i in 0..files_v.n_children() {
            let f = files_v.child_value(i);
            let name = checked_name(&f.child_value(0), &what)?;
            files.push((name, checksum_of(&f.child_value(1), &what)?));
        }
        let mut dirs = Vec::with_capacity(dirs_v.n_children());
        for i in 0..dirs_v.n_children() {
            let d = dirs_v.child_value(i);
            let name = checked_name(&d.child_value(0), &what)?;
            dirs.push((
                name,
                checksum_of(&d.child_value(1), &what)?,
                checksum_of(&d.child_value(2), &what)?,
            ));
        }
        let l = std::rc::Rc::new((files, dirs));
        self.listings.insert(*tree, l.clone());
        Ok(l)
    }

    fn dirmeta(&self, meta: &Checksum) -> Result<ostree::DirMetaParsed, Error> {
        let hex = meta.to_hex();
        let what = format!("dirmeta {hex} of {}", self.name);
        let v = self
            .repo
            .load_variant(ostree::ObjectType::DirMeta, &hex)
            .map_err(glib_err(format!("loading {what}")))?;
        ostree::DirMetaParsed::from_variant(&v).map_err(|e| Error::Repo {
            what,
            reason: e.to_string(),
        })
    }

    fn file(&mut self, object: &Checksum) -> Result<FileMeta, Error> {
        if let Some(m) = self.files.get(object) {
            return Ok(m.clone());
        }
        let hex = object.to_hex();
        let what = format!("file object {hex} of {}", self.name);
        let (info, xattrs) = self
            .repo
            .query_file(&hex, gio::Cancellable::NONE)
            .map_err(glib_err(format!("loading {what}")))?;
        let symlink = match info.file_type() {
            gio::FileType::Regular => None,
            gio::FileType::SymbolicLink => {
                Some(info.symlink_target().ok_or_else(|| Error::Repo {
                    what: what.clone(),
                    reason: "a symlink without a target".into(),
                })?)
            }
            other => {
                return Err(Error::Repo {
                    what,
                    reason: format!("unexpected file type {other:?}"),
                })
            }
        };
        let meta = FileMeta {
            uid: info.attribute_uint32("unix::uid"),
            gid: info.attribute_uint32("unix::gid"),
            mode: info.attribute_uint32("unix::mode"),
            size: u64::try_from(info.size()).unwrap_or(0),
            symlink,
            xattrs: xattrs_of(&xattrs, &what)?,
        };
        self.files.insert(*object, meta.clone());
        Ok(meta)
    }

    /// The `objects/` directories content is read from: this repository's, then its parents'.
    fn object_dirs(&self) -> Vec<(PathBuf, Storage)> {
        let mut dirs = Vec::new();
        let mut repo = Some(self.repo.clone());
        while let Some(r) = repo {
            if let Some(path) = r.path().path() {
                let storage = match r.mode() {
                    ostree::RepoMode::Archive => Storage::Archive,
                    _ => Storage::Bare,
                };
                dirs.push((path.join("objects"), storage));
            }
            repo = r.parent();
        }
        dirs
    }

    /// The file object at `path` in the tree `root`, following symlinks inside the commit.
    fn find_file(
        &mut self,
        root: &Checksum,
        path: &str,
    ) -> Result<Option<(Checksum, FileMeta)>, Error> {
        let mut parts: VecDeque<String> = path.split('/').map(str::to_string).collect();
        let mut dirs = vec![*root];
        let mut hops = 0;
        while let Some(part) = parts.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    if dirs.len() > 1 {
                        dirs.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let Some(&here) = dirs.last() else {
                return Ok(None);
            };
            let listing = self.listing(&here)?;
            if let Some((_, sub, _)) = listing.1.iter().find(|(n, _, _)| *n == part) {
                dirs.push(*sub);
                continue;
            }
            let Some((_, object)) = listing.0.iter().find(|(n, _)| *n == part) else {
                return Ok(None);
            };
            let meta = self.file(object)?;
            match &meta.symlink {
                Some(target) => {
                    hops += 1;
                    if hops > 40 {
                        return Ok(None);
                    }
                    let target = target.to_string_lossy();
                    if target.starts_with('/') {
                        dirs.truncate(1);
                    }
                    for p in target.split('/').rev() {
                        parts.push_front(p.to_string());
                    }
                }
                None if parts.iter().all(|p| p.is_empty() || p == ".") => {
                    return Ok(Some((*object, meta)))
                }
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// Reads the commit `r` names as a tree (see the module doc). `entries` counts entries read.
pub fn read_commit(r: &OstreeRef, entries: Option<&AtomicU64>) -> Result<CommitTree, Error> {
    let mut repo = Repo::open(r)?;
    let checksum = repo.resolve(r)?;
    let commit = repo.commit(&checksum, true)?;
    let name = PathBuf::from(r.to_string());
    let mut tree = Tree {
        root: name.clone(),
        entries: Vec::new(),
    };
    let mut by_path = HashMap::new();
    let mut stack = vec![(PathBuf::new(), commit.root_tree)];
    while let Some((dir, listing)) = stack.pop() {
        let listing = repo.listing(&listing)?;
        for (name, object) in &listing.0 {
            let path = dir.join(name);
            let meta = repo.file(object)?;
            let kind = match &meta.symlink {
                Some(target) => EntryKind::Symlink(target.clone()),
                None => {
                    by_path.insert(path.clone(), *object);
                    EntryKind::Regular
                }
            };
            tree.entries.push(Entry {
                path,
                size: if kind == EntryKind::Regular {
                    meta.size
                } else {
                    0
                },
                kind,
                mode: meta.mode & 0o7777,
                uid: meta.uid,
                gid: meta.gid,
                // ostree keeps no mtimes; a checkout gives every file 0.
                mtime: 0,
                xattrs: meta.xattrs,
                hardlink: None,
            });
            count(entries);
        }
        for (name, sub, meta) in &listing.1 {
            let path = dir.join(name);
            let m = repo.dirmeta(meta)?;
            tree.entries.push(Entry {
                path: path.clone(),
                kind: EntryKind::Directory,
                mode: m.mode & 0o7777,
                uid: m.uid,
                gid: m.gid,
                size: 0,
                mtime: 0,
                xattrs: m.xattrs.into_iter().map(|(n, v)| (name_of(n), v)).collect(),
                hardlink: None,
            });
            count(entries);
            stack.push((path, *sub));
        }
    }
    tree.entries.sort_by(|a, b| path_order(&a.path, &b.path));
    belongs::check_boot(&tree)?;
    let content = RepoContent::new(name, repo.object_dirs(), by_path);
    let (tree, skipped) = belongs::prune(tree, &content)?;
    Ok(CommitTree {
        tree,
        content,
        commit,
        skipped,
    })
}

fn count(entries: Option<&AtomicU64>) {
    if let Some(n) = entries {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// The commits of `r`, newest first, following parents while they are in the repository;
/// each with its packages when `packages` is set: from the commit's rpm database when its
/// files are there, else from rpm-ostree's [`PKGLIST_KEY`] metadata, else none. The rpm
/// database is copied into a temporary directory under `tmpdir` to be read.
pub fn commit_log(r: &OstreeRef, packages: bool, tmpdir: &Path) -> Result<Vec<CommitInfo>, Error> {
    let mut repo = Repo::open(r)?;
    let mut next = Some(repo.resolve(r)?);
    let mut log = Vec::new();
    // The database object of the commit before, and what it held: unchanged databases are
    // read once.
    let mut last_db: Option<(Checksum, Vec<Package>)> = None;
    while let Some(checksum) = next {
        let exists = repo
            .repo
            .load_variant_if_exists(ostree::ObjectType::Commit, &checksum.to_hex())
            .map_err(glib_err(format!(
                "loading commit {checksum} of {}",
                repo.name
            )))?
            .is_some();
        if !exists {
            break;
        }
        let mut info = repo.commit(&checksum, false)?;
        if packages {
            info.packages = commit_packages(&mut repo, &info, &mut last_db, tmpdir)?;
        }
        next = info.parent;
        log.push(info);
    }
    Ok(log)
}

fn commit_packages(
    repo: &mut Repo,
    info: &CommitInfo,
    last_db: &mut Option<(Checksum, Vec<Package>)>,
    tmpdir: &Path,
) -> Result<Option<Packages>, Error> {
    for dir in rechunk_rpmdb::DB_DIRS {
        let db = match repo.find_file(&info.root_tree, &format!("{dir}/rpmdb.sqlite")) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            // Part of the commit's tree is not in the repository: try its package list.
            Err(_) => break,
        };
        if let Some((sum, pkgs)) = last_db.as_ref() {
            if *sum == db.0 {
                return Ok(Some(Packages {
                    source: PackageSource::Rpmdb,
                    packages: pkgs.clone(),
                }));
            }
        }
        let wal = repo.find_file(&info.root_tree, &format!("{dir}/rpmdb.sqlite-wal"))?;
        let read = read_rpmdb(repo, &info.checksum, &db, wal.as_ref(), tmpdir)?;
        *last_db = Some((db.0, read.clone()));
        return Ok(Some(Packages {
            source: PackageSource::Rpmdb,
            packages: read,
        }));
    }
    Ok(info.pkglist.clone().map(|packages| Packages {
        source: PackageSource::Pkglist,
        packages,
    }))
}

/// Copies the database (and its write-ahead log) out of the repository and reads it.
fn read_rpmdb(
    repo: &Repo,
    commit: &str,
    db: &(Checksum, FileMeta),
    wal: Option<&(Checksum, FileMeta)>,
    tmpdir: &Path,
) -> Result<Vec<Package>, Error> {
    let shown = PathBuf::from(format!("{}@{commit}/rpmdb.sqlite", repo.name));
    let content = RepoContent::new(shown.clone(), repo.object_dirs(), HashMap::new());
    let tmp = tempfile::Builder::new()
        .prefix(".rechunk-rpmdb-")
        .tempdir_in(tmpdir)
        .map_err(|e| Error::io("creating a directory to read an rpm database in", tmpdir, e))?;
    let copy = tmp.path().join("rpmdb.sqlite");
    let copy_one = |object: &(Checksum, FileMeta), to: &Path| -> Result<(), Error> {
        let mut from = content
            .open_object(&object.0, object.1.size)
            .map_err(|e| Error::io("reading", &shown, e))?;
        let mut out = std::fs::File::create(to).map_err(|e| Error::io("creating", to, e))?;
        io::copy(&mut from, &mut out).map_err(|e| Error::io("writing", to, e))?;
        Ok(())
    };
    copy_one(db, &copy)?;
    if let Some(wal) = wal {
        copy_one(wal, &tmp.path().join("rpmdb.sqlite-wal"))?;
    }
    let read = rechunk_rpmdb::read(&copy, &rechunk_rpmdb::ReadOptions::default()).map_err(|e| {
        Error::Repo {
            what: shown.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    Ok(read.packages)
}

fn commit_info(v: &glib::Variant, checksum: String, what: &str) -> Result<CommitInfo, Error> {
    let meta = glib::VariantDict::new(Some(&v.child_value(0)));
    let parent = v.child_value(1);
    let parent = if parent.n_children() == 0 {
        None
    } else {
        Some(checksum_of(&parent, what)?)
    };
    let string = |key: &str| {
        meta.lookup_value(key, Some(glib::VariantTy::STRING))
            .and_then(|v| v.str().map(str::to_string))
    };
    let pkglist = meta
        .lookup_value(PKGLIST_KEY, None)
        .map(|v| pkglist(&v, what))
        .transpose()?;
    Ok(CommitInfo {
        checksum,
        parent,
        subject: v.child_value(3).str().unwrap_or_default().to_string(),
        timestamp: i64::try_from(u64::from_be(v.child_value(5).get::<u64>().unwrap_or(0)))
            .unwrap_or(i64::MAX),
        root_tree: checksum_of(&v.child_value(6), what)?,
        version: string("version"),
        image_manifest: string(MANIFEST_KEY),
        image_config: string(IMAGE_CONFIG_KEY),
        image_manifest_digest: string(MANIFEST_DIGEST_KEY),
        pkglist,
        packages: None,
    })
}

/// `a(sssss)`: name, epoch, version, release, arch; an epoch of "" or "0" is none.
fn pkglist(v: &glib::Variant, what: &str) -> Result<Vec<Package>, Error> {
    let bad = || Error::Repo {
        what: what.to_string(),
        reason: format!("{PKGLIST_KEY} is not of type a(sssss)"),
    };
    if v.type_().as_str() != "a(sssss)" {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(v.n_children());
    for i in 0..v.n_children() {
        let p = v.child_value(i);
        let field = |k: usize| p.child_value(k).str().unwrap_or_default().to_string();
        let epoch = match field(1).as_str() {
            "" | "0" => None,
            e => Some(e.parse().map_err(|_| bad())?),
        };
        out.push(Package {
            hnum: i as i64,
            name: field(0),
            epoch,
            version: field(2),
            release: field(3),
            arch: field(4),
            source_rpm: None,
            size: 0,
            build_time: 0,
            changelog_times: Vec::new(),
            digest_algo: 0,
            files: Vec::new(),
            requires: Vec::new(),
            provides: Vec::new(),
        });
    }
    Ok(out)
}

fn checksum_of(v: &glib::Variant, what: &str) -> Result<Checksum, Error> {
    let bytes = v.data();
    let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::Repo {
        what: what.to_string(),
        reason: format!("a checksum of {} bytes", bytes.len()),
    })?;
    Ok(Checksum(arr))
}

fn parse_hex(s: &str, what: &str) -> Result<Checksum, Error> {
    Checksum::from_hex(s).ok_or_else(|| Error::Repo {
        what: what.to_string(),
        reason: format!("{s:?} is not a checksum"),
    })
}

/// A name in a dirtree: one path component, as ostree itself requires.
fn checked_name(v: &glib::Variant, what: &str) -> Result<String, Error> {
    let name = v.str().unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(Error::Repo {
            what: what.to_string(),
            reason: format!("invalid file name {name:?}"),
        });
    }
    Ok(name.to_string())
}

/// `a(ayay)` → names without their NUL, values.
fn xattrs_of(v: &glib::Variant, what: &str) -> Result<Vec<(std::ffi::OsString, Vec<u8>)>, Error> {
    let mut out = Vec::with_capacity(v.n_children());
    for i in 0..v.n_children() {
        let pair = v.child_value(i);
        let name = pair.child_value(0).data().to_vec();
        if name.is_empty() {
            return Err(Error::Repo {
                what: what.to_string(),
                reason: "an xattr without a name".into(),
            });
        }
        out.push((name_of(name), pair.child_value(1).data().to_vec()));
    }
    out.sort();
    Ok(out)
}

fn name_of(mut name: Vec<u8>) -> std::ffi::OsString {
    if name.last() == Some(&0) {
        name.pop();
    }
    std::ffi::OsString::from_vec(name)
}
