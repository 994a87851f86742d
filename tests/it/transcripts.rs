//! Golden transcripts of the command line (`tests/cmd/*.toml`, run by trycmd): help for lsenv
//! and each command, usage errors, and `explain` and `check` on a project (`project.in`), each
//! with its exact stdout, stderr and exit status, in an empty environment. `TRYCMD=overwrite
//! cargo test --test it transcripts` rewrites them after an intended change.

#[test]
fn cli_transcripts() {
    trycmd::TestCases::new()
        .register_bin("lsenv", assert_cmd::cargo::cargo_bin!("lsenv"))
        .case("tests/cmd/*.toml");
}
