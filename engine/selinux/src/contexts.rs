//! [`FileContexts`]: every rule of a policy in precedence order, indexed by the literal
//! prefixes its pattern can start with, so a lookup only runs the few patterns that can match
//! (a policy has thousands; a desktop tree has hundreds of thousands of paths).

use std::collections::HashMap;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

use crate::spec::{self, Spec};
use crate::subs::Subs;
use crate::{Error, FileKind, Source};

/// The text of a policy's `contexts/files/` directory; absent files are `None`.
#[derive(Clone, Debug, Default)]
pub struct PolicyFiles {
    pub file_contexts: Vec<u8>,
    pub homedirs: Option<Vec<u8>>,
    pub local: Option<Vec<u8>>,
    pub subs: Option<Vec<u8>>,
    pub subs_dist: Option<Vec<u8>>,
}

impl PolicyFiles {
    /// The file names, relative to `contexts/files/`, in the order they are read.
    pub const NAMES: [&'static str; 5] = [
        "file_contexts",
        "file_contexts.homedirs",
        "file_contexts.local",
        "file_contexts.subs",
        "file_contexts.subs_dist",
    ];
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    regex: Regex,
    kind: Option<FileKind>,
    context: Option<String>,
}

/// A policy's labelling rules, ready for lookups.
#[derive(Debug)]
pub struct FileContexts {
    /// In precedence order: the last match wins.
    rules: Vec<Rule>,
    /// Literal prefix → indices of the rules whose matches all start with it (ascending).
    by_prefix: HashMap<Vec<u8>, Vec<u32>>,
    /// The longest prefix in `by_prefix`, to bound the probes per lookup.
    longest_prefix: usize,
    subs: Subs,
    subs_dist: Subs,
}

impl FileContexts {
    /// Parses and compiles a policy's rules; an error names the file and line.
    pub fn new(files: &PolicyFiles) -> Result<Self, Error> {
        let mut specs: Vec<(Source, Spec)> = Vec::new();
        let sources = [
            (Source::FileContexts, Some(&files.file_contexts)),
            (Source::Homedirs, files.homedirs.as_ref()),
            (Source::Local, files.local.as_ref()),
        ];
        for (source, text) in sources {
            if let Some(text) = text {
                specs.extend(spec::parse(text, source)?.into_iter().map(|s| (source, s)));
            }
        }
        // Exact paths after every pattern, each group in file order (libselinux `sort_specs`).
        specs.sort_by_key(|(_, s)| s.literal);

        let mut contexts = FileContexts {
            rules: Vec::with_capacity(specs.len()),
            by_prefix: HashMap::new(),
            longest_prefix: 0,
            subs: Subs::parse(files.subs.as_deref().unwrap_or_default()),
            subs_dist: Subs::parse(files.subs_dist.as_deref().unwrap_or_default()),
        };
        for (source, spec) in specs {
            contexts.add(source, spec)?;
        }
        Ok(contexts)
    }

    fn add(&mut self, source: Source, spec: Spec) -> Result<(), Error> {
        let err = |reason: String| Error::Line {
            file: source,
            line: spec.line,
            reason,
        };
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(&spec.pattern)
            .map_err(|e| err(format!("invalid regex {:?}: {e}", spec.pattern)))?;
        let regex = RegexBuilder::new(&format!("^(?:{})$", spec.pattern))
            .unicode(false)
            .build()
            .map_err(|e| err(format!("invalid regex {:?}: {e}", spec.pattern)))?;
        let index = u32::try_from(self.rules.len()).map_err(|_| err("too many rules".into()))?;
        let prefixes = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
        // A finite set: every match starts with one of these. Otherwise no prefix is known.
        let prefixes: Vec<Vec<u8>> = match prefixes.literals() {
            Some(lits) => lits.iter().map(|l| l.as_bytes().to_vec()).collect(),
            None => vec![Vec::new()],
        };
        for prefix in prefixes {
            self.longest_prefix = self.longest_prefix.max(prefix.len());
            let slot = self.by_prefix.entry(prefix).or_default();
            if slot.last() != Some(&index) {
                slot.push(index);
            }
        }
        self.rules.push(Rule {
            regex,
            kind: spec.kind,
            context: spec.context,
        });
        Ok(())
    }

    /// Number of rules loaded.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The context `path` (absolute, or relative to the root) of type `kind` gets, or `None`
    /// when no rule matches or the winning rule says `<<none>>`.
    pub fn lookup(&self, path: &[u8], kind: FileKind) -> Option<&str> {
        let key = self.key(path);
        let mut candidates: Vec<u32> = Vec::new();
        for len in 0..=key.len().min(self.longest_prefix) {
            if let Some(rules) = self.by_prefix.get(&key[..len]) {
                candidates.extend_from_slice(rules);
            }
        }
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        candidates
            .into_iter()
            .map(|i| &self.rules[i as usize])
            .find(|r| r.kind.is_none_or(|k| k == kind) && r.regex.is_match(&key))
            .and_then(|r| r.context.as_deref())
    }

