//! A GVariant serialiser for the few types ostree's objects are made of (GLib's "GVariant
//! Serialisation" format, in its normal form): enough to write dirtree, dirmeta, commit and
//! file-header objects byte for byte as libostree does, without linking GLib.
//!
//! The rules, from the format's specification:
//! - fixed-size values (`b`, `y`, `u`, `t`, and tuples of fixed-size members) are stored
//!   little-endian at an offset aligned to their alignment; a fixed-size tuple is padded to a
//!   multiple of its alignment;
//! - a string is its bytes and a NUL; `ay` is its bytes;
//! - an array of fixed-size elements is their concatenation; of variable-size elements, each
//!   element aligned, then a table of every element's end offset;
//! - a tuple puts each member at its alignment, then the end offsets of its variable-size
//!   members except the last, in reverse order;
//! - a variant is its value, a NUL and the value's type string;
//! - offsets use the fewest bytes (1, 2, 4 or 8) that can address the whole container.
//!
//! ostree stores its `u` and `t` fields big-endian *inside* this little-endian format (it
//! byte-swaps before serialising): callers pass [`Value::U32`] / [`Value::U64`] the already
//! swapped numbers ([`be32`], [`be64`]).

/// A GVariant type (only what ostree's objects use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    Bool,
    Byte,
    U32,
    U64,
    Str,
    Variant,
    Array(Box<Type>),
    Tuple(Vec<Type>),
    DictEntry(Box<Type>, Box<Type>),
}

/// A value to serialise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Byte(u8),
    U32(u32),
    U64(u64),
    Str(String),
    /// `ay`: a byte string (no NUL added).
    Bytes(Vec<u8>),
    Variant(Box<Value>),
    /// An array of values of the element type given (needed for empty arrays).
    Array(Type, Vec<Value>),
    Tuple(Vec<Value>),
    DictEntry(Box<Value>, Box<Value>),
}

/// `n` as ostree stores a `u`: big-endian bytes in GVariant's little-endian slot.
pub fn be32(n: u32) -> u32 {
    n.to_be()
}

/// `n` as ostree stores a `t`.
pub fn be64(n: u64) -> u64 {
    n.to_be()
}

impl Type {
    /// The type string (`(uuua(ayay))`).
    pub fn signature(&self) -> String {
        let mut s = String::new();
        self.write_signature(&mut s);
        s
    }

    fn write_signature(&self, s: &mut String) {
        match self {
            Type::Bool => s.push('b'),
            Type::Byte => s.push('y'),
            Type::U32 => s.push('u'),
            Type::U64 => s.push('t'),
            Type::Str => s.push('s'),
            Type::Variant => s.push('v'),
            Type::Array(e) => {
                s.push('a');
                e.write_signature(s);
            }
            Type::Tuple(members) => {
                s.push('(');
                for m in members {
                    m.write_signature(s);
                }
                s.push(')');
            }
            Type::DictEntry(k, v) => {
                s.push('{');
                k.write_signature(s);
                v.write_signature(s);
                s.push('}');
            }
        }
    }

    /// Alignment in bytes.
    pub fn alignment(&self) -> usize {
        match self {
            Type::Bool | Type::Byte | Type::Str => 1,
            Type::U32 => 4,
            Type::U64 | Type::Variant => 8,
            Type::Array(e) => e.alignment(),
            Type::Tuple(members) => members.iter().map(Type::alignment).max().unwrap_or(1),
            Type::DictEntry(k, v) => k.alignment().max(v.alignment()),
        }
    }

    /// The size of every value of this type, when it is fixed.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Type::Bool | Type::Byte => Some(1),
            Type::U32 => Some(4),
            Type::U64 => Some(8),
            Type::Str | Type::Variant | Type::Array(_) => None,
            Type::Tuple(members) => fixed_tuple_size(members.iter()),
            Type::DictEntry(k, v) => fixed_tuple_size([k.as_ref(), v.as_ref()].into_iter()),
        }
    }
}

fn fixed_tuple_size<'a>(members: impl Iterator<Item = &'a Type>) -> Option<usize> {
    let mut size: usize = 0;
    let mut align: usize = 1;
    for m in members {
        let a = m.alignment();
        size = size.next_multiple_of(a) + m.fixed_size()?;
        align = align.max(a);
    }
    // The unit tuple takes one byte.
    Some(size.next_multiple_of(align).max(1))
}

impl Value {
    /// The value's type.
    pub fn type_of(&self) -> Type {
        match self {
            Value::Bool(_) => Type::Bool,
            Value::Byte(_) => Type::Byte,
            Value::U32(_) => Type::U32,
            Value::U64(_) => Type::U64,
            Value::Str(_) => Type::Str,
            Value::Bytes(_) => Type::Array(Box::new(Type::Byte)),
            Value::Variant(_) => Type::Variant,
            Value::Array(t, _) => Type::Array(Box::new(t.clone())),
            Value::Tuple(members) => Type::Tuple(members.iter().map(Value::type_of).collect()),
            Value::DictEntry(k, v) => Type::DictEntry(Box::new(k.type_of()), Box::new(v.type_of())),
        }
    }

    /// The serialised bytes (normal form).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Byte(b) => out.push(*b),
            Value::U32(n) => out.extend_from_slice(&n.to_le_bytes()),
            Value::U64(n) => out.extend_from_slice(&n.to_le_bytes()),
            Value::Str(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Variant(v) => {
                v.write(out);
                out.push(0);
                out.extend_from_slice(v.type_of().signature().as_bytes());
            }
            Value::Array(elem, items) => write_array(elem, items, out),
            Value::Tuple(members) => write_tuple(members.iter(), out),
            Value::DictEntry(k, v) => write_tuple([k.as_ref(), v.as_ref()].into_iter(), out),
        }
    }
}

