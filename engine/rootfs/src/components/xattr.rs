//! Components named by the `user.component` xattr, as rpm-ostree and chunkah read it: an
//! entry's own value, else its nearest ancestor's.

use rechunk_model::ComponentKind;
use rechunk_tree::Tree;

use super::{Claim, ComponentSource, Rule};
use crate::resolve::TreeIndex;

/// The xattr that names an entry's component (inherited by a directory's children).
pub const COMPONENT_XATTR: &str = "user.component";

/// Per entry, the component its xattr (own or inherited) names.
pub(crate) struct XattrComponents {
    names: Vec<Option<String>>,
}

impl XattrComponents {
    pub fn new(tree: &Tree, index: &TreeIndex) -> Self {
        let mut names: Vec<Option<String>> = Vec::with_capacity(tree.entries.len());
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
                names.get(index.get(parent)?).cloned().flatten()
            };
            let value = own.or_else(inherited);
            names.push(value);
        }
        XattrComponents { names }
    }
}

impl ComponentSource for XattrComponents {
    fn rule(&self) -> Rule {
        Rule::Xattr
    }

    fn claim(&self, _tree: &Tree, i: usize) -> Option<Claim> {
        let name = self.names.get(i)?.as_ref()?;
        Some(Claim {
            name: name.clone(),
            kind: ComponentKind::Xattr,
        })
    }
}
