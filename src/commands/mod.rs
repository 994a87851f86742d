//! One file per command: each takes the validated project and its own part of the plan, and
//! returns the status lsenv exits with. Commands use the domain (resolve, store, config) and the
//! plumbing (launch, os, terminal) below them; nothing below imports a command.

pub(crate) mod audit;
pub(crate) mod check;
pub(crate) mod credentials;
pub(crate) mod edit;
pub(crate) mod env;
pub(crate) mod exec;
pub(crate) mod explain;
pub(crate) mod init;
pub(crate) mod keygen;
pub(crate) mod man;
pub(crate) mod plugin_keygen;
pub(crate) mod recovery;
pub(crate) mod scan;
pub(crate) mod verify;
pub(crate) mod version;
