//! A snapshot of lsenv's own environment, passed into [`crate::run`] as a value.
//!
//! Commands never read `std::env` themselves: tests hand in any environment they like, and every
//! value, which may be a key or a secret, is held as a [`Secret`].

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;

use crate::secret::Secret;

/// Environment variables by name. Names are kept as bytes so that no variable is lost to UTF-8.
#[derive(Debug, Default, Clone)]
pub struct Env {
    vars: BTreeMap<OsString, Secret>,
}

impl Env {
    /// Takes the variables of the current process.
    pub fn from_process() -> Self {
        std::env::vars_os().collect()
    }

    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.vars.get(OsStr::new(name))
    }

    /// A variable that counts as set only when it is not empty, with surrounding whitespace removed
    /// (how Rails treats `RAILS_MASTER_KEY`).
    pub fn get_non_empty(&self, name: &str) -> Option<&Secret> {
        self.get(name)
            .filter(|value| !value.expose().trim_ascii().is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &Secret)> {
        self.vars
            .iter()
            .map(|(name, value)| (name.as_os_str(), value))
    }

    /// A copy without the variables whose names `drop` picks.
    #[must_use]
    pub fn without(&self, drop: impl Fn(&OsStr) -> bool) -> Self {
        let vars = self
            .vars
            .iter()
            .filter(|(name, _)| !drop(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Self { vars }
    }

    /// Variables whose names are valid UTF-8, with their names as `&str`.
    pub fn iter_named(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.iter()
            .filter_map(|(name, value)| name.to_str().map(|name| (name, value)))
    }
}

impl<K: Into<OsString>, V: Into<OsString>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let vars = iter
            .into_iter()
            .map(|(name, value)| (name.into(), Secret::from(value.into().into_vec())))
            .collect();
        Self { vars }
    }
}
