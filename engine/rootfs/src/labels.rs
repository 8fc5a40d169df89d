//! SELinux labels under `--selinux` ([`SelinuxMode`]): which label each entry carries into
//! its layer is decided here, once, before components and versions are computed, so that the
//! writer and the versions see the same `security.selinux` values.
//!
//! - `policy`: [`apply_policy`] sets every entry's label to what the tree's OWN policy gives
//!   its path and file type, as `setfiles` and rpm-ostree label a commit: `SELINUXTYPE` from
//!   `etc/selinux/config`, rules from `etc/selinux/<type>/contexts/files/` (`file_contexts`,
//!   `.homedirs`, `.local`, `.subs`, `.subs_dist`), matched by [`rechunk_selinux`]. An
//!   ostree-style tree whose configuration lives in `usr/etc` is read from there, and its
//!   `usr/etc/...` paths are labelled as the `/etc/...` they become when booted. A path the
//!   policy says `<<none>>` for, or that no rule matches, gets no label. A hardlinked file
//!   carries the label of the first of its paths in its layer (one inode, one label).
//! - `keep`: labels are written as found; [`host_label_warning`] says when they look like a
//!   build host's (a container type or MCS categories), which would change every layer on
//!   every build.
//! - `strip` (default): nothing to do here; the writer leaves the host xattrs out.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rechunk_selinux::{selinux_type, FileContexts, FileKind, PolicyFiles};
use rechunk_tree::{ContentSource, Entry, EntryKind, Tree, SELINUX_XATTR};
use serde::Serialize;

use crate::error::{Error, Warning, WarningKind};
use crate::resolve::TreeIndex;
use crate::small_file::read_small;

/// The policy files are a few MiB in real policies (Fedora's `file_contexts` is ~1 MiB).
const MAX_POLICY_FILE: u64 = 64 << 20;

/// Where the SELinux configuration may live, with the prefix its paths are labelled under.
const CONFIG_DIRS: [(&str, &str); 2] = [("etc/selinux", ""), ("usr/etc/selinux", "usr/etc")];

/// The SELinux types a build container labels its files with: never a booted system's.
const CONTAINER_TYPES: [&str; 4] = [
    "container_file_t",
    "container_ro_file_t",
    "container_var_lib_t",
    "svirt_sandbox_file_t",
];

/// What `--selinux policy` did to a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyLabels {
    /// The `contexts/files` directory the rules came from (full path).
    pub policy: PathBuf,
    /// Rules loaded from it.
    pub rules: usize,
    /// Entries that now carry a label.
    pub labelled: usize,
    /// Entries the policy gives no label (`<<none>>` or no rule).
    pub unlabelled: usize,
}

/// Labels every entry of `tree` from the tree's own policy (see the module doc).
pub fn apply_policy(tree: &mut Tree, content: &dyn ContentSource) -> Result<PolicyLabels, Error> {
    let (labels, mut summary) = {
        let index = TreeIndex::new(tree);
        let (contexts, etc_prefix, policy) = load_policy(tree, &index, content)?;
        let labels: Vec<Option<Vec<u8>>> = tree
            .entries
            .par_iter()
            .map(|e| label_of(&contexts, etc_prefix, e))
            .collect();
        let summary = PolicyLabels {
            policy,
            rules: contexts.len(),
            labelled: 0,
            unlabelled: 0,
        };
        (labels, summary)
    };
    for (e, label) in tree.entries.iter_mut().zip(labels) {
        e.xattrs.retain(|(n, _)| n != SELINUX_XATTR);
        match label {
            Some(value) => {
                summary.labelled += 1;
                let at = e
                    .xattrs
                    .partition_point(|(n, _)| n.as_os_str() < std::ffi::OsStr::new(SELINUX_XATTR));
                e.xattrs.insert(at, (OsString::from(SELINUX_XATTR), value));
            }
            None => summary.unlabelled += 1,
        }
    }
    Ok(summary)
}

/// The label `e` gets, as the kernel stores it (NUL-terminated, as `setfiles` writes it).
fn label_of(contexts: &FileContexts, etc_prefix: &str, e: &Entry) -> Option<Vec<u8>> {
    let kind = match e.kind {
        EntryKind::Regular => FileKind::Regular,
        EntryKind::Directory => FileKind::Directory,
        EntryKind::Symlink(_) => FileKind::Symlink,
    };
    let path = booted_path(&e.path, etc_prefix);
    let mut value = contexts.lookup(&path, kind)?.as_bytes().to_vec();
    value.push(0);
    Some(value)
}

/// `/`-rooted path of `rel` on the booted system: `usr/etc/x` is `/etc/x` on an ostree tree.
fn booted_path(rel: &Path, etc_prefix: &str) -> Vec<u8> {
    let rel = rel.as_os_str().as_bytes();
    let mut out = b"/".to_vec();
    let prefix = etc_prefix.as_bytes();
    match rel.strip_prefix(prefix) {
        Some(rest) if !prefix.is_empty() && (rest.is_empty() || rest[0] == b'/') => {
            out.extend_from_slice(b"etc");
            out.extend_from_slice(rest);
        }
        _ => out.extend_from_slice(rel),
    }
    out
}

