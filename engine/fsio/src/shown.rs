//! How untrusted text (file names, labels, config strings) is shown in messages and tables:
//! control characters escaped, so a file name cannot move the cursor, recolour or retitle the
//! user's terminal, and long values cut in the middle, so a 5 MB label does not flood it.

use std::borrow::Cow;

/// Longest value shown whole in a message by [`excerpt`].
pub const MAX_SHOWN: usize = 256;

/// `s` with every control character (C0, DEL, C1; newlines and tabs too) written as an
/// escape (`\x1b`, `\n`, `\u{9b}`): for a name or a value on one line.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_where(s, |_| true)
}

/// `s` with control characters escaped except newlines and tabs: for whole texts (a table, a
/// report) whose lines are ours.
pub fn escape_keep_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && c != '\t')
}

fn escape_where(s: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && escaped(c);
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !bad(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// `s` escaped ([`escape`]) and, when longer than [`MAX_SHOWN`] bytes, cut in the middle with
/// the full length said: `first part…(5242880 bytes)…last part`.
pub fn excerpt(s: &str) -> Cow<'_, str> {
    let escaped = escape(s);
    if escaped.len() <= MAX_SHOWN {
        return escaped;
    }
    let head = floor_boundary(&escaped, MAX_SHOWN * 2 / 3);
    let tail = ceil_boundary(&escaped, escaped.len() - MAX_SHOWN / 3);
    Cow::Owned(format!(
        "{}…({} bytes)…{}",
        &escaped[..head],
        s.len(),
        &escaped[tail..]
    ))
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain/name"), "plain/name");
        assert_eq!(
            escape("evil\x1b]0;pwned\x07\n\u{9b}2J"),
            "evil\\x1b]0;pwned\\x07\\n\\x9b2J"
        );
        assert_eq!(escape_keep_lines("a\tb\nc\x1b[31m"), "a\tb\nc\\x1b[31m");
        assert_eq!(escape("ünïcödé"), "ünïcödé");
    }

    #[test]
    fn long_values_are_cut_in_the_middle_with_their_length() {
        let long = format!("{}é{}", "a".repeat(3_000_000), "z".repeat(2_000_000));
        let shown = excerpt(&long);
        assert!(shown.len() < MAX_SHOWN + 40, "{}", shown.len());
        assert!(
            shown.starts_with("aaa") && shown.ends_with("zzz"),
            "{shown}"
        );
        assert!(shown.contains("…(5000002 bytes)…"), "{shown}");
        let multibyte = "é".repeat(1000);
        assert!(excerpt(&multibyte).contains("(2000 bytes)"));
        assert_eq!(excerpt("short"), "short");
    }
}
