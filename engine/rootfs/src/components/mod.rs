//! Path → component assignment: which component every entry belongs to, the rule that put it
//! there, and each component's version.
//!
//! Component sources ([`ComponentSource`]) are asked in priority order; the first that claims
//! an entry owns it:
//! 1. [`Rule::Xattr`]: the entry or its nearest ancestor carries `user.component` (rpm-ostree
//!    and chunkah read it the same way); the value is the component name (`xattr.rs`).
//! 2. [`Rule::Rpmdb`]: everything under the rpm database directory, whoever lists it (Fedora's
//!    `rpm` package `%ghost`-owns `rpmdb.sqlite`): the database changes with every package
//!    change, and must not take a package's layer along.
//! 3. [`Rule::Package`]: an installed package lists the path, other than as `%ghost`
//!    (`packages/`). A `%ghost` claim does not own content.
//! 4. [`Rule::Generated`]: what a compose regenerates, by class (`generated:hwdb`, ...), and
//!    other present `%ghost` files (`generated:ghost`) (`generated.rs`, which also says which
//!    rewritten content stays elsewhere and why).
//! 5. [`Rule::Initramfs`]: `usr/lib/modules/*/initramfs.img`, rebuilt on every build.
//! 6. [`Rule::BigFile`]: any other unowned regular file of at least 1 MiB, on its own.
//! 7. [`Rule::TopLevelDir`]: the rest, one component per top-level directory
//!    (`unpackaged:/etc`, `unpackaged:/opt`, `unpackaged:/` for files in the root itself).
//!
//! (2, 5–7 in `unowned.rs`.) Afterwards every link of a hardlinked inode joins the component
//! of its strongest link (by the rule order above, then path) as [`Rule::Hardlink`]: one inode
//! cannot span layers.
//!
//! Versions move exactly when what the image writer writes for a component does. A source may
//! version its own components ([`ComponentSource::describe`]: packages use their EVR plus the
//! differences from their records); every other component's version is a digest of what its
//! layer holds for it (`versions.rs`): each entry and parent directory as
//! [`rechunk_tree::WriteRules::written`] writes it, and file contents.

pub mod generated;
pub(crate) mod packages;
mod unowned;
mod versions;
mod xattr;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use rayon::prelude::*;
use rechunk_model::{Component, ComponentKind};
use rechunk_rpmdb::Package;
use rechunk_tree::{ContentSource, EntryKind, InodeId, Tree, WriteRules};
use serde::Serialize;

use crate::accounts::Accounts;
use crate::resolve::TreeIndex;
use crate::Error;

pub use packages::package_components;
pub use unowned::{rpmdb_component_name, unowned_claim, BIG_FILE};
pub use versions::{content_wanted, finish_content_versions};
pub use xattr::COMPONENT_XATTR;

/// Which rule placed an entry (see the module doc for the order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Xattr,
    Rpmdb,
    Package,
    Generated,
    Initramfs,
    BigFile,
    TopLevelDir,
    Hardlink,
}

/// The component a source puts an entry in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub name: String,
    pub kind: ComponentKind,
}

/// One path of a component that moved its version away from its base (a package's EVR):
/// where the component differs from what its source records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The component whose version it moves.
    pub component: String,
    /// Relative to the root; for a `missing` file, rpm's path without its leading `/`.
    pub path: PathBuf,
    /// What differs, in this order: `unrecorded` (no usable record: everything counts),
    /// `mode`, `owner`, `target`, `content`, `links`, `mtime`, `xattrs`, `selinux`, `missing`,
    /// `elsewhere`, `parent` (a parent directory the layer holds that is not root-owned 0755
    /// without xattrs).
    pub differs: Vec<&'static str>,
}

/// Every entry placed: what a source sees when it describes its components.
pub struct Placed<'a> {
    pub tree: &'a Tree,
    pub content: &'a dyn ContentSource,
    pub rules: WriteRules,
    /// Per entry: index into the components.
    pub owner: &'a [usize],
    /// Component name → index.
    pub number: &'a HashMap<&'a str, usize>,
}

