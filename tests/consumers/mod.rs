//! How the consumers of `lsenv env` read what it writes, each modelled on the consumer's own
//! source, so that a format can be checked in-process against every consumer at once: by the
//! integration tests (which also run the real `sh`, python-dotenv and Ruby's dotenv) and by the
//! `output` fuzz target, which includes this file with `#[path]`.
//!
//! The models cover the syntax lsenv writes (quoted values, one entry after another); a file
//! that leaves it is reported as unreadable rather than guessed at.

use std::collections::BTreeMap;

use lsenv::output::Format;

/// Values as a consumer reads them: name → bytes.
pub(crate) type Values = BTreeMap<String, Vec<u8>>;

/// Checks that every consumer of `format` reads `written` (the file lsenv wrote) back as
/// `expected`. `stdout` is what lsenv printed: for `github`, the masks, which must cover every
/// non-blank line of the values named in `secrets`.
pub(crate) fn check(
    format: Format,
    written: &[u8],
    stdout: &[u8],
    expected: &Values,
    secrets: &[&str],
) -> Result<(), String> {
    let text = || std::str::from_utf8(written).map_err(|_| "the file is not UTF-8".to_owned());
    let readers = match format {
        Format::Shell => vec![("a POSIX shell", posix_shell(written))],
        Format::Dotenv => {
            let text = text()?;
            vec![
                ("python-dotenv", python_dotenv(text)),
                ("Ruby's dotenv", ruby_dotenv(text)),
                ("node's dotenv", node_dotenv(text)),
            ]
        }
        Format::Json => vec![("a JSON parser", json(written))],
        Format::Systemd => vec![("systemd", Ok(systemd_environment_file(written)))],
        Format::Docker => vec![("docker", docker_env_file(written))],
        Format::Github => {
            let masks = github_masks(stdout)?;
            for name in secrets {
                let value = std::str::from_utf8(&expected[*name]).map_err(|err| err.to_string())?;
                let pieces = std::iter::once(value).chain(value.split(['\r', '\n']));
                if let Some(piece) = pieces
                    .filter(|piece| !piece.trim().is_empty())
                    .find(|piece| !masks.iter().any(|mask| mask == piece))
                {
                    return Err(format!("no mask for {name}: {}", piece.escape_debug()));
                }
            }
            vec![("the GitHub runner", github_env_file(text()?))]
        }
        Format::Gitlab => vec![("GitLab", gitlab_dotenv_report(text()?))],
    };
    for (consumer, read) in readers {
        let read = read.map_err(|err| format!("{consumer} cannot read the file: {err}"))?;
        if read != *expected {
            return Err(format!(
                "{consumer} reads {} instead of {}",
                show(&read),
                show(expected)
            ));
        }
    }
    Ok(())
}

fn show(values: &Values) -> String {
    let entries: Vec<String> = values
        .iter()
        .map(|(name, value)| format!("{name}={}", value.escape_ascii()))
        .collect();
    entries.join(", ")
}

/// The `NAME` of a `NAME=…` entry, and what follows the `=`.
fn assignment(text: &str) -> Result<(&str, &str), String> {
    let (name, rest) = text.split_once('=').ok_or("an entry has no `=`")?;
    Ok((variable_name(name.as_bytes())?, rest))
}

/// `name` if it is a variable name: letters, digits and `_`.
fn variable_name(name: &[u8]) -> Result<&str, String> {
    match std::str::from_utf8(name) {
        Ok(text)
            if !text.is_empty()
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') =>
        {
            Ok(text)
        }
        _ => Err(format!("not a variable name: {}", name.escape_ascii())),
    }
}

