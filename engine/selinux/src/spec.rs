//! One `file_contexts` rule: `PATTERN [TYPE] CONTEXT`, parsed as libselinux's
//! `read_spec_entries` splits a line (whitespace-separated, `#` comments, blank lines skipped).

use crate::{Error, FileKind, Source};

/// A parsed rule, before its pattern is compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub pattern: String,
    pub kind: Option<FileKind>,
    /// `None` for `<<none>>`: a matching path gets no label.
    pub context: Option<String>,
    /// No regex meta character in the pattern: ranked after every regex rule.
    pub literal: bool,
    /// 1-based line in its file, for error messages.
    pub line: usize,
}

/// The rules of one policy file, in file order.
pub(crate) fn parse(text: &[u8], source: Source) -> Result<Vec<Spec>, Error> {
    let text = String::from_utf8_lossy(text);
    let mut specs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |reason: String| Error::Line {
            file: source,
            line: i + 1,
            reason,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pattern, kind, context) = match fields[..] {
            [pattern, context] => (pattern, None, context),
            [pattern, kind, context] => {
                let kind = FileKind::from_field(kind)
                    .ok_or_else(|| err(format!("invalid file type {kind:?}")))?;
                (pattern, Some(kind), context)
            }
            [_] => return Err(err("missing fields".into())),
            _ => return Err(err("too many fields".into())),
        };
        specs.push(Spec {
            pattern: pattern.to_string(),
            kind,
            context: (context != "<<none>>").then(|| context.to_string()),
            literal: !has_meta_chars(pattern),
            line: i + 1,
        });
    }
    Ok(specs)
}

/// libselinux's `spec_hasMetaChars`: any of `.^$?*+|[({`, where a backslash hides the next
/// character.
fn has_meta_chars(pattern: &str) -> bool {
    let mut bytes = pattern.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'.' | b'^' | b'$' | b'?' | b'*' | b'+' | b'|' | b'[' | b'(' | b'{' => return true,
            b'\\' => {
                bytes.next();
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_and_three_field_rules_and_skips_comments() {
        let text = b"# comment\n\n/usr/.*\tsystem_u:object_r:usr_t:s0\n/mnt(/[^/]*)?\t-d\tsystem_u:object_r:mnt_t:s0\n/run/.*\t<<none>>\n/etc/passwd\\.lock  --  system_u:object_r:passwd_file_t:s0\n";
        let specs = parse(text, Source::FileContexts).unwrap();
        assert_eq!(specs.len(), 4);
        assert_eq!(specs[0].kind, None);
        assert!(!specs[0].literal);
        assert_eq!(specs[1].kind, Some(FileKind::Directory));
        assert_eq!(specs[2].context, None);
        // A backslash-escaped dot is no meta character: the rule ranks as an exact path.
        assert!(specs[3].literal);
        assert_eq!(specs[3].kind, Some(FileKind::Regular));
    }

    #[test]
    fn bad_lines_name_their_file_and_line() {
        let err = parse(b"/a\tx_t\n/b -q ctx\n", Source::Local).unwrap_err();
        assert_eq!(
            err.to_string(),
            "file_contexts.local line 2: invalid file type \"-q\""
        );
        let err = parse(b"/lonely\n", Source::Homedirs).unwrap_err();
        assert!(err.to_string().contains("line 1: missing fields"), "{err}");
    }
}