/// One way of naming components, asked in priority order: the first source that claims an
/// entry owns it. Sources must be cheap to ask (no I/O in [`ComponentSource::claim`]).
pub trait ComponentSource: Sync {
    /// The rule reported for the entries it places; sources are asked in this order.
    fn rule(&self) -> Rule;

    /// The component entry `i` of `tree` belongs to, if this source claims it.
    fn claim(&self, tree: &Tree, i: usize) -> Option<Claim>;

    /// Components this source has even when no entry is placed in them (every installed
    /// package, whatever happened to its files).
    fn declared(&self) -> Vec<Claim> {
        Vec::new()
    }

    /// Once every entry is placed: sets the version and metadata of the components this source
    /// versions itself, and says why any version moved from its base. Components left without
    /// a version get the digest of what their layer holds.
    fn describe(
        &self,
        _placed: &Placed,
        _components: &mut [Component],
    ) -> Result<Vec<Drift>, Error> {
        Ok(Vec::new())
    }
}

/// What decides the components besides the tree and its content.
#[derive(Clone, Copy, Debug)]
pub struct ComponentInput<'a> {
    /// Installed packages (empty when the tree has no rpm database).
    pub packages: &'a [Package],
    /// Real relative paths of the rpm database directories found in the tree.
    pub rpmdb_dirs: &'a [PathBuf],
    /// One component per source rpm instead of per binary package.
    pub group_by_source: bool,
    /// What the writer will write: versions follow it.
    pub rules: WriteRules,
    /// Leave the versions that hash file contents empty, for the image writer to finish
    /// ([`finish_content_versions`]) from the digests it computes while writing.
    pub late_content_versions: bool,
}

/// Which component every entry of a tree belongs to.
#[derive(Debug, Default)]
pub struct Ownership {
    /// Sorted by name.
    pub components: Vec<Component>,
    /// Per tree entry: index into `components`.
    pub owner: Vec<usize>,
    /// Per tree entry: the rule that chose the owner.
    pub rule: Vec<Rule>,
    /// Per tree entry: the package (index into the package list) whose record owns the
    /// path, whatever rule won; used for the `rpm -V` checks.
    pub package_of: Vec<Option<usize>>,
    /// Why versions moved from their base (package components differing from their records),
    /// sorted by component and path.
    pub drift: Vec<Drift>,
}

/// Assigns every entry of `tree` to a component and versions the components. Packages'
/// owner names are mapped to ids through the tree's own account files.
pub fn assign_components(
    tree: &Tree,
    content: &dyn ContentSource,
    input: &ComponentInput,
) -> Result<Ownership, Error> {
    assign_indexed(tree, &TreeIndex::new(tree), content, input)
}

/// [`assign_components`] with the tree's index already built.
pub(crate) fn assign_indexed(
    tree: &Tree,
    index: &TreeIndex,
    content: &dyn ContentSource,
    input: &ComponentInput,
) -> Result<Ownership, Error> {
    let accounts = if input.packages.is_empty() {
        Accounts::default()
    } else {
        Accounts::read(tree, index, content)?
    };
    let packages = packages::Packages::new(tree, index, &accounts, input);
    let xattr = xattr::XattrComponents::new(tree, index);
    let rpmdb = unowned::RpmdbDirs::new(input.rpmdb_dirs);
    let generated = generated::Generated::new(packages.ghost_only());
    let sources: [&dyn ComponentSource; 7] = [
        &xattr,
        &rpmdb,
        &packages,
        &generated,
        &unowned::Initramfs,
        &unowned::BigFiles,
        &unowned::TopLevelDirs,
    ];
    let mut ownership = place(tree, content, input, &sources)?;
    ownership.package_of = packages.package_of();
    Ok(ownership)
}

