//! `lsenv credentials edit --discard-recovery`: drops the edit that a failed `credentials edit`
//! kept, encrypted, in `FILE.recovery`, after listing what would be lost — key names only, never
//! a value.

use std::fmt::Write as _;

use zeroize::Zeroizing;

use crate::commands::edit::recovery_path;
use crate::env::Env;
use crate::error::{Error, Hint, Result, UsageProblem};
use crate::project::Project;
use crate::terminal::{self, say};

/// Keys longer than this are not names a person wrote, and are left out.
const MAX_NAME: usize = 128;

pub(crate) fn discard(project: &Project, env: &Env) -> Result<()> {
    let target = project.writable_credentials_target(env)?;
    let recovery = recovery_path(&target.file);
    if !recovery.exists() {
        return Err(Error::usage(UsageProblem::NothingToDiscard { recovery }));
    }
    let keys = target
        .access()
        .ok_or_else(|| project.missing_key(&recovery))?
        .load(env)?;
    let kept = keys.read(&recovery).map_err(|err| {
        err.with_hint(Hint::DiscardByHand {
            recovery: recovery.clone(),
        })
    })?;
    let saved = if target.exists {
        keys.read(&target.file)?
    } else {
        Zeroizing::new(String::new())
    };
    let changes = name_changes(&saved, &kept);
    let mut report = String::new();
    if *kept == *saved {
        report.push_str("the kept edit is the same as the saved file\n");
    } else if changes.is_empty() {
        report.push_str(
            "no key was added, removed or changed (names and values compared); other lines differ\n",
        );
    }
    for (mark, name, what) in &changes {
        let _ = writeln!(report, "{mark} {name}  ({what})");
    }
    say(&format!(
        "the edit kept in {} differs from {} in (names only, values are never shown):",
        recovery.display(),
        target.file.display()
    ));
    terminal::print(report.as_bytes())?;
    std::fs::remove_file(&recovery).map_err(|err| Error::io(&recovery, "remove", err))?;
    say(&format!(
        "removed {}; the next edit starts from {}",
        recovery.display(),
        target.file.display()
    ));
    Ok(())
}

/// The keys that the kept edit adds (`+`), changes (`~`) or lacks (`-`) compared with the saved
/// text, in the kept edit's order, then the saved file's.
fn name_changes(saved: &str, kept: &str) -> Vec<(char, String, &'static str)> {
    let saved = entries(saved);
    let kept = entries(kept);
    let mut changes = Vec::new();
    for entry in &kept {
        match find(&saved, &entry.name) {
            None => changes.push(('+', entry.name.clone(), "only in the kept edit")),
            Some(other) if other.value != entry.value => {
                changes.push(('~', entry.name.clone(), "its value differs"));
            }
            Some(_) => {}
        }
    }
    for entry in &saved {
        if find(&kept, &entry.name).is_none() {
            changes.push(('-', entry.name.clone(), "only in the saved file"));
        }
    }
    changes
}

fn find<'l, 't>(list: &'l [Entry<'t>], name: &str) -> Option<&'l Entry<'t>> {
    list.iter().find(|entry| entry.name == name)
}

/// A key's dotted path and the text of its value (compared, never shown).
struct Entry<'t> {
    name: String,
    value: Vec<&'t str>,
}

/// The keys of `text`, read by indentation rather than parsed: what a failed edit leaves is
/// often not valid YAML, and its names must still be found. Only plain names count as keys, and
/// the lines of a block scalar (`|`, `>`) belong to its value, so that no value is taken for a
/// name.
fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut parents: Vec<(usize, &str)> = Vec::new();
    let mut found: Vec<Entry<'_>> = Vec::new();
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(key_indent) = block {
            if trimmed.is_empty() || indent > key_indent {
                if let Some(entry) = found.last_mut() {
                    entry.value.push(line);
                }
                continue;
            }
            block = None;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = split_key(trimmed) else {
            continue;
        };
        while parents.last().is_some_and(|(depth, _)| *depth >= indent) {
            parents.pop();
        }
        let name = parents
            .iter()
            .map(|(_, parent)| *parent)
            .chain([key])
            .collect::<Vec<_>>()
            .join(".");
        if value.starts_with(['|', '>']) {
            block = Some(indent);
        }
        parents.push((indent, key));
        found.push(Entry {
            name,
            value: vec![value],
        });
    }
    found
}

/// `key: value` or `key:` with a plain name for the key.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let (key, value) = match line.split_once(": ") {
        Some((key, value)) => (key, value.trim()),
        None => (line.strip_suffix(':')?, ""),
    };
    let plain = !key.is_empty()
        && key.len() <= MAX_NAME
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    plain.then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::name_changes;

    #[test]
    fn names_of_added_changed_and_removed_keys_without_values() {
        let saved = "a:\n  b: one\n  c: two\n  block: |\n    x: y\nd: 4\n";
        let kept = "a:\n  b: one\n  c: changed\n  block: |\n    x: z\n  e: [broken\n";
        let changes = name_changes(saved, kept);
        let shown: Vec<String> = changes
            .iter()
            .map(|(mark, name, _)| format!("{mark}{name}"))
            .collect();
        assert_eq!(shown, ["~a.c", "~a.block", "+a.e", "-d"]);
    }
}
