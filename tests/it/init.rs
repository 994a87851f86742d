//! `lsenv init`: what it creates (read back by lsenv itself, by a YAML parser and by Ruby's real
//! ActiveSupport), the databases it finds in a Rails app, and everything it refuses to overwrite.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::case::Case;
use crate::support::{KEY, Project, child_env, ruby_oracle, said};

const CREDENTIALS_TEMPLATE: &str = concat!(
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/templates/credentials.yml"
    )),
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/templates/types/s3/credentials.yml"
    ))
);

/// The variables the credentials template resolves to.
const TEMPLATE_VARIABLES: [(&str, &str); 5] = [
    ("LITESTREAM_ACCESS_KEY_ID", "REPLACE-WITH-ACCESS-KEY-ID"),
    ("LITESTREAM_REPLICA_BUCKET", "myapp-backups"),
    (
        "LITESTREAM_REPLICA_ENDPOINT",
        "https://s3.us-east-1.amazonaws.com",
    ),
    ("LITESTREAM_REPLICA_REGION", "us-east-1"),
    (
        "LITESTREAM_SECRET_ACCESS_KEY",
        "REPLACE-WITH-SECRET-ACCESS-KEY",
    ),
];

/// The Rails 8 default for a new app (`rails new --database=sqlite3`).
const RAILS_8_DATABASE_YML: &str = r#"# SQLite. Versions 3.8.0 and up are supported.
#   gem install sqlite3
#
#   Ensure the SQLite 3 gem is defined in your Gemfile
#   gem "sqlite3"
#
default: &default
  adapter: sqlite3
  pool: <%= ENV.fetch("RAILS_MAX_THREADS") { 5 } %>
  timeout: 5000

development:
  <<: *default
  database: storage/development.sqlite3

# Warning: The database defined as "test" will be erased and
# re-generated from your development database when you run "rake".
# Do not set this db to the same as development or production.
test:
  <<: *default
  database: storage/test.sqlite3


# Store production database in the storage/ directory, which by default
# is mounted as a persistent Docker volume in config/deploy.yml.
production:
  primary:
    <<: *default
    database: storage/production.sqlite3
  cache:
    <<: *default
    database: storage/production_cache.sqlite3
    migrations_paths: db/cache_migrate
  queue:
    <<: *default
    database: storage/production_queue.sqlite3
    migrations_paths: db/queue_migrate
  cable:
    <<: *default
    database: storage/production_cable.sqlite3
    migrations_paths: db/cable_migrate
"#;

/// `lsenv init ARGS`.
fn init(project: &Project, args: &[&str]) -> Case {
    Case::new(project).arg("init").args(args)
}

/// The `path` of each `dbs:` entry of `config/litestream.yml`, after checking that every entry
/// is the Litestream 0.5 `replica:` form with the `$LITESTREAM_*` references.
fn litestream_databases(project: &Project) -> Vec<String> {
    let text = std::fs::read_to_string(project.path("config/litestream.yml")).unwrap();
    let config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let entries = config["dbs"].as_sequence().expect("a dbs: list");
    entries
        .iter()
        .map(|entry| {
            let path = entry["path"].as_str().unwrap().to_owned();
            let replica = &entry["replica"];
            for (setting, value) in [
                ("type", "s3"),
                ("bucket", "$LITESTREAM_REPLICA_BUCKET"),
                ("path", path.as_str()),
                ("region", "$LITESTREAM_REPLICA_REGION"),
                ("endpoint", "$LITESTREAM_REPLICA_ENDPOINT"),
                ("access-key-id", "$LITESTREAM_ACCESS_KEY_ID"),
                ("secret-access-key", "$LITESTREAM_SECRET_ACCESS_KEY"),
            ] {
                assert_eq!(replica[setting].as_str(), Some(value), "{path}: {setting}");
            }
            path
        })
        .collect()
}

fn key_file_checks(project: &Project, key_file: &str, printed: &[u8]) {
    let key = std::fs::read(project.path(key_file)).unwrap();
    assert_eq!(key.len(), 32, "no newline, 32 characters");
    assert!(key.iter().all(|b| b"0123456789abcdef".contains(b)));
    assert_eq!(printed, [&key[..], b"\n"].concat(), "stdout is the key");
    let mode = std::fs::metadata(project.path(key_file))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let gitignore = std::fs::read_to_string(project.path(".gitignore")).unwrap();
    assert!(
        gitignore.lines().any(|line| line == format!("/{key_file}")),
        "{gitignore}"
    );
}

