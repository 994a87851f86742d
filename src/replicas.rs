//! Litestream's replica types and what `lsenv init --type TYPE` writes for each: the credentials
//! section's keys (the litestream gem's `replica_*` names for S3, the type's own prefix for the
//! rest), the `config/litestream.yml` entry that references them, and the `[env]`/`[files]`
//! lines of `config/lsenv.toml` that turn file-valued secrets into files
//! (`config/templates/types/TYPE/`).

/// A Litestream 0.5 replica type that lsenv has a template for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReplicaType {
    /// Amazon S3 and S3-compatible stores (R2, B2, MinIO, …)
    #[default]
    S3,
    /// Google Cloud Storage
    Gs,
    /// Azure Blob Storage
    Abs,
    /// An SSH server
    Sftp,
    /// A NATS JetStream object store
    Nats,
    /// A WebDAV server
    Webdav,
}

/// The templates of one type.
#[derive(Debug)]
pub(crate) struct Templates {
    /// The `litestream:` block of the credentials, starting with a blank line.
    pub credentials: &'static str,
    /// What `config/litestream.yml` says about the type, after its common head.
    pub litestream_intro: &'static str,
    /// One entry of `dbs:`; `{path}` is the database path.
    pub litestream_db: &'static str,
    /// Tables to merge into `config/lsenv.toml` (may be empty).
    pub config: &'static str,
}

macro_rules! templates {
    ($dir:literal) => {
        Templates {
            credentials: include_str!(concat!(
                "../config/templates/types/",
                $dir,
                "/credentials.yml"
            )),
            litestream_intro: include_str!(concat!(
                "../config/templates/types/",
                $dir,
                "/litestream.yml"
            )),
            litestream_db: include_str!(concat!(
                "../config/templates/types/",
                $dir,
                "/litestream-db.yml"
            )),
            config: include_str!(concat!("../config/templates/types/", $dir, "/lsenv.toml")),
        }
    };
}

impl ReplicaType {
    pub(crate) fn templates(self) -> Templates {
        match self {
            Self::S3 => templates!("s3"),
            Self::Gs => templates!("gs"),
            Self::Abs => templates!("abs"),
            Self::Sftp => templates!("sftp"),
            Self::Nats => templates!("nats"),
            Self::Webdav => templates!("webdav"),
        }
    }
}

/// `base` (the commented `config/lsenv.toml` template) with the type's tables merged in: each
/// `[table]` of `extra` goes right after the same header of `base` (TOML allows a table once),
/// or at the end if `base` has none.
pub(crate) fn merge_config(base: &str, extra: &str) -> String {
    let mut text = base.to_owned();
    let mut rest = extra;
    while let Some(start) = rest.find('[') {
        let block = &rest[start..];
        let end = block[1..].find("\n[").map_or(block.len(), |at| at + 2);
        let (table, lines) = block[..end].split_once('\n').unwrap_or((&block[..end], ""));
        let header = format!("{table}\n");
        let found = if text.starts_with(&header) {
            Some(0)
        } else {
            text.find(&format!("\n{header}")).map(|at| at + 1)
        };
        if let Some(at) = found {
            text.insert_str(at + header.len(), lines);
        } else {
            text.push('\n');
            text.push_str(&block[..end]);
        }
        rest = &block[end..];
    }
    text
}

#[cfg(test)]
mod tests {
    use super::merge_config;

    #[test]
    fn tables_go_under_their_header_or_at_the_end() {
        let base = "[env]\n# x = \"y\"\n\n[exec]\n";
        assert_eq!(
            merge_config(base, "[env]\nA = \"a\"\n[files]\nB = \"b\"\n"),
            "[env]\nA = \"a\"\n# x = \"y\"\n\n[exec]\n\n[files]\nB = \"b\"\n"
        );
        assert_eq!(merge_config(base, ""), base);
    }
}