/// Asks the sources for every entry, joins hardlinks, numbers and versions the components
/// (`package_of` is left empty).
fn place(
    tree: &Tree,
    content: &dyn ContentSource,
    input: &ComponentInput,
    sources: &[&dyn ComponentSource],
) -> Result<Ownership, Error> {
    let rules = input.rules;
    // Entries are claimed independently; in parallel, as this sits between the walk and the
    // first layer with every core otherwise idle.
    let found: Vec<Option<(Claim, Rule)>> = (0..tree.entries.len())
        .into_par_iter()
        .map(|i| {
            sources
                .iter()
                .find_map(|s| s.claim(tree, i).map(|c| (c, s.rule())))
        })
        .collect();
    // The last source (top-level directories) claims everything.
    let mut claims: Vec<(Claim, Rule)> = found
        .into_iter()
        .enumerate()
        .map(|(i, claim)| {
            claim.ok_or_else(|| {
                Error::Tree(rechunk_tree::Error::invalid(
                    tree.root.join(&tree.entries[i].path),
                    "no component source claims this path",
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    join_hardlinks(tree, &mut claims);

    let mut kinds: BTreeMap<String, ComponentKind> = BTreeMap::new();
    for c in sources.iter().flat_map(|s| s.declared()) {
        kinds.entry(c.name).or_insert(c.kind);
    }
    for (c, _) in &claims {
        kinds.entry(c.name.clone()).or_insert(c.kind);
    }
    let number: HashMap<&str, usize> = kinds
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let owner: Vec<usize> = claims
        .iter()
        .map(|(c, _)| number[c.name.as_str()])
        .collect();
    let rule: Vec<Rule> = claims.iter().map(|(_, r)| *r).collect();
    let mut components: Vec<Component> = kinds
        .iter()
        .map(|(name, kind)| Component::new(name.clone(), *kind, String::new(), 0))
        .collect();
    add_sizes(tree, &owner, &mut components);
    let placed = Placed {
        tree,
        content,
        rules,
        owner: &owner,
        number: &number,
    };
    let mut drift = Vec::new();
    for s in sources {
        drift.extend(s.describe(&placed, &mut components)?);
    }
    drift.sort_by(|a, b| (&a.component, &a.path).cmp(&(&b.component, &b.path)));
    if !input.late_content_versions {
        versions::set_layer_versions(&placed, &mut components)?;
    }
    Ok(Ownership {
        components,
        owner,
        rule,
        package_of: Vec::new(),
        drift,
    })
}

/// Every link of one inode goes where its strongest link went: the first by rule order
/// (xattr, rpmdb, package, ... top-level dir), then path. One inode cannot span layers.
fn join_hardlinks(tree: &Tree, claims: &mut [(Claim, Rule)]) {
    let mut head: HashMap<InodeId, usize> = HashMap::new();
    for (i, e) in tree.entries.iter().enumerate() {
        let Some(id) = e.hardlink else { continue };
        let h = head.entry(id).or_insert(i);
        if claims[i].1 < claims[*h].1 {
            *h = i;
        }
    }
    for (i, e) in tree.entries.iter().enumerate() {
        let Some(h) = e.hardlink.and_then(|id| head.get(&id).copied()) else {
            continue;
        };
        if claims[h].0.name != claims[i].0.name {
            claims[i] = (claims[h].0.clone(), Rule::Hardlink);
        }
    }
}

/// Sizes count regular-file bytes once per inode per component; `files` counts non-directories,
/// `dirs` directories.
fn add_sizes(tree: &Tree, owner: &[usize], components: &mut [Component]) {
    let mut seen: BTreeSet<(usize, InodeId)> = BTreeSet::new();
    for (e, &ci) in tree.entries.iter().zip(owner) {
        if e.is_dir() {
            components[ci].dirs += 1;
            continue;
        }
        components[ci].files += 1;
        if e.kind == EntryKind::Regular && e.hardlink.is_none_or(|id| seen.insert((ci, id))) {
            components[ci].size += e.size;
        }
    }
}

/// Per component, its entries (indices into the tree) in path order.
pub(crate) fn entries_by_component(owner: &[usize], components: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); components];
    for (i, &ci) in owner.iter().enumerate() {
        out[ci].push(i);
    }
    out
}
