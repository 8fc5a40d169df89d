//! Root filesystem scanning: walk a tree without ever leaving it, record every entry's
//! metadata, and assign every path to a component.

mod entry;

pub use entry::{Entry, EntryKind, InodeId, Tree};
