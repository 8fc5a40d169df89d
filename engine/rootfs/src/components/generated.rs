//! Generated content: what a compose writes after the packages are installed (triggers,
//! `%post` scripts, rpm-ostree's and bootc's own steps) rather than what a package ships. No
//! package owns it (a `%ghost` claim does not own content: the package only says the path is
//! its to create), so it never rides in a package's layer, and a package's version ignores it.
//!
//! An entry is generated content when no package really owns it (no record, or only `%ghost`
//! records) and either its path is one of the [`CLASSES`] a Fedora compose regenerates, or a
//! package lists it as `%ghost` (logs, state, other caches: `generated:ghost`). Each class is
//! a component of its own (`generated:hwdb`, ...), so that what changes at one compose does not
//! drag the others along. The rpm database is not here: it has a source of its own
//! ([`super::unowned::RpmdbDirs`]), asked before the packages, since packages list it too.
//!
//! Audited but kept elsewhere, and why:
//! - the initramfs: [`super::unowned::Initramfs`], as before (a kind of its own that strategies
//!   know: it changes at every build);
//! - `/etc` defaults a compose writes (presets' `*.wants` symlinks, `machine-id`, locale):
//!   unowned, so `unpackaged:/etc` already holds them apart from any package; `%config`
//!   files edited after install (`/etc/passwd` when a package adds a user) stay with their
//!   package, whose version records the edit ([`super::packages`]): the package shipped the
//!   file, and splitting one path from its package would lose `rpm -V`'s view of it;
//! - `/var/lib/*` state no package lists: `unpackaged:/var`, one component already;
//! - files in these directories that a package really ships (`/usr/share/mime/packages/*.xml`,
//!   the SELinux module sources, `/etc/selinux/config`): their package's.

use std::path::Path;

use rechunk_model::ComponentKind;
use rechunk_tree::Tree;

use super::{Claim, ComponentSource, Rule};

/// Prefix of every generated-content component name.
pub const GENERATED_PREFIX: &str = "generated:";

/// The component of present `%ghost` files outside the classes.
pub const GHOST_COMPONENT: &str = "generated:ghost";

/// Compose outputs by class: component name, then path patterns (relative to the root; `*`
/// matches one whole path element; a pattern matches its path and everything below it).
pub const CLASSES: [(&str, &[&str]); 11] = [
    // semodule rebuilds the policy and its store whenever any module is added or updated.
    (
        "generated:selinux",
        &[
            "etc/selinux/*/policy",
            "etc/selinux/*/contexts/files",
            "var/lib/selinux",
        ],
    ),
    // systemd-hwdb update, from every package's hwdb.d.
    (
        "generated:hwdb",
        &["etc/udev/hwdb.bin", "usr/lib/udev/hwdb.bin"],
    ),
    // ldconfig, from every library installed.
    ("generated:ld.so.cache", &["etc/ld.so.cache"]),
    // fc-cache, from every font package.
    (
        "generated:fontconfig",
        &["usr/lib/fontconfig/cache", "var/cache/fontconfig"],
    ),
    // gdk-pixbuf-query-loaders, from every loader module.
    (
        "generated:gdk-pixbuf",
        &[
            "usr/lib64/gdk-pixbuf-2.0/*/loaders.cache",
            "usr/lib/gdk-pixbuf-2.0/*/loaders.cache",
        ],
    ),
    // glib-compile-schemas, from every package's schemas.
    (
        "generated:gsettings",
        &["usr/share/glib-2.0/schemas/gschemas.compiled"],
    ),
    // install-info, from every package's info pages.
    ("generated:info-dir", &["usr/share/info/dir"]),
    // update-mime-database writes everything but the shipped packages/*.xml.
    ("generated:mime", &["usr/share/mime"]),
    // update-ca-trust extract.
    ("generated:ca-trust", &["etc/pki/ca-trust/extracted"]),
    // gtk-update-icon-cache, per theme.
    (
        "generated:icon-cache",
        &["usr/share/icons/*/icon-theme.cache"],
    ),
    // Package managers' state other than the rpm database (dnf's history, rpm-ostree's base
    // database copy); not the directory itself, which holds the database too.
    ("generated:sysimage", &["usr/lib/sysimage/*"]),
];

/// The class of a compose output at `path` (relative to the root), if it is one.
pub fn class_of(path: &Path) -> Option<&'static str> {
    CLASSES
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| under_pattern(path, p)))
        .map(|(name, _)| *name)
}

/// The class component of a compose output at `path`, if it is one.
pub(crate) fn class_claim(path: &Path) -> Option<Claim> {
    class_of(path).map(generated)
}

fn generated(name: &str) -> Claim {
    Claim {
        name: name.to_owned(),
        kind: ComponentKind::Generated,
    }
}

/// Whether `path` is the path `pattern` names or below it.
fn under_pattern(path: &Path, pattern: &str) -> bool {
    let mut parts = path.iter();
    pattern.split('/').all(|want| match parts.next() {
        Some(have) => want == "*" || have == want,
        None => false,
    })
}

/// The generated-content source of one tree.
pub(crate) struct Generated {
    /// Per entry: only `%ghost` records name it.
    ghost_only: Vec<bool>,
}

impl Generated {
    pub fn new(ghost_only: Vec<bool>) -> Self {
        Generated { ghost_only }
    }
}

impl ComponentSource for Generated {
    fn rule(&self) -> Rule {
        Rule::Generated
    }

    /// Asked after the packages: every entry that reaches it has no real owner.
    fn claim(&self, tree: &Tree, i: usize) -> Option<Claim> {
        class_claim(&tree.entries[i].path).or_else(|| {
            self.ghost_only
                .get(i)
                .copied()
                .unwrap_or(false)
                .then(|| generated(GHOST_COMPONENT))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_whole_path_elements_and_what_is_below() {
        let c = |p: &str| class_of(Path::new(p));
        assert_eq!(
            c("etc/selinux/targeted/policy/policy.33"),
            Some("generated:selinux")
        );
        assert_eq!(c("var/lib/selinux"), Some("generated:selinux"));
        assert_eq!(c("etc/selinux/config"), None);
        assert_eq!(c("etc/ld.so.cache"), Some("generated:ld.so.cache"));
        assert_eq!(c("etc/ld.so.cache.d"), None);
        assert_eq!(c("etc/ld.so.conf"), None);
        assert_eq!(
            c("usr/lib64/gdk-pixbuf-2.0/2.10.0/loaders.cache"),
            Some("generated:gdk-pixbuf")
        );
        assert_eq!(c("usr/lib64/gdk-pixbuf-2.0/2.10.0/loaders"), None);
        assert_eq!(
            c("usr/share/icons/hicolor/icon-theme.cache"),
            Some("generated:icon-cache")
        );
        assert_eq!(c("usr/share/icons/hicolor/index.theme"), None);
        assert_eq!(
            c("usr/lib/sysimage/libdnf5/history.sqlite"),
            Some("generated:sysimage")
        );
        assert_eq!(c("usr/share/info"), None);
        assert_eq!(c("usr"), None);
        // Every class name carries the prefix.
        assert!(CLASSES.iter().all(|(n, _)| n.starts_with(GENERATED_PREFIX)));
    }
}
