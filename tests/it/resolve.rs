//! Layering through the binary: TOML < credentials < environment, aliases, empty versus unset,
//! nested keys, refused names, per-environment TOML, project root discovery and `-C`.

use crate::case::Case;
use crate::support::{Project, child_env, map};

#[test]
fn precedence_is_key_by_key() {
    let project = Project::new();
    project
        .file(
            "config/lsenv.toml",
            "[litestream]\nreplica_bucket = \"toml\"\nreplica_region = \"toml-region\"\nreplica_endpoint = \"toml-endpoint\"\n",
        )
        .credentials("litestream:\n  replica_bucket: cred\n  replica_endpoint: cred-endpoint\n");
    let env = child_env(
        Case::new(&project).env("LITESTREAM_REPLICA_ENDPOINT", "env-endpoint"),
        &["exec"],
    );
    assert_eq!(
        env,
        map(&[
            ("LITESTREAM_REPLICA_BUCKET", "cred"),
            ("LITESTREAM_REPLICA_ENDPOINT", "env-endpoint"),
            ("LITESTREAM_REPLICA_REGION", "toml-region"),
        ])
    );
}

#[test]
fn gem_aliases_and_their_conflicts() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_key_id: AKID\n  replica_access_key: SECRET\n");
    let env = child_env(Case::new(&project), &["exec"]);
    assert_eq!(
        env,
        map(&[
            ("LITESTREAM_ACCESS_KEY_ID", "AKID"),
            ("LITESTREAM_SECRET_ACCESS_KEY", "SECRET")
        ])
    );

    project.credentials("litestream:\n  replica_key_id: AKID\n  access_key_id: OTHER\n");
    Case::new(&project)
        .args(["exec", "true"])
        .status(3)
        .said("`litestream.replica_key_id` and `litestream.access_key_id` both set LITESTREAM_ACCESS_KEY_ID")
        .run();
}

#[test]
fn empty_is_set_and_null_is_unset() {
    let project = Project::new();
    project.credentials(
        "litestream:\n  replica_bucket: cred\n  replica_region: ~\n  replica_path: ''\n",
    );
    let env = child_env(
        Case::new(&project).env("LITESTREAM_REPLICA_BUCKET", ""),
        &["exec"],
    );
    assert_eq!(
        env,
        map(&[
            ("LITESTREAM_REPLICA_BUCKET", ""),
            ("LITESTREAM_REPLICA_PATH", "")
        ])
    );
}

#[test]
fn empty_master_key_variable_counts_as_unset() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_bucket: from-master-key-file\n");
    let env = child_env(
        Case::new(&project)
            .env("RAILS_MASTER_KEY", "")
            .env("LSENV_MASTER_KEY", "  "),
        &["exec"],
    );
    assert_eq!(env["LITESTREAM_REPLICA_BUCKET"], "from-master-key-file");
}

#[test]
fn nested_keys_flatten_with_double_underscore_and_keep_their_text() {
    let project = Project::new();
    project.credentials(
        "litestream:\n  azure:\n    account_key: K\n    sas:\n      token: T\n  port: 0012\n  flag: yes\n  big: 1e3\n",
    );
    let env = child_env(Case::new(&project), &["exec"]);
    assert_eq!(
        env,
        map(&[
            ("LITESTREAM_AZURE__ACCOUNT_KEY", "K"),
            ("LITESTREAM_AZURE__SAS__TOKEN", "T"),
            ("LITESTREAM_BIG", "1e3"),
            ("LITESTREAM_FLAG", "yes"),
            ("LITESTREAM_PORT", "0012"),
        ])
    );
}

#[test]
fn extra_mappings_and_refused_names() {
    let project = Project::new();
    project
        .credentials(
            "gcp:\n  service_account: '{\"type\": \"service_account\"}'\nnode: --require x\n",
        )
        .file(
            "config/lsenv.toml",
            "[env]\nGOOGLE_JSON = \"gcp.service_account\"\n",
        );
    let env = child_env(Case::new(&project), &["exec"]);
    assert_eq!(
        env,
        map(&[("GOOGLE_JSON", "{\"type\": \"service_account\"}")])
    );

    for name in [
        "PATH",
        "LD_PRELOAD",
        "NODE_OPTIONS",
        "BASH_ENV",
        "RAILS_MASTER_KEY",
    ] {
        project.file("config/lsenv.toml", format!("[env]\n{name} = \"node\"\n"));
        Case::new(&project)
            .named(name)
            .args(["exec", "true"])
            .status(3)
            .said(format!("key `env.{name}`"))
            .run();
    }

    project.file(
        "config/lsenv.toml",
        "[env]\nNODE_OPTIONS = \"node\"\n[exec]\nallow = [\"NODE_OPTIONS\"]\n",
    );
    let env = child_env(Case::new(&project), &["exec"]);
    assert_eq!(env, map(&[("NODE_OPTIONS", "--require x")]));
}

#[test]
fn per_environment_toml_tables_overlay_the_base() {
    let project = Project::new();
    project.file(
        "config/lsenv.toml",
        "[litestream]\nreplica_bucket = \"base\"\nreplica_region = \"r\"\n[environments.production.litestream]\nreplica_bucket = \"prod\"\n",
    );
    let base = child_env(Case::new(&project), &["exec"]);
    assert_eq!(base["LITESTREAM_REPLICA_BUCKET"], "base");
    let prod = child_env(
        Case::new(&project).env("RAILS_ENV", "production"),
        &["exec"],
    );
    assert_eq!(
        prod,
        map(&[
            ("LITESTREAM_REPLICA_BUCKET", "prod"),
            ("LITESTREAM_REPLICA_REGION", "r")
        ])
    );
}

#[test]
fn root_is_found_from_a_subdirectory_and_set_by_dash_c() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_bucket: found\n");
    std::fs::create_dir_all(project.path("app/models")).unwrap();
    let env = child_env(
        Case::new(&project).current_dir(project.path("app/models")),
        &["exec"],
    );
    assert_eq!(env["LITESTREAM_REPLICA_BUCKET"], "found");

    let elsewhere = tempfile::tempdir().unwrap();
    let expected_dir = project.root().canonicalize().unwrap();
    // -C runs the command in DIR.
    Case::new(&project)
        .current_dir(elsewhere.path())
        .arg("-C")
        .arg(project.root())
        .args(["exec", "sh", "-c", "pwd; echo $LITESTREAM_REPLICA_BUCKET"])
        .stdout_is(format!("{}\nfound\n", expected_dir.display()))
        .run();

    Case::new(&project)
        .args(["-C", "no/such/dir", "exec", "true"])
        .status(2)
        .run();
}

#[test]
fn no_project_at_all_resolves_only_the_environment() {
    let project = Project::new();
    let env = child_env(
        Case::new(&project)
            .env("LITESTREAM_ACCESS_KEY_ID", "from-env")
            .env("UNRELATED", "x"),
        &["exec"],
    );
    assert_eq!(env, map(&[("LITESTREAM_ACCESS_KEY_ID", "from-env")]));
}
