//! User and group names → ids as the tree itself defines them: rpm records owner *names* and
//! turns them into ids through the root's own account files when it installs a file, so a
//! file is as installed when its uid/gid are what its recorded names map to here.
//!
//! Files read, first definition of a name wins: `etc/passwd`, `usr/etc/passwd` (ostree keeps
//! the default /etc there), `usr/lib/passwd` (nss-altfiles, where rpm-ostree puts system
//! users); the same for `group`. As in rpm, `root` is always 0 and a name the tree does not
//! define is 0 too (rpm installs such a file as root, with a warning).

use std::collections::HashMap;
use std::path::Path;

use rechunk_tree::ContentSource;

use crate::error::Error;
use crate::resolve::TreeIndex;
use crate::small_file::read_small;
use crate::Tree;

/// Largest account file read: real ones are a few KiB; a bigger one is not an account file.
const MAX_ACCOUNT_FILE: u64 = 16 << 20;

const PASSWD: [&str; 3] = ["etc/passwd", "usr/etc/passwd", "usr/lib/passwd"];
const GROUP: [&str; 3] = ["etc/group", "usr/etc/group", "usr/lib/group"];

/// Name → id maps of one tree.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

impl Accounts {
    /// Reads the tree's account files (those that exist; symlinks followed inside the tree).
    pub fn read(
        tree: &Tree,
        index: &TreeIndex,
        content: &dyn ContentSource,
    ) -> Result<Accounts, Error> {
        Ok(Accounts {
            users: read_ids(tree, index, content, &PASSWD)?,
            groups: read_ids(tree, index, content, &GROUP)?,
        })
    }

    /// The uid rpm gives a file recorded as owned by user `name`.
    pub fn uid(&self, name: &str) -> u32 {
        lookup(&self.users, name)
    }

    /// The gid rpm gives a file recorded as owned by group `name`.
    pub fn gid(&self, name: &str) -> u32 {
        lookup(&self.groups, name)
    }
}

fn lookup(ids: &HashMap<String, u32>, name: &str) -> u32 {
    match name {
        "root" => 0,
        _ => ids.get(name).copied().unwrap_or(0),
    }
}

fn read_ids(
    tree: &Tree,
    index: &TreeIndex,
    content: &dyn ContentSource,
    files: &[&str],
) -> Result<HashMap<String, u32>, Error> {
    let mut ids = HashMap::new();
    for file in files {
        let Some((_, bytes)) = read_small(
            tree,
            index,
            content,
            Path::new(file),
            MAX_ACCOUNT_FILE,
            "reading account names",
        )?
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (name, id) in parse(&text) {
            ids.entry(name.to_owned()).or_insert(id);
        }
    }
    Ok(ids)
}

/// `name:password:id:...` lines; comments, NIS `+`/`-` lines and malformed lines define nothing.
fn parse(text: &str) -> impl Iterator<Item = (&str, u32)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        if name.is_empty() || name.starts_with(['#', '+', '-']) {
            return None;
        }
        let id = fields.nth(1)?.trim().parse().ok()?;
        Some((name, id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_group_lines() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\n+nis\nbad line\n\
                    polkitd:x:998:996::/:/sbin/nologin\nwheel:x:10:\nnoid:x::\n";
        let got: Vec<(&str, u32)> = parse(text).collect();
        assert_eq!(got, vec![("root", 0), ("polkitd", 998), ("wheel", 10)]);
    }

    #[test]
    fn root_and_unknown_names_are_zero() {
        let mut a = Accounts::default();
        a.users.insert("root".into(), 5); // a broken passwd cannot move root
        a.users.insert("polkitd".into(), 998);
        assert_eq!(a.uid("root"), 0);
        assert_eq!(a.uid("polkitd"), 998);
        assert_eq!(a.uid("nobody-here"), 0);
        assert_eq!(a.gid("polkitd"), 0, "users and groups are separate");
    }
}