/// The tree's policy rules, the `usr/etc` prefix to label as `/etc` (empty when none), and the
/// directory they came from.
fn load_policy(
    tree: &Tree,
    index: &TreeIndex,
    content: &dyn ContentSource,
) -> Result<(FileContexts, &'static str, PathBuf), Error> {
    let read = |rel: &Path| {
        read_small(
            tree,
            index,
            content,
            rel,
            MAX_POLICY_FILE,
            "reading the SELinux policy",
        )
    };
    for (dir, etc_prefix) in CONFIG_DIRS {
        let config_path = Path::new(dir).join("config");
        let Some((_, config)) = read(&config_path)? else {
            continue;
        };
        let Some(kind) = selinux_type(&config) else {
            return Err(no_policy(
                tree,
                &config_path,
                "sets no SELINUXTYPE (the policy directory's name)",
            ));
        };
        let files_dir = Path::new(dir).join(&kind).join("contexts/files");
        let [fc, homedirs, local, subs, subs_dist] =
            PolicyFiles::NAMES.map(|name| files_dir.join(name));
        let Some((_, file_contexts)) = read(&fc)? else {
            return Err(no_policy(
                tree,
                &fc,
                &format!(
                    "missing, but {} names policy {kind:?}",
                    config_path.display()
                ),
            ));
        };
        let files = PolicyFiles {
            file_contexts,
            homedirs: read(&homedirs)?.map(|(_, b)| b),
            local: read(&local)?.map(|(_, b)| b),
            subs: read(&subs)?.map(|(_, b)| b),
            subs_dist: read(&subs_dist)?.map(|(_, b)| b),
        };
        let shown = tree.root.join(&files_dir);
        let contexts = FileContexts::new(&files).map_err(|e| {
            Error::io(
                &shown,
                "reading the SELinux policy",
                std::io::Error::other(e.to_string()),
            )
        })?;
        return Ok((contexts, etc_prefix, shown));
    }
    Err(no_policy(
        tree,
        Path::new(CONFIG_DIRS[0].0).join("config").as_path(),
        "not found (nor usr/etc/selinux/config): the tree has no SELinux policy to label from; use --selinux strip or keep",
    ))
}

fn no_policy(tree: &Tree, rel: &Path, why: &str) -> Error {
    Error::io(
        tree.root.join(rel),
        "--selinux policy",
        std::io::Error::other(why.to_string()),
    )
}

/// A warning when the tree's labels look assigned by a build host rather than by the image's
/// policy: a container type or MCS categories (`...:s0:c123,c456`). Labels like that change
/// on every build, so under `--selinux keep` every layer would too.
pub fn host_label_warning(tree: &Tree) -> Option<Warning> {
    let mut labelled = 0usize;
    let mut suspicious: BTreeMap<String, (usize, PathBuf)> = BTreeMap::new();
    for e in &tree.entries {
        let Some((_, value)) = e.xattrs.iter().find(|(n, _)| n == SELINUX_XATTR) else {
            continue;
        };
        labelled += 1;
        let label = String::from_utf8_lossy(value.strip_suffix(b"\0").unwrap_or(value));
        if looks_host_assigned(&label) {
            let slot = suspicious
                .entry(label.into_owned())
                .or_insert((0, e.path.clone()));
            slot.0 += 1;
        }
    }
    let count: usize = suspicious.values().map(|(n, _)| n).sum();
    let (label, (_, example)) = suspicious.iter().max_by_key(|(_, (n, _))| *n)?;
    Some(Warning {
        kind: WarningKind::HostLabels,
        path: tree.root.join(example),
        message: format!(
            "{count} of {labelled} SELinux labels look assigned by the build host \
             (e.g. {label:?}: a container type or MCS categories, which change from run to \
             run); --selinux keep writes them into every layer, so every layer changes on \
             every build. --selinux strip (the default) leaves them out; --selinux policy \
             labels from the image's own policy"
        ),
    })
}

/// `user:role:type:level`, where a build container gives a container type and a single level
/// with a category pair picked per container (`s0:c123,c456`). Policy-defined ranges
/// (`s0-s0:c0.c1023`) are not a sign.
fn looks_host_assigned(label: &str) -> bool {
    let mut fields = label.splitn(4, ':');
    let ty = fields.nth(2).unwrap_or("");
    let level = fields.next().unwrap_or("");
    let categories =
        !level.contains('-') && level.split(':').nth(1).is_some_and(|c| c.starts_with('c'));
    CONTAINER_TYPES.contains(&ty) || categories
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ostree_trees_label_usr_etc_as_etc() {
        assert_eq!(
            booted_path(Path::new("usr/etc/passwd"), "usr/etc"),
            b"/etc/passwd"
        );
        assert_eq!(booted_path(Path::new("usr/etc"), "usr/etc"), b"/etc");
        assert_eq!(booted_path(Path::new("usr/etcx"), "usr/etc"), b"/usr/etcx");
        assert_eq!(
            booted_path(Path::new("usr/etc/passwd"), ""),
            b"/usr/etc/passwd"
        );
    }

    #[test]
    fn container_types_and_categories_look_host_assigned() {
        assert!(looks_host_assigned(
            "system_u:object_r:container_file_t:s0:c123,c456"
        ));
        assert!(looks_host_assigned("system_u:object_r:container_file_t:s0"));
        assert!(looks_host_assigned("system_u:object_r:usr_t:s0:c1"));
        assert!(!looks_host_assigned("system_u:object_r:bin_t:s0"));
        assert!(!looks_host_assigned(
            "system_u:object_r:bin_t:s0-s0:c0.c1023"
        ));
    }
}
