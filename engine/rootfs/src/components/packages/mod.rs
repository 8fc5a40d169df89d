//! Package components: every installed package (or, with `group_by_source`, every source
//! package) is a component holding the paths its rpmdb records own ([`records`]). Its version
//! is its EVR (`1.0-1.x86_64`; a source group: a digest of its NEVRAs) while its entries are
//! exactly as recorded, else EVR + `+` + a digest of the differences ([`drift`]). Names shared
//! by several packages (multilib, gpg-pubkey) get `.arch`, then the full NEVRA. Requires are
//! resolved to component names through provides and file owners.

mod drift;
pub(crate) mod records;

use std::collections::{BTreeSet, HashMap};

use rechunk_model::{Component, ComponentKind};
use rechunk_rpmdb::Package;
use rechunk_tree::Tree;
use sha2::{Digest, Sha256};

use super::{Claim, ComponentInput, ComponentSource, Drift, Placed, Rule};
use crate::accounts::Accounts;
use crate::resolve::TreeIndex;
use crate::Error;
use records::{Record, Records};

/// The package component source of one tree.
pub(crate) struct Packages<'a> {
    packages: &'a [Package],
    index: &'a TreeIndex<'a>,
    accounts: &'a Accounts,
    /// Component name per package.
    names: Vec<String>,
    kind: ComponentKind,
    records: Records,
}

impl<'a> Packages<'a> {
    pub fn new(
        tree: &Tree,
        index: &'a TreeIndex<'a>,
        accounts: &'a Accounts,
        input: &ComponentInput<'a>,
    ) -> Self {
        let kind = if input.group_by_source {
            ComponentKind::SourcePackage
        } else {
            ComponentKind::Package
        };
        Packages {
            packages: input.packages,
            index,
            accounts,
            names: component_names(input.packages, input.group_by_source),
            kind,
            records: Records::new(tree, index, input.packages),
        }
    }

    /// Per entry: whether only `%ghost` records name it (no package owns its content).
    pub fn ghost_only(&self) -> Vec<bool> {
        self.records
            .owner
            .iter()
            .map(|r| r.is_some_and(|r| self.is_ghost(r)))
            .collect()
    }

    fn is_ghost(&self, r: Record) -> bool {
        self.packages[r.package].files[r.file].flags.is_ghost()
    }

    /// Per entry: the package whose record owns the path, whatever rule placed it.
    pub fn package_of(&self) -> Vec<Option<usize>> {
        self.records
            .owner
            .iter()
            .map(|r| r.map(|r| r.package))
            .collect()
    }
}

impl ComponentSource for Packages<'_> {
    fn rule(&self) -> Rule {
        Rule::Package
    }

    /// A `%ghost` claim does not own content (the best claim is a ghost only when every
    /// claim is): the generated-content source takes such entries.
    fn claim(&self, _tree: &Tree, i: usize) -> Option<Claim> {
        let r = self.records.owner.get(i).copied().flatten()?;
        if self.is_ghost(r) {
            return None;
        }
        Some(Claim {
            name: self.names[r.package].clone(),
            kind: self.kind,
        })
    }

    fn declared(&self) -> Vec<Claim> {
        self.names
            .iter()
            .map(|name| Claim {
                name: name.clone(),
                kind: self.kind,
            })
            .collect()
    }

    fn describe(&self, placed: &Placed, components: &mut [Component]) -> Result<Vec<Drift>, Error> {
        let component_of_package: Vec<usize> = self
            .names
            .iter()
            .map(|n| placed.number[n.as_str()])
            .collect();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); components.len()];
        for (pi, &ci) in component_of_package.iter().enumerate() {
            members[ci].push(pi);
        }
        for (ci, m) in members.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            fill_metadata(&mut components[ci], m, self.packages);
        }
        let input = drift::DriftInput {
            placed,
            index: self.index,
            packages: self.packages,
            records: &self.records,
            component_of_package: &component_of_package,
            accounts: self.accounts,
        };
        let drift = drift::apply(&input, components);
        resolve_requires(
            placed,
            &self.package_of(),
            &members,
            self.packages,
            components,
        );
        Ok(drift)
    }
}

/// The package components of a package list alone, without a tree: what a history made of
/// package lists (an ostree ref's commits) holds. Names, versions (EVR, never `+digest`:
/// there are no files to compare), sources, build and changelog times as a scan gives them;
/// size = Σ installed size of the packages.
pub fn package_components(packages: &[Package], group_by_source: bool) -> Vec<Component> {
    let kind = if group_by_source {
        ComponentKind::SourcePackage
    } else {
        ComponentKind::Package
    };
    let names = component_names(packages, group_by_source);
    let mut members: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (pi, name) in names.iter().enumerate() {
        members.entry(name).or_default().push(pi);
    }
    members
        .into_iter()
        .map(|(name, m)| {
            let size = m.iter().map(|&pi| packages[pi].size).sum();
            let mut c = Component::new(name, kind, "", size);
            fill_metadata(&mut c, &m, packages);
            c
        })
        .collect()
}

/// Component name of each package: its name, or with `group_by_source` its source package;
/// names shared by several packages get `.arch`, then the full NEVRA.
fn component_names(packages: &[Package], group_by_source: bool) -> Vec<String> {
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

/// Version, source, build time and changelog of a (source-)package component.
fn fill_metadata(c: &mut Component, members: &[usize], packages: &[Package]) {
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
            c.version = hex::encode(&Sha256::digest(nevras.join("\n").as_bytes())[..16]);
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

/// Requires → provides (and file requires → the file's owner), as component names.
fn resolve_requires(
    placed: &Placed,
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
    for (i, e) in placed.tree.entries.iter().enumerate() {
        if package_of[i].is_some() {
            file_owner.insert(format!("/{}", e.path.display()), placed.owner[i]);
        }
    }
    for (ci, m) in members.iter().enumerate() {
        if m.is_empty() {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, arch: &str, size: u64, srpm: &str) -> Package {
        Package {
            hnum: 0,
            name: name.into(),
            epoch: None,
            version: version.into(),
            release: "1".into(),
            arch: arch.into(),
            source_rpm: Some(srpm.into()),
            size,
            build_time: 7,
            changelog_times: vec![5, 3],
            digest_algo: 8,
            files: Vec::new(),
            requires: Vec::new(),
            provides: Vec::new(),
        }
    }

    #[test]
    fn package_lists_become_components_named_as_a_scan_names_them() {
        let pkgs = [
            pkg("glibc", "2.39", "x86_64", 10, "glibc-2.39-1.src.rpm"),
            pkg("glibc", "2.39", "i686", 4, "glibc-2.39-1.src.rpm"),
            pkg("glibc-common", "2.39", "x86_64", 1, "glibc-2.39-1.src.rpm"),
        ];
        let c = package_components(&pkgs, false);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["glibc-common", "glibc.i686", "glibc.x86_64"]);
        assert_eq!(c[2].version, "2.39-1.x86_64");
        assert_eq!(c[2].size, 10);
        assert_eq!(c[2].source.as_deref(), Some("glibc"));
        assert_eq!(c[2].changelog_times, [5, 3]);
        let by_source = package_components(&pkgs, true);
        assert_eq!(by_source.len(), 1);
        assert_eq!(by_source[0].size, 15);
        assert_eq!(by_source[0].kind, ComponentKind::SourcePackage);
    }
}
