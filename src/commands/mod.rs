//! Commands that own a module of their own: each `NAME.rs` is `lsenv NAME`, with its `run`.

pub(crate) mod scan;