    /// The path as libselinux matches it: absolute, no `//`, no trailing `/`, aliases applied.
    fn key(&self, path: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(path.len() + 1);
        if !path.starts_with(b"/") {
            key.push(b'/');
        }
        for &b in path {
            if !(b == b'/' && key.last() == Some(&b'/')) {
                key.push(b);
            }
        }
        if key.len() > 1 && key.last() == Some(&b'/') {
            key.pop();
        }
        let key = self.subs.apply(&key).unwrap_or(key);
        self.subs_dist.apply(&key).unwrap_or(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(fc: &str) -> PolicyFiles {
        PolicyFiles {
            file_contexts: fc.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn last_match_wins_exact_paths_last_types_filter() {
        let fc = "/.*\tu:r:default_t:s0\n\
                  /usr/.*\tu:r:usr_t:s0\n\
                  /usr/bin/bash\t--\tu:r:shell_exec_t:s0\n\
                  /usr/bin(/.*)?\tu:r:bin_t:s0\n\
                  /usr/lib(64)?/foo\\.so.*\t--\tu:r:lib_t:s0\n\
                  /run/.*\t<<none>>\n\
                  /mnt(/[^/]*)?\t-d\tu:r:mnt_t:s0\n";
        let fc = FileContexts::new(&policy(fc)).unwrap();
        let get = |p: &str, k| fc.lookup(p.as_bytes(), k);
        // The exact path ranks after the later `/usr/bin(/.*)?` pattern.
        assert_eq!(
            get("/usr/bin/bash", FileKind::Regular),
            Some("u:r:shell_exec_t:s0")
        );
        // ...but only for its type.
        assert_eq!(
            get("/usr/bin/bash", FileKind::Symlink),
            Some("u:r:bin_t:s0")
        );
        assert_eq!(get("/usr/bin/ls", FileKind::Regular), Some("u:r:bin_t:s0"));
        assert_eq!(
            get("/usr/lib64/foo.so.1", FileKind::Regular),
            Some("u:r:lib_t:s0")
        );
        assert_eq!(
            get("/usr/lib/foo.so", FileKind::Regular),
            Some("u:r:lib_t:s0")
        );
        assert_eq!(get("/usr/share/x", FileKind::Regular), Some("u:r:usr_t:s0"));
        assert_eq!(get("/run/x", FileKind::Regular), None);
        assert_eq!(get("/mnt/a", FileKind::Directory), Some("u:r:mnt_t:s0"));
        assert_eq!(get("/mnt/a", FileKind::Regular), Some("u:r:default_t:s0"));
        // Relative, doubled and trailing slashes clean up the way libselinux does.
        assert_eq!(get("usr//bin/", FileKind::Directory), Some("u:r:bin_t:s0"));
        // Paths need not be UTF-8.
        assert_eq!(
            fc.lookup(b"/usr/bin/\xff", FileKind::Regular),
            Some("u:r:bin_t:s0")
        );
    }

    #[test]
    fn homedirs_and_local_rank_after_the_base_and_aliases_apply() {
        let files = PolicyFiles {
            file_contexts:
                b"/.*\tu:r:default_t:s0\n/usr/lib(/.*)?\tu:r:lib_t:s0\n/etc/x\tu:r:a_t:s0\n"
                    .to_vec(),
            homedirs: Some(b"/home/[^/]+/.+\tu:r:user_home_t:s0\n".to_vec()),
            local: Some(b"/etc/x\tu:r:local_t:s0\n".to_vec()),
            subs: Some(b"/srv/lib /usr/lib\n".to_vec()),
            subs_dist: Some(b"/lib64 /usr/lib\n".to_vec()),
        };
        let fc = FileContexts::new(&files).unwrap();
        assert_eq!(
            fc.lookup(b"/etc/x", FileKind::Regular),
            Some("u:r:local_t:s0")
        );
        assert_eq!(
            fc.lookup(b"/home/a/f", FileKind::Regular),
            Some("u:r:user_home_t:s0")
        );
        assert_eq!(
            fc.lookup(b"/lib64/libc.so.6", FileKind::Regular),
            Some("u:r:lib_t:s0")
        );
        assert_eq!(
            fc.lookup(b"/srv/lib/x", FileKind::Regular),
            Some("u:r:lib_t:s0")
        );
        assert_eq!(
            fc.lookup(b"/srv/libx", FileKind::Regular),
            Some("u:r:default_t:s0")
        );
    }

    #[test]
    fn invalid_rules_name_file_and_line() {
        let err = FileContexts::new(&policy("/ok\tu:r:a_t:s0\n/bad(\tu:r:b_t:s0\n")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("file_contexts line 2: invalid regex"),
            "{msg}"
        );
    }
}
