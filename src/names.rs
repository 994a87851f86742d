//! What a variable may be called, which names no credentials source may set, and the
//! `NAME`/`GLOB` patterns of the pass-list.

/// Variables that hold keys. They are never passed to a child and never set from a source.
pub const KEY_VARIABLES: &[&str] = &[
    "LSENV_MASTER_KEY",
    "RAILS_MASTER_KEY",
    "LSENV_AGE_IDENTITY",
    "LSENV_AGE_IDENTITY_FILE",
];

/// Names that change how programs load code. A credentials mapping may set them only when
/// `[exec] allow` names them exactly.
pub const REFUSED: &[&str] = &[
    "PATH",
    "LD_*",
    "DYLD_*",
    "GCONV_PATH",
    "HOSTALIASES",
    "LOCPATH",
    "NLSPATH",
    "MALLOC_*",
    "GLIBC_TUNABLES",
    "BASH_ENV",
    "BASH_FUNC_*",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "IFS",
    "CDPATH",
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONINSPECT",
    "PYTHONUSERBASE",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    "NODE_OPTIONS",
    "NODE_PATH",
    "RUBYOPT",
    "RUBYLIB",
    "GEM_PATH",
    "GEM_HOME",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "GIT_*",
];

/// The prefix of every variable made from the credentials section or `[litestream]`.
pub const PREFIX: &str = "LITESTREAM_";

pub fn is_key_variable(name: &str) -> bool {
    KEY_VARIABLES.contains(&name)
}

pub fn is_refused(name: &str) -> bool {
    REFUSED.iter().any(|pattern| glob_match(pattern, name))
}

/// A portable environment variable name: a letter or `_`, then letters, digits and `_`.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A pass-list entry: a name, or a name with `*` and `?` wildcards.
pub fn is_valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'*' | b'?'))
}

pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// Shell-style matching of `*` (any run) and `?` (one character) against a whole name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and how much of the name it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Levenshtein distance with transpositions (optimal string alignment), over bytes.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn edit_distance_counts_a_transposition_as_one() {
        assert_eq!(
            super::edit_distance("LITESTREAM_ACESS_KEY_ID", "LITESTREAM_ACCESS_KEY_ID"),
            1
        );
        assert_eq!(super::edit_distance("ab", "ba"), 1);
    }

    use super::{glob_match, is_refused, is_valid_name, is_valid_pattern};

    #[test]
    fn globs() {
        assert!(glob_match("LC_*", "LC_ALL"));
        assert!(glob_match("*", "ANYTHING"));
        assert!(glob_match("A?C", "ABC"));
        assert!(glob_match("*_KEY*", "MY_KEY_ID"));
        assert!(!glob_match("LC_*", "LANG"));
        assert!(!glob_match("A?C", "AC"));
        assert!(glob_match("HOME", "HOME"));
        assert!(!glob_match("HOME", "HOMEX"));
    }

    #[test]
    fn refused_and_valid_names() {
        assert!(is_refused("LD_PRELOAD"));
        for name in [
            "PYTHONPATH",
            "GCONV_PATH",
            "JAVA_TOOL_OPTIONS",
            "PERL5LIB",
            "SHELLOPTS",
            "PS4",
            "BASH_FUNC_x%%",
        ] {
            assert!(is_refused(name), "{name}");
        }
        assert!(is_refused("PATH"));
        assert!(!is_refused("PATHS"));
        assert!(is_valid_name("_A1"));
        assert!(!is_valid_name("1A"));
        assert!(!is_valid_name("A-B"));
        assert!(!is_valid_name(""));
        assert!(is_valid_pattern("LC_*"));
        assert!(!is_valid_pattern("A=B"));
    }
}