fn template_variables() -> std::collections::BTreeMap<String, String> {
    crate::support::map(&TEMPLATE_VARIABLES)
}

#[test]
fn fresh_project_gets_every_file_and_the_key_once() {
    let project = Project::new();
    let output = init(
        &project,
        &[
            "--db",
            "storage/production.sqlite3",
            "--db",
            "storage/cache.sqlite3",
        ],
    )
    .run();
    key_file_checks(&project, "config/master.key", &output.stdout);
    let text = said(&output);
    for line in [
        "lsenv: created config/lsenv.toml",
        "lsenv: created config/litestream.yml",
        "lsenv: created config/master.key",
        "lsenv: created config/credentials.yml.enc",
        "password manager",
        "lsenv credentials edit",
        "lsenv replicate",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert_eq!(
        litestream_databases(&project),
        ["storage/production.sqlite3", "storage/cache.sqlite3"]
    );
    let decrypted = ruby_oracle(
        "read",
        &[
            &project.path("config/credentials.yml.enc"),
            &project.path("config/master.key"),
        ],
        &[],
        b"",
    );
    assert_eq!(String::from_utf8(decrypted).unwrap(), CREDENTIALS_TEMPLATE);
    // The generated config/lsenv.toml loads, and the template resolves to its variables.
    assert_eq!(
        child_env(Case::new(&project), &["exec"]),
        template_variables()
    );
    Case::new(&project).args(["exec", "--", "true"]).run();
}

#[test]
fn rails_8_multi_database_production_is_found() {
    let project = Project::new();
    project.file("config/database.yml", RAILS_8_DATABASE_YML);
    let output = init(&project, &[]).run();
    assert_eq!(
        litestream_databases(&project),
        [
            "storage/production.sqlite3",
            "storage/production_cache.sqlite3",
            "storage/production_queue.sqlite3",
            "storage/production_cable.sqlite3",
        ]
    );
    assert!(
        said(&output).contains("production databases of config/database.yml"),
        "{}",
        said(&output)
    );
}

#[test]
fn rails_7_single_database_production_is_found() {
    let project = Project::new();
    project.file(
        "config/database.yml",
        "default: &default\n  adapter: sqlite3\n  pool: <%= ENV.fetch(\"RAILS_MAX_THREADS\") { 5 } %>\n  timeout: 5000\n\n\
         development:\n  <<: *default\n  database: db/development.sqlite3\n\n\
         <% if ENV[\"CI\"] %>\n# ci\n<% end %>\n\
         production:\n  <<: *default\n  database: db/production.sqlite3\n",
    );
    init(&project, &[]).run();
    assert_eq!(litestream_databases(&project), ["db/production.sqlite3"]);
}

#[test]
fn second_run_changes_no_byte_and_prints_no_key() {
    let project = Project::new();
    init(&project, &["--db", "db.sqlite3"]).run();
    let before = project.snapshot();
    let output = init(&project, &["--db", "other.sqlite3"]).run();
    assert!(output.stdout.is_empty(), "{}", said(&output));
    assert_eq!(project.snapshot(), before);
    let text = said(&output);
    for kept in [
        "kept existing config/lsenv.toml",
        "kept existing config/litestream.yml (the --db paths were not added to it)",
        "kept existing config/credentials.yml.enc (it opens with the key from config/master.key)",
    ] {
        assert!(text.contains(kept), "{kept}: {text}");
    }
}

/// Rails' own mistake is to make a new key here, one that can never open the file.
#[test]
fn credentials_without_their_key_are_refused_and_nothing_is_written() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_bucket: b\n");
    std::fs::remove_file(project.path("config/master.key")).unwrap();
    let before = project.snapshot();
    let output = init(&project, &["--db", "db.sqlite3"])
        .status(4)
        .stdout_is("")
        .run();
    assert_eq!(project.snapshot(), before);
    let text = said(&output);
    assert!(
        text.contains("config/credentials.yml.enc: no key found")
            && text.contains("RAILS_MASTER_KEY")
            && text.contains("config/master.key"),
        "{text}"
    );
}

