//! `lsenv replicate` with the real litestream binary.
