//! `lsenv man`: the man page on stdout, or `--install DIR`: a page per subcommand written into
//! DIR, which is created first (a fresh system has no `/usr/local/share/man/man1`).

use std::path::Path;

use crate::error::{Error, Result};
use crate::terminal::{self, say};
use crate::{cli, os};

pub(crate) fn run(install: Option<&Path>) -> Result<()> {
    let Some(dir) = install else {
        return terminal::print(&cli::man_page());
    };
    std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, "create", err))?;
    let pages = cli::man_pages();
    for (name, page) in &pages {
        os::write_atomic(&dir.join(name), page)?;
    }
    say(&format!(
        "wrote {} man pages into {} (man lsenv, man lsenv-credentials-edit, …)",
        pages.len(),
        dir.display()
    ));
    Ok(())
}
