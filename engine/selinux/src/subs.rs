//! Path aliases (`file_contexts.subs`, `file_contexts.subs_dist`): `/lib64 /usr/lib` makes
//! `/lib64/x` labelled as `/usr/lib/x`. Each line is `SOURCE DESTINATION`; the last line that
//! matches wins, as libselinux keeps them in a list it prepends to.

/// The aliases of one file, last line first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Subs(Vec<(Vec<u8>, Vec<u8>)>);

impl Subs {
    pub fn parse(text: &[u8]) -> Self {
        let mut subs = Vec::new();
        for line in text.split(|&b| b == b'\n') {
            let mut fields = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let (Some(src), Some(dst)) = (fields.next(), fields.next()) else {
                continue;
            };
            if src.starts_with(b"#") {
                continue;
            }
            subs.push((src.to_vec(), dst.to_vec()));
        }
        subs.reverse();
        Subs(subs)
    }

    /// The aliased path, if an alias covers whole leading components of `path`.
    pub fn apply(&self, path: &[u8]) -> Option<Vec<u8>> {
        self.0.iter().find_map(|(src, dst)| {
            let rest = path.strip_prefix(src.as_slice())?;
            if !(rest.is_empty() || rest[0] == b'/') {
                return None;
            }
            // `/x /` maps `/x/y` to `/y`, not `//y`.
            let rest = if dst == b"/" && !rest.is_empty() {
                &rest[1..]
            } else {
                rest
            };
            let mut out = dst.clone();
            out.extend_from_slice(rest);
            Some(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_whole_components_last_line_first() {
        let subs = Subs::parse(
            b"# aliases\n/lib64 /usr/lib\n/usr/lib64 /usr/lib\n/opt/x /\n/a /first\n/a /second\n",
        );
        assert_eq!(subs.apply(b"/lib64/libc.so").unwrap(), b"/usr/lib/libc.so");
        assert_eq!(subs.apply(b"/lib64").unwrap(), b"/usr/lib");
        assert_eq!(subs.apply(b"/lib64x/y"), None);
        assert_eq!(subs.apply(b"/opt/x/bin").unwrap(), b"/bin");
        assert_eq!(subs.apply(b"/opt/x").unwrap(), b"/");
        assert_eq!(subs.apply(b"/a/b").unwrap(), b"/second/b");
    }
}