fn pad_to(out: &mut Vec<u8>, start: usize, align: usize) {
    let len = (out.len() - start).next_multiple_of(align) + start;
    out.resize(len, 0);
}

fn write_array(elem: &Type, items: &[Value], out: &mut Vec<u8>) {
    let start = out.len();
    if elem.fixed_size().is_some() {
        for item in items {
            item.write(out);
        }
        return;
    }
    let mut ends = Vec::with_capacity(items.len());
    for item in items {
        pad_to(out, start, elem.alignment());
        item.write(out);
        ends.push(out.len() - start);
    }
    write_offsets(out, start, &ends);
}

fn write_tuple<'a>(members: impl ExactSizeIterator<Item = &'a Value>, out: &mut Vec<u8>) {
    let start = out.len();
    let count = members.len();
    let mut align = 1;
    let mut fixed = true;
    let mut ends = Vec::new();
    for (i, m) in members.enumerate() {
        let t = m.type_of();
        align = align.max(t.alignment());
        pad_to(out, start, t.alignment());
        m.write(out);
        if t.fixed_size().is_none() {
            fixed = false;
            if i + 1 < count {
                ends.push(out.len() - start);
            }
        }
    }
    if fixed {
        pad_to(out, start, align);
        if out.len() == start {
            out.push(0);
        }
        return;
    }
    ends.reverse();
    write_offsets(out, start, &ends);
}

/// Appends the framing offsets of a container whose body starts at `start`.
fn write_offsets(out: &mut Vec<u8>, start: usize, ends: &[usize]) {
    let body = out.len() - start;
    let size = offset_size(body, ends.len());
    for &end in ends {
        out.extend_from_slice(&end.to_le_bytes()[..size]);
    }
}

/// The offset width GLib picks for a container of `body` bytes with `n` offsets.
fn offset_size(body: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    [1usize, 2, 4]
        .into_iter()
        .find(|&s| body + n * s < (1usize << (8 * s)))
        .unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    // The strings, (si) and variant examples are the GVariant specification's ("GVariant
    // Serialisation", examples section); the others follow its rules by hand.
    #[test]
    fn specification_examples() {
        assert_eq!(s("hello world").to_bytes(), b"hello world\0");
        let strings = Value::Array(Type::Str, ["i", "can", "has", "strings?"].map(s).to_vec());
        assert_eq!(
            strings.to_bytes(),
            b"i\0can\0has\0strings?\0\x02\x06\x0a\x13"
        );
        // ('foo', -1) as (si): the string, padding to 4, the int, the string's end offset.
        let si = Value::Tuple(vec![s("foo"), Value::U32(u32::MAX)]);
        assert_eq!(si.to_bytes(), b"foo\0\xff\xff\xff\xff\x04");
        // A dictionary {'a': 1, 'b': 2} as a{si}: each entry padded, end offsets after.
        let entry = |k: &str, v: u32| Value::DictEntry(Box::new(s(k)), Box::new(Value::U32(v)));
        let dict = Value::Array(
            Type::DictEntry(Box::new(Type::Str), Box::new(Type::U32)),
            vec![entry("a", 1), entry("b", 2)],
        );
        assert_eq!(
            dict.to_bytes(),
            b"a\0\0\0\x01\0\0\0\x02\0\0\0b\0\0\0\x02\0\0\0\x02\x09\x15"
        );
        // An array of fixed-size tuples: no offsets.
        let pair = |a: u8, b: u32| Value::Tuple(vec![Value::Byte(a), Value::U32(b)]);
        let arr = Value::Array(
            Type::Tuple(vec![Type::Byte, Type::U32]),
            vec![pair(1, 2), pair(3, 4)],
        );
        assert_eq!(arr.to_bytes(), b"\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0");
        // A variant holding a string: the value, NUL, its type.
        assert_eq!(Value::Variant(Box::new(s("x"))).to_bytes(), b"x\0\0s");
    }

    #[test]
    fn signatures_sizes_and_alignments() {
        let dirmeta = Type::Tuple(vec![
            Type::U32,
            Type::U32,
            Type::U32,
            Type::Array(Box::new(Type::Tuple(vec![
                Type::Array(Box::new(Type::Byte)),
                Type::Array(Box::new(Type::Byte)),
            ]))),
        ]);
        assert_eq!(dirmeta.signature(), "(uuua(ayay))");
        assert_eq!(dirmeta.alignment(), 4);
        assert_eq!(dirmeta.fixed_size(), None);
        assert_eq!(
            Type::Tuple(vec![Type::Byte, Type::U64]).fixed_size(),
            Some(16)
        );
        assert_eq!(Type::Tuple(vec![]).fixed_size(), Some(1));
        assert_eq!(Type::Variant.alignment(), 8);
    }

    #[test]
    fn offsets_widen_with_the_container() {
        assert_eq!(offset_size(0, 0), 0);
        assert_eq!(offset_size(250, 5), 1);
        assert_eq!(offset_size(251, 5), 2);
        assert_eq!(offset_size(65_000, 200), 2);
        assert_eq!(offset_size(65_200, 200), 4);
        // A 300-byte string element forces 2-byte offsets.
        let long = "x".repeat(300);
        let arr = Value::Array(Type::Str, vec![s(&long), s("y")]);
        let bytes = arr.to_bytes();
        assert_eq!(bytes.len(), 301 + 2 + 2 * 2);
        assert_eq!(&bytes[303..], &[0x2d, 0x01, 0x2f, 0x01]);
    }

    #[test]
    fn big_endian_fields_as_ostree_stores_them() {
        assert_eq!(Value::U32(be32(0o40755)).to_bytes(), [0, 0, 0x41, 0xed]);
        assert_eq!(Value::U64(be64(1)).to_bytes(), [0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
