//! `lsenv --version`: lsenv's version, then which litestream `replicate` would run from here
//! (path and version), as the project in the working directory (if any) configures it.

use crate::env::Env;
use crate::error::{Error, Result};
use crate::litestream;
use crate::project::Project;
use crate::terminal;

pub(crate) fn run(clap_version: &clap::Error, env: &Env) -> Result<()> {
    let cwd =
        std::env::current_dir().map_err(|err| Error::io(".", "find the working directory", err))?;
    let located =
        Project::open(None, None, env, &cwd).and_then(|project| litestream::locate(&project, env));
    let litestream = match located {
        Ok(path) => match litestream::version(&path) {
            Some(version) => format!("litestream {version}: {}", path.display()),
            None => format!(
                "litestream: {} (`litestream version` failed)",
                path.display()
            ),
        },
        // Names the program already: "litestream: command not found (…)".
        Err(err) => err.to_string(),
    };
    terminal::print(format!("{}{litestream}\n", clap_version.render()).as_bytes())
}
