//! Commands that live in a module of their own.

pub mod verify;