/// A POSIX shell running `export NAME=WORD` lines: a word is made of `'…'` (taken literally,
/// line breaks included), `\C` (C itself; a backslash-newline disappears) and characters with
/// no meaning to the shell. Anything that expands, globs or ends the command otherwise is
/// outside the model.
fn posix_shell(file: &[u8]) -> Result<Values, String> {
    const PLAIN: &[u8] = b"_-./:@%+,=";
    let mut values = Values::new();
    let mut rest = file;
    while !rest.is_empty() {
        let line = rest.strip_prefix(b"export ").ok_or("expected `export `")?;
        let equals = line
            .iter()
            .position(|&byte| byte == b'=')
            .ok_or("an entry has no `=`")?;
        let name = variable_name(&line[..equals])?;
        let mut word = Vec::new();
        let mut at = equals + 1;
        loop {
            match line.get(at) {
                None | Some(b'\n') => break,
                Some(b'\'') => {
                    let len = line[at + 1..]
                        .iter()
                        .position(|&byte| byte == b'\'')
                        .ok_or("an unterminated single quote")?;
                    word.extend_from_slice(&line[at + 1..at + 1 + len]);
                    at += len + 2;
                }
                Some(b'\\') => {
                    match line.get(at + 1) {
                        Some(b'\n') => {}
                        Some(&byte) => word.push(byte),
                        None => return Err("a backslash at the end of the file".into()),
                    }
                    at += 2;
                }
                Some(&byte) if byte.is_ascii_alphanumeric() || PLAIN.contains(&byte) => {
                    word.push(byte);
                    at += 1;
                }
                Some(&byte) => {
                    return Err(format!(
                        "{} outside quotes is outside the model",
                        char::from(byte).escape_debug()
                    ));
                }
            }
        }
        values.insert(name.to_owned(), word);
        rest = line.get(at + 1..).unwrap_or_default();
    }
    Ok(values)
}

/// The end of a value that opened with `quote`, as the regex `Q((?:\\Q|[^Q])*)Q` of
/// python-dotenv and node's dotenv finds it in `text` (what follows the opening quote): `\Q` is
/// skipped over, line breaks included, and when no bare quote follows, backtracking ends the
/// value at the last `\Q`. Returns the value and what follows the closing quote.
fn regex_quoted(text: &str, quote: u8) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut last_escaped = None;
    while at < bytes.len() {
        if bytes[at] == b'\\' && bytes.get(at + 1) == Some(&quote) {
            last_escaped = Some(at + 1);
            at += 2;
        } else if bytes[at] == quote {
            return Some((&text[..at], &text[at + 1..]));
        } else {
            at += 1;
        }
    }
    last_escaped.map(|at| (&text[..at], &text[at + 1..]))
}