#[test]
fn an_existing_key_encrypts_the_new_credentials() {
    let elsewhere = tempfile::tempdir().unwrap();
    let key_copy = elsewhere.path().join("key");
    std::fs::write(&key_copy, KEY).unwrap();
    for from_variable in [true, false] {
        let project = Project::new();
        project.file("config/litestream.yml", "dbs: []\n");
        if !from_variable {
            project.file("config/master.key", KEY);
        }
        let case = Case::new(&project);
        let case = if from_variable {
            case.env("RAILS_MASTER_KEY", KEY)
        } else {
            case
        };
        // An existing litestream.yml needs neither --db nor config/database.yml.
        let output = case.arg("init").run();
        assert!(output.stdout.is_empty(), "no new key: {}", said(&output));
        assert_eq!(
            project.path("config/master.key").exists(),
            !from_variable,
            "no key file is made"
        );
        let decrypted = ruby_oracle(
            "read",
            &[&project.path("config/credentials.yml.enc"), &key_copy],
            &[],
            b"",
        );
        assert_eq!(String::from_utf8(decrypted).unwrap(), CREDENTIALS_TEMPLATE);
        let source = if from_variable {
            "the key from $RAILS_MASTER_KEY"
        } else {
            "the key from config/master.key"
        };
        assert!(said(&output).contains(source), "{}", said(&output));
    }
}

/// `-e production` gets its own files, and its own key even where config/master.key exists, as
/// with `rails credentials:edit -e production`.
#[test]
fn per_environment_credentials_and_key() {
    for with_master_key in [false, true] {
        let project = Project::new();
        if with_master_key {
            project.file("config/master.key", KEY);
        }
        let output = init(&project, &["-e", "production", "--db", "db.sqlite3"]).run();
        key_file_checks(
            &project,
            "config/credentials/production.key",
            &output.stdout,
        );
        assert!(!project.path("config/credentials.yml.enc").exists());
        assert_eq!(project.path("config/master.key").exists(), with_master_key);
        if with_master_key {
            assert_eq!(
                std::fs::read_to_string(project.path("config/master.key")).unwrap(),
                KEY
            );
        }
        let decrypted = ruby_oracle(
            "read",
            &[
                &project.path("config/credentials/production.yml.enc"),
                &project.path("config/credentials/production.key"),
            ],
            &[],
            b"",
        );
        assert_eq!(String::from_utf8(decrypted).unwrap(), CREDENTIALS_TEMPLATE);
        let env = child_env(Case::new(&project), &["-e", "production", "exec"]);
        assert_eq!(env, template_variables());
        let text = said(&output);
        assert!(
            text.contains("lsenv credentials edit -e production")
                && text.contains("lsenv -e production replicate"),
            "{text}"
        );
    }
}

/// Without --db, a project with nothing to detect is a usage error naming --db; nothing is made.
#[test]
fn no_database_to_replicate_asks_for_db() {
    let cases = [
        (None, "no --db given, and there is no config/database.yml"),
        (
            Some("production:\n  adapter: postgresql\n  database: app\n"),
            "config/database.yml: no SQLite database in `production`",
        ),
        (
            Some("production:\n  adapter: sqlite3\n  database: <%= ENV[\"DB\"] %>\n"),
            "skipped `production`: its database path is computed by ERB",
        ),
    ];
    for (database_yml, expected) in cases {
        let project = Project::new();
        if let Some(text) = database_yml {
            project.file("config/database.yml", text);
        }
        let before = project.snapshot();
        init(&project, &[])
            .status(2)
            .said(expected)
            .said("--db")
            .run();
        assert_eq!(project.snapshot(), before);
    }
}

#[test]
fn a_db_path_litestream_would_expand_is_refused() {
    let project = Project::new();
    init(&project, &["--db", "ok.sqlite3", "--db", "$HOME/x.sqlite3"])
        .status(2)
        .said("--db $HOME/x.sqlite3: Litestream would read the `$`")
        .run();
    assert!(project.snapshot().is_empty());
    assert!(!Path::new(&project.path("config")).exists());
}
