//! Commands and options whose code lives on its own.

pub mod man;
pub mod recovery;