/// Replaces each `\C` whose C is in `escapes` by what `decoded` makes of C, left to right.
fn unescape(text: &str, escapes: &str, decoded: impl Fn(char) -> char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(&next) if c == '\\' && escapes.contains(next) => {
                out.push(decoded(next));
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// After a quoted value, python-dotenv and node's dotenv take blanks and a comment; lsenv
/// writes a line feed straight away, and this model takes nothing else.
fn end_of_entry(rest: &str) -> Result<&str, String> {
    match rest.strip_prefix('\n') {
        Some(rest) => Ok(rest),
        None if rest.is_empty() => Ok(rest),
        None => Err("something follows a quoted value on its line".into()),
    }
}

/// python-dotenv 1.x (`parser.py`, then `main.py`'s `resolve_variables` with interpolation on,
/// as `dotenv_values` and `load_dotenv` have it): quoted values, their escapes, then
/// `${NAME}`/`${NAME:-default}` expanded in every value (here from an empty environment).
fn python_dotenv(text: &str) -> Result<Values, String> {
    let mut values = Values::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = assignment(rest)?;
        let (value, after) = match after.as_bytes().first() {
            Some(b'\'') => {
                let (raw, after) = regex_quoted(&after[1..], b'\'').ok_or("an unterminated '")?;
                (unescape(raw, "\\'", |c| c), after)
            }
            Some(b'"') => {
                let (raw, after) = regex_quoted(&after[1..], b'"').ok_or("an unterminated \"")?;
                let decoded = unescape(raw, "\\'\"abfnrtv", |c| match c {
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\x0b',
                    other => other,
                });
                (decoded, after)
            }
            _ => return Err("an unquoted value is outside the model".into()),
        };
        values.insert(name.to_owned(), python_interpolate(&value).into_bytes());
        rest = end_of_entry(after)?;
    }
    Ok(values)
}

/// `${NAME}` and `${NAME:-default}` (python-dotenv's `_posix_variable`,
/// `\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}`), expanded from an empty environment.
fn python_interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let name_len = inner.find(['}', ':']).unwrap_or(inner.len());
        let after_name = &inner[name_len..];
        let expansion = if let Some(after) = after_name.strip_prefix('}') {
            Some(("", after))
        } else if let Some(default) = after_name.strip_prefix(":-") {
            default
                .find('}')
                .map(|end| (&default[..end], &default[end + 1..]))
        } else {
            None
        };
        if let Some((default, after)) = expansion {
            out.push_str(default);
            rest = after;
        } else {
            out.push('$');
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Ruby's dotenv 2.x (Debian's 2.4, `parser.rb` and `substitutions/`): the text is split into
/// lines at every CR and LF; a line `NAME='…'` is taken literally, and a line `NAME="…"` has
/// `\n`, `\r` and other backslash escapes decoded, then `$NAME`/`${NAME}` replaced (the name
/// matched case-insensitively, which lets U+017F and U+212A in) and `$(…)` run.
fn ruby_dotenv(text: &str) -> Result<Values, String> {
    let mut values = Values::new();
    for line in text.split(['\n', '\r']).filter(|line| !line.is_empty()) {
        let (name, quoted) = assignment(line)?;
        let (Some(quote), Some(last)) = (quoted.chars().next(), quoted.chars().last()) else {
            return Err("an empty value is outside the model".into());
        };
        if !matches!(quote, '\'' | '"') || last != quote || quoted.len() < 2 {
            return Err("a value that is not quoted whole is outside the model".into());
        }
        let inner = &quoted[1..quoted.len() - 1];
        let value = if quote == '\'' {
            inner.to_owned()
        } else {
            let expanded = inner.replace("\\n", "\n").replace("\\r", "\r");
            let unescaped = ruby_unescape(&expanded);
            ruby_commands(&ruby_variables(&unescaped))?
        };
        values.insert(name.to_owned(), value.into_bytes());
    }
    Ok(values)
}

/// `value.gsub(/\\([^$])/, '\1')`.
fn ruby_unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(&next) if c == '\\' && next != '$' => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// `VARIABLE = /(\\)?(\$)(?!\()\{?([A-Z0-9_]+)?\}?/xi`, replaced from an empty environment: an
/// escaped match loses its backslash, a match with a name becomes empty, others stay.
fn ruby_variables(value: &str) -> String {
    // Onigmo's case folding for `/i` lets exactly these two non-ASCII characters match
    // `[A-Z]`: U+017F LATIN SMALL LETTER LONG S (→ s) and U+212A KELVIN SIGN (→ k).
    let name_char =
        |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '\u{17f}' || c == '\u{212a}';
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    while at < chars.len() {
        let escaped = chars[at] == '\\' && chars.get(at + 1) == Some(&'$');
        let dollar = if escaped { at + 1 } else { at };
        if chars[dollar] != '$' || chars.get(dollar + 1) == Some(&'(') {
            out.push(chars[at]);
            at += 1;
            continue;
        }
        let mut end = dollar + 1;
        if chars.get(end) == Some(&'{') {
            end += 1;
        }
        let name_start = end;
        while chars.get(end).copied().is_some_and(name_char) {
            end += 1;
        }
        let named = end > name_start;
        if chars.get(end) == Some(&'}') {
            end += 1;
        }
        if escaped {
            out.extend(&chars[dollar..end]);
        } else if !named {
            out.extend(&chars[at..end]);
        }
        at = end;
    }
    out
}

/// `INTERPOLATED_SHELL_COMMAND`: `$(…)` with balanced, non-empty parentheses runs a command;
/// `\$(…)` loses its backslash. A command that would run is an error here.
fn ruby_commands(value: &str) -> Result<String, String> {
    /// The end of a balanced group starting at `at` (an opening parenthesis), if it matches
    /// `\((?:[^()]|\g<cmd>)+\)`.
    fn group(bytes: &[u8], at: usize) -> Option<usize> {
        let mut at = at + 1;
        let mut items = 0;
        loop {
            match bytes.get(at)? {
                b')' if items > 0 => return Some(at + 1),
                b')' => return None,
                b'(' => at = group(bytes, at)?,
                _ => at += 1,
            }
            items += 1;
        }
    }
    let bytes = value.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let escaped = bytes[at] == b'\\' && bytes.get(at + 1) == Some(&b'$');
        let dollar = if escaped { at + 1 } else { at };
        if bytes[dollar] == b'$'
            && bytes.get(dollar + 1) == Some(&b'(')
            && let Some(end) = group(bytes, dollar + 1)
        {
            if !escaped {
                return Err("the value runs a command".into());
            }
            out.push_str(&value[copied..at]);
            copied = dollar;
            at = end;
        } else {
            at += 1;
        }
    }
    out.push_str(&value[copied..]);
    Ok(out)
}

/// node's dotenv 16 and later (`lib/main.js` `parse`): CR and CRLF become LF, then `LINE`
/// finds `NAME=` and a quoted value (which may span lines, found as [`regex_quoted`] does); the
/// quotes are removed and, in double quotes, `\n` and `\r` decoded.
fn node_dotenv(text: &str) -> Result<Values, String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut values = Values::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let (name, after) = assignment(rest)?;
        let quote = *after.as_bytes().first().ok_or("an empty value")?;
        if !matches!(quote, b'\'' | b'"' | b'`') {
            return Err("an unquoted value is outside the model".into());
        }
        let (raw, after) =
            regex_quoted(&after[1..], quote).ok_or("an unterminated quoted value")?;
        let value = if quote == b'"' {
            raw.replace("\\n", "\n").replace("\\r", "\r")
        } else {
            raw.to_owned()
        };
        values.insert(name.to_owned(), value.into_bytes());
        rest = end_of_entry(after)?;
    }
    Ok(values)
}

/// One JSON object of strings.
fn json(file: &[u8]) -> Result<Values, String> {
    let object: BTreeMap<String, String> =
        serde_json::from_slice(file).map_err(|err| err.to_string())?;
    Ok(object
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect())
}

/// systemd's `EnvironmentFile=` reader: `parse_env_file_internal` of systemd's
/// `src/basic/env-file.c` (v254 and later), state for state, then `load_env_file_push`, which
/// ignores a key or value that is not UTF-8 and lets a later assignment win.
#[expect(
    clippy::too_many_lines,
    reason = "systemd's state machine, kept state for state to compare with env-file.c"
)]
pub(crate) fn systemd_environment_file(text: &[u8]) -> Values {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        SingleQuoteValue,
        DoubleQuoteValue,
        DoubleQuoteValueEscape,
        Comment,
        CommentEscape,
    }
    const NEWLINE: &[u8] = b"\n\r";
    const WHITESPACE: &[u8] = b" \t\n\r";
    const COMMENTS: &[u8] = b"#;";
    const SHELL_NEED_ESCAPE: &[u8] = b"\"\\`$";

    let mut result = Values::new();
    let mut push = |key: &[u8], value: &[u8]| {
        if let (Ok(key), Ok(_)) = (std::str::from_utf8(key), std::str::from_utf8(value)) {
            result.insert(key.to_owned(), value.to_vec());
        }
    };
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let (mut last_key_whitespace, mut last_value_whitespace) = (None, None);
    let mut state = State::PreKey;
    for &c in text {
        match state {
            State::PreKey => {
                if COMMENTS.contains(&c) {
                    state = State::Comment;
                } else if !WHITESPACE.contains(&c) {
                    state = State::Key;
                    last_key_whitespace = None;
                    key.push(c);
                }
            }
            State::Key => {
                if NEWLINE.contains(&c) {
                    state = State::PreKey;
                    key.clear();
                } else if c == b'=' {
                    state = State::PreValue;
                    last_value_whitespace = None;
                } else {
                    if !WHITESPACE.contains(&c) {
                        last_key_whitespace = None;
                    } else if last_key_whitespace.is_none() {
                        last_key_whitespace = Some(key.len());
                    }
                    key.push(c);
                }
            }
            State::PreValue => {
                if NEWLINE.contains(&c) {
                    state = State::PreKey;
                    if let Some(at) = last_key_whitespace {
                        key.truncate(at);
                    }
                    push(&key, &value);
                    key.clear();
                    value.clear();
                } else if c == b'\'' {
                    state = State::SingleQuoteValue;
                } else if c == b'"' {
                    state = State::DoubleQuoteValue;
                } else if c == b'\\' {
                    state = State::ValueEscape;
                } else if !WHITESPACE.contains(&c) {
                    state = State::Value;
                    value.push(c);
                }
            }
            State::Value => {
                if NEWLINE.contains(&c) {
                    state = State::PreKey;
                    if let Some(at) = last_value_whitespace {
                        value.truncate(at);
                    }
                    if let Some(at) = last_key_whitespace {
                        key.truncate(at);
                    }
                    push(&key, &value);
                    key.clear();
                    value.clear();
                } else if c == b'\\' {
                    state = State::ValueEscape;
                    last_value_whitespace = None;
                } else {
                    if !WHITESPACE.contains(&c) {
                        last_value_whitespace = None;
                    } else if last_value_whitespace.is_none() {
                        last_value_whitespace = Some(value.len());
                    }
                    value.push(c);
                }
            }
            State::ValueEscape => {
                state = State::Value;
                if !NEWLINE.contains(&c) {
                    value.push(c);
                }
            }
            State::SingleQuoteValue => {
                if c == b'\'' {
                    state = State::PreValue;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuoteValue => {
                if c == b'"' {
                    state = State::PreValue;
                } else if c == b'\\' {
                    state = State::DoubleQuoteValueEscape;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuoteValueEscape => {
                state = State::DoubleQuoteValue;
                if SHELL_NEED_ESCAPE.contains(&c) {
                    value.push(c);
                } else if c != b'\n' {
                    value.extend_from_slice(&[b'\\', c]);
                }
            }
            State::Comment => {
                if c == b'\\' {
                    state = State::CommentEscape;
                } else if NEWLINE.contains(&c) {
                    state = State::PreKey;
                }
            }
            State::CommentEscape => {
                state = if NEWLINE.contains(&c) {
                    State::PreKey
                } else {
                    State::Comment
                };
            }
        }
    }
    let unfinished = [
        State::PreValue,
        State::Value,
        State::ValueEscape,
        State::SingleQuoteValue,
        State::DoubleQuoteValue,
        State::DoubleQuoteValueEscape,
    ];
    if unfinished.contains(&state) {
        if state == State::Value
            && let Some(at) = last_value_whitespace
        {
            value.truncate(at);
        }
        if let Some(at) = last_key_whitespace {
            key.truncate(at);
        }
        push(&key, &value);
    }
    result
}

/// `docker run --env-file`: `parseKeyValueFile` of the docker CLI's `opts/file.go`, reading lines
/// with Go's `bufio.Scanner` (split at `\n`, one trailing `\r` dropped, 64 KiB at most).
pub(crate) fn docker_env_file(text: &[u8]) -> Result<Values, String> {
    let mut lines: Vec<&[u8]> = text.split(|&byte| byte == b'\n').collect();
    if text.ends_with(b"\n") {
        lines.pop();
    }
    let mut result = Values::new();
    for (index, line) in lines.into_iter().enumerate() {
        if line.len() >= 64 * 1024 {
            return Err("bufio.Scanner: token too long".into());
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut line = std::str::from_utf8(line)
            .map_err(|_| format!("invalid utf8 bytes at line {}", index + 1))?;
        if index == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (variable, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{line}: no value (taken from docker's own environment)"))?;
        let variable = variable.trim_start_matches([' ', '\t']);
        if variable.contains([' ', '\t']) || variable.is_empty() {
            return Err(format!("poorly formatted environment: {variable}"));
        }
        result.insert(variable.to_owned(), value.as_bytes().to_vec());
    }
    Ok(result)
}

/// The GitHub runner on Linux reading `$GITHUB_ENV`: `SetEnvFileCommand.ProcessCommand` of
/// actions/runner's `src/Runner.Worker/FileCommandManager.cs` (`NAME=VALUE` lines and
/// `NAME<<DELIMITER` blocks, lines split at `\n`).
pub(crate) fn github_env_file(text: &str) -> Result<Values, String> {
    fn read_line<'a>(text: &'a str, index: &mut usize) -> Option<(&'a str, usize)> {
        if *index >= text.len() {
            return None;
        }
        let start = *index;
        if let Some(at) = text[start..].find('\n') {
            *index = start + at + 1;
            Some((&text[start..start + at], 1))
        } else {
            *index = text.len();
            Some((&text[start..], 0))
        }
    }
    let mut result = Values::new();
    let mut index = 0;
    while let Some((line, _)) = read_line(text, &mut index) {
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                result.insert(line[..e].to_owned(), line.as_bytes()[e + 1..].to_vec());
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("Invalid environment variable format '{line}'"));
                }
                let start = index;
                let mut end = index;
                loop {
                    let Some((next, newline)) = read_line(text, &mut index) else {
                        return Err(format!("Matching delimiter not found '{delimiter}'"));
                    };
                    if next == delimiter {
                        break;
                    }
                    end = index - newline;
                }
                let value = if end > start { &text[start..end] } else { "" };
                result.insert(name.to_owned(), value.as_bytes().to_vec());
            }
            _ => return Err(format!("Invalid environment variable format '{line}'")),
        }
    }
    Ok(result)
}

/// The masks a runner registers from a step's output: `ActionCommand.TryParseV2` of actions/
/// runner's `src/Runner.Common/ActionCommand.cs` for `::add-mask::`, data unescaped as
/// `UnescapeData` does (`%0D`, `%0A`, then `%25`). Every line must be such a command.
pub(crate) fn github_masks(stdout: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(stdout).map_err(|_| "stdout is not UTF-8".to_owned())?;
    text.lines()
        .map(|line| {
            let data = line
                .trim_start()
                .strip_prefix("::add-mask::")
                .ok_or_else(|| format!("stdout has a line that is not a mask: {line:?}"))?;
            Ok(data
                .replace("%0D", "\r")
                .replace("%0A", "\n")
                .replace("%25", "%"))
        })
        .collect()
}

/// GitLab reading an `artifacts:reports:dotenv` file: `Ci::ParseDotenvArtifactService` of
/// GitLab's `app/services/ci/parse_dotenv_artifact_service.rb`: each line must match
/// `/^(.*?)=(.*)$/`, and both parts are stripped as Ruby's `String#strip` does.
pub(crate) fn gitlab_dotenv_report(text: &str) -> Result<Values, String> {
    const STRIP: [char; 7] = ['\0', '\t', '\n', '\x0b', '\x0c', '\r', ' '];
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut result = Values::new();
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let (key, value) = line.split_once('=').ok_or("Invalid Format")?;
        result.insert(
            key.trim_matches(STRIP).to_owned(),
            value.trim_matches(STRIP).as_bytes().to_vec(),
        );
    }
    Ok(result)
}
