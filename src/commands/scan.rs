//! `lsenv scan [PATH...]`: decrypts in memory, then looks for every resolved secret value — as it
//! is, base64-encoded and URL-encoded — in the files git tracks and the untracked files it does
//! not ignore, and with `--history` in every blob reachable from a ref. Each file or blob is read
//! once and searched once for all the patterns together (Aho-Corasick), whatever their number.
//!
//! What it prints names a place (file and line, or commit, path and line) and a variable, never a
//! value. Files are opened without following a symlink, only regular files are read, and none
//! larger than [`MAX_FILE_BYTES`]. A value is only found whole: one split across lines is not.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{Error, Failure, Result, Status, UsageProblem, exit};
use crate::project::Project;
use crate::resolve::{self, Resolution};
use crate::secret::Secret;

use crate::terminal::printable;

/// Values shorter than this are not searched for: they would match by chance (`true`, a port).
pub(crate) const MIN_VALUE_BYTES: usize = 8;
/// Larger files and blobs (databases, media) are skipped, and said to be.
pub(crate) const MAX_FILE_BYTES: u64 = 16 << 20;

pub(crate) fn run(
    project: &Project,
    env: &Env,
    paths: &[PathBuf],
    history: bool,
) -> Result<Status> {
    let resolved = resolve::resolve_project(project, env, false)?;
    let (patterns, short) = Patterns::new(&resolved.resolution)?;
    drop(resolved);
    if !short.is_empty() {
        crate::terminal::say(&format!(
            "not searched for (shorter than {MIN_VALUE_BYTES} bytes): {}",
            short.join(", ")
        ));
    }
    let Some(patterns) = patterns else {
        crate::terminal::say("no secret value to look for");
        return Ok(Status::SUCCESS);
    };
    let git = Git::open(project)?;
    let base = if project.root_given {
        project.root.as_path()
    } else {
        Path::new("")
    };
    let specs = paths
        .iter()
        .map(|path| {
            std::path::absolute(base.join(path))
                .map(PathBuf::into_os_string)
                .map_err(|err| Error::io(path, "find", err))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut report = Report::default();
    scan_work_tree(&git, &specs, &patterns, &mut report)?;
    if history {
        scan_history(&git, &specs, &patterns, &mut report)?;
    }
    crate::terminal::print(report.found.as_bytes())?;
    report.finish(patterns.names.len(), history)
}

/// How a value was written where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Form {
    Plain,
    Base64,
    UrlEncoded,
}

impl Form {
    fn label(self) -> &'static str {
        match self {
            Self::Plain => "as is",
            Self::Base64 => "base64",
            Self::UrlEncoded => "URL-encoded",
        }
    }
}

/// Every form of every value, in one automaton.
struct Patterns {
    matcher: AhoCorasick,
    /// By pattern: its form and the variables (indexes into `names`) whose value it is.
    meanings: Vec<(Form, Vec<usize>)>,
    names: Vec<String>,
}

impl Patterns {
    /// The patterns of the resolution's secret values, and the names of those too short to
    /// search for. `None` when there is nothing to search for.
    fn new(resolution: &Resolution) -> Result<(Option<Self>, Vec<String>)> {
        let mut names = Vec::new();
        let mut short = Vec::new();
        let mut candidates = Vec::new();
        for (name, variable) in resolution.iter().filter(|(_, v)| v.is_secret()) {
            let value = variable.value.expose();
            if value.len() < MIN_VALUE_BYTES {
                short.push(name.to_owned());
                continue;
            }
            let at = names.len();
            names.push(name.to_owned());
            candidates.extend(
                forms(value)
                    .into_iter()
                    .map(|(form, bytes)| (bytes, form, at)),
            );
        }
        if candidates.is_empty() {
            return Ok((None, short));
        }
        // Equal bytes become one pattern (the plainest form), naming every variable they stand for.
        candidates.sort_by(|a, b| a.0.expose().cmp(b.0.expose()).then(a.1.cmp(&b.1)));
        let mut patterns: Vec<Secret> = Vec::new();
        let mut meanings: Vec<(Form, Vec<usize>)> = Vec::new();
        for (bytes, form, at) in candidates {
            match (patterns.last(), meanings.last_mut()) {
                (Some(last), Some((_, vars))) if last.expose() == bytes.expose() => {
                    if !vars.contains(&at) {
                        vars.push(at);
                    }
                }
                _ => {
                    patterns.push(bytes);
                    meanings.push((form, vec![at]));
                }
            }
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(Secret::expose))
            .map_err(|err| Error::failed(Failure::ScanSearch(err.to_string())))?;
        Ok((
            Some(Self {
                matcher,
                meanings,
                names,
            }),
            short,
        ))
    }

    /// Calls `found` with the 1-based line and the pattern of every match in `text`.
    fn search(&self, text: &[u8], mut found: impl FnMut(usize, usize)) {
        let (mut line, mut counted) = (1, 0);
        for hit in self.matcher.find_iter(text) {
            line += memchr::memchr_iter(b'\n', &text[counted..hit.start()]).count();
            counted = hit.start();
            found(line, hit.pattern().as_usize());
        }
    }

    /// `NAME[, NAME…] (form)` for pattern `at`.
    fn describe(&self, at: usize) -> String {
        let (form, vars) = &self.meanings[at];
        let names: Vec<&str> = vars.iter().map(|&v| self.names[v].as_str()).collect();
        format!("{} ({})", names.join(", "), form.label())
    }
}

/// The value as is, URL-encoded (upper- and lower-case hex), and base64 (standard and URL-safe
/// alphabets) at each of the three positions it can take in a longer base64 text: the characters
/// that depend on the value alone, so that it is found in `base64` of the value with a newline,
/// padding or none, and inside a larger encoded document.
fn forms(value: &[u8]) -> Vec<(Form, Secret)> {
    let mut forms = vec![(Form::Plain, Secret::copy_from(value))];
    for upper in [true, false] {
        forms.push((Form::UrlEncoded, Secret::from(url_encode(value, upper))));
    }
    for shift in 0..3 {
        let mut shifted = Zeroizing::new(vec![0; shift]);
        shifted.extend_from_slice(value);
        // Character i covers bits 6i..6i+6 of the shifted input; keep those of the value alone.
        let from = (8 * shift).div_ceil(6);
        let to = 8 * shifted.len() / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let mut encoded = Zeroizing::new(engine.encode(&*shifted).into_bytes());
            encoded.truncate(to);
            forms.push((Form::Base64, Secret::copy_from(&encoded[from..])));
        }
    }
    forms
}

/// Percent-encoding of every byte but RFC 3986's unreserved characters.
fn url_encode(value: &[u8], upper: bool) -> Vec<u8> {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Vec::with_capacity(value.len() * 3);
    for &byte in value {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                digits[usize::from(byte >> 4)],
                digits[usize::from(byte & 15)],
            ]);
        }
    }
    out
}

/// What the scan found and what it left out.
#[derive(Default)]
struct Report {
    /// One line per finding, for stdout.
    found: String,
    findings: usize,
    files: usize,
    blobs: usize,
    not_regular: usize,
    too_large: usize,
    unreadable: usize,
}

impl Report {
    fn finish(self, values: usize, history: bool) -> Result<Status> {
        if self.not_regular > 0 {
            crate::terminal::say(&format!(
                "skipped {} symlink(s) and other non-regular file(s)",
                self.not_regular
            ));
        }
        if self.too_large > 0 {
            crate::terminal::say(&format!(
                "skipped {} file(s) or blob(s) over {} MiB",
                self.too_large,
                MAX_FILE_BYTES >> 20
            ));
        }
        let blobs = if history {
            format!(" and {} blob(s) of the history", self.blobs)
        } else {
            String::new()
        };
        let scanned = format!("{} file(s){blobs} for {values} secret value(s)", self.files);
        if self.findings > 0 {
            crate::terminal::say(&format!(
                "found {} secret value(s) in the repository (scanned {scanned})",
                self.findings
            ));
            return Ok(Status(exit::SECRETS_FOUND));
        }
        if self.unreadable > 0 {
            return Err(Error::failed(Failure::ScanIncomplete {
                unreadable: self.unreadable,
                scanned,
            }));
        }
        crate::terminal::say(&format!("scanned {scanned}: none found"));
        Ok(Status::SUCCESS)
    }
}

/// The tracked files, and the untracked ones git does not ignore, as they are in the work tree.
fn scan_work_tree(
    git: &Git,
    specs: &[OsString],
    patterns: &Patterns,
    report: &mut Report,
) -> Result<()> {
    let listed = git.output(
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--deduplicate",
        ],
        specs,
    )?;
    // git lists the tracked files, then the untracked ones; the report is in one order.
    let mut relatives: Vec<&[u8]> = listed
        .split(|&b| b == 0)
        .filter(|path| !path.is_empty())
        .collect();
    relatives.sort_unstable();
    let mut buffer = Zeroizing::new(Vec::new());
    for relative in relatives {
        let path = git.top.join(OsStr::from_bytes(relative));
        match read_regular(&path, &mut buffer) {
            Ok(Opened::Read) => {}
            // Deleted in the work tree but still in the index: the history scan covers it.
            Ok(Opened::Missing) => continue,
            Ok(Opened::NotRegular) => {
                report.not_regular += 1;
                continue;
            }
            Ok(Opened::TooLarge) => {
                report.too_large += 1;
                crate::terminal::say(&format!(
                    "{}: skipped: larger than {} MiB",
                    printable(relative),
                    MAX_FILE_BYTES >> 20
                ));
                continue;
            }
            Err(err) => {
                report.unreadable += 1;
                crate::terminal::say(&format!("{}: cannot read: {err}", printable(relative)));
                continue;
            }
        }
        report.files += 1;
        patterns.search(&buffer, |line, at| {
            report.findings += 1;
            let _ = writeln!(
                report.found,
                "{}:{line}: {}",
                printable(relative),
                patterns.describe(at)
            );
        });
    }
    Ok(())
}

enum Opened {
    Read,
    Missing,
    NotRegular,
    TooLarge,
}

/// Reads `path` into `buffer` if it is a regular file (not a symlink to one) of at most
/// [`MAX_FILE_BYTES`]. Non-blocking, so that a FIFO cannot hold the scan up.
fn read_regular(path: &Path, buffer: &mut Vec<u8>) -> io::Result<Opened> {
    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => std::fs::File::from(fd),
        Err(Errno::LOOP) => return Ok(Opened::NotRegular),
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(Opened::Missing),
        Err(err) => return Err(err.into()),
    };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Ok(Opened::NotRegular);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Ok(Opened::TooLarge);
    }
    buffer.clear();
    file.take(MAX_FILE_BYTES + 1).read_to_end(buffer)?;
    Ok(if buffer.len() as u64 > MAX_FILE_BYTES {
        Opened::TooLarge
    } else {
        Opened::Read
    })
}

/// Every blob reachable from a ref (limited to `specs`), each read once, and for each that holds a
/// value the commits that introduced it.
fn scan_history(
    git: &Git,
    specs: &[OsString],
    patterns: &Patterns,
    report: &mut Report,
) -> Result<()> {
    let objects = git.output(&["rev-list", "--objects", "--all"], specs)?;
    // Trees and blobs carry a path after their id; commits do not.
    let candidates: Vec<&[u8]> = objects
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            line.split(|&b| b == b' ')
                .next()
                .filter(|_| line.contains(&b' '))
        })
        .filter(|id| !id.is_empty() && id.iter().all(u8::is_ascii_hexdigit))
        .collect();
    let mut blobs = Vec::new();
    git.batch("--batch-check", &candidates, |header, _| {
        let mut fields = header.split(|&b| b == b' ');
        let (Some(id), Some(b"blob"), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            return Ok(());
        };
        if parse_size(size)? > MAX_FILE_BYTES {
            report.too_large += 1;
        } else {
            blobs.push(id.to_vec());
        }
        Ok(())
    })?;
    let ids: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    let mut hits: Vec<(Vec<u8>, usize, usize)> = Vec::new();
    let mut buffer = Zeroizing::new(Vec::new());
    git.batch("--batch", &ids, |header, reader| {
        let mut fields = header.split(|&b| b == b' ');
        let (Some(id), Some(_), Some(size)) = (fields.next(), fields.next(), fields.next()) else {
            return Ok(());
        };
        let size = usize::try_from(parse_size(size)?).map_err(io::Error::other)?;
        buffer.clear();
        buffer.resize(size + 1, 0);
        reader.read_exact(&mut buffer)?;
        buffer.truncate(size);
        report.blobs += 1;
        patterns.search(&buffer, |line, at| hits.push((id.to_vec(), line, at)));
        Ok(())
    })?;
    if hits.is_empty() {
        return Ok(());
    }
    let wanted: HashSet<&[u8]> = hits.iter().map(|(id, ..)| id.as_slice()).collect();
    let introduced = git.introductions(specs, &wanted)?;
    for (id, line, at) in &hits {
        report.findings += 1;
        let what = patterns.describe(*at);
        match introduced.get(id.as_slice()) {
            Some(places) => {
                for (commit, path) in places {
                    let _ = writeln!(
                        report.found,
                        "{}:{}:{line}: {what}",
                        printable(&commit[..commit.len().min(12)]),
                        printable(path)
                    );
                }
            }
            // Only reachable through a merge's own change, which the log shows no diff for.
            None => {
                let _ = writeln!(
                    report.found,
                    "blob {}:{line}: {what}",
                    printable(&id[..id.len().min(12)])
                );
            }
        }
    }
    Ok(())
}

fn parse_size(field: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "git cat-file: bad size"))
}

/// A commit id and a path in it.
type Place = (Vec<u8>, Vec<u8>);

/// The real git CLI, run at the top of the work tree.
struct Git {
    top: PathBuf,
}

impl Git {
    fn open(project: &Project) -> Result<Self> {
        let dir = if project.root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &project.root
        };
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--show-toplevel"])
            .output()
            .map_err(|err| Error::io("git", "run", err))?;
        if !output.status.success() {
            return Err(Error::usage(UsageProblem::NotAGitWorkTree {
                dir: dir.to_owned(),
                stderr: printable(output.stderr.trim_ascii()),
            }));
        }
        let top = OsStr::from_bytes(output.stdout.trim_ascii_end()).into();
        Ok(Self { top })
    }

    fn command(&self, args: &[&str], specs: &[OsString]) -> Command {
        let mut command = Command::new("git");
        command.arg("-C").arg(&self.top).args(args);
        if !specs.is_empty() {
            command.arg("--").args(specs);
        }
        command
    }

    fn output(&self, args: &[&str], specs: &[OsString]) -> Result<Vec<u8>> {
        let output = self
            .command(args, specs)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| Error::io("git", "run", err))?;
        if !output.status.success() {
            return Err(git_failed(args, &output.stderr));
        }
        Ok(output.stdout)
    }

    /// `git cat-file OPTION --buffer` (no flush after every object), fed `ids`, calling `each` with the header of every answer and the
    /// stream its content (if any) follows on.
    fn batch(
        &self,
        option: &str,
        ids: &[&[u8]],
        mut each: impl FnMut(&[u8], &mut dyn BufRead) -> io::Result<()>,
    ) -> Result<()> {
        let args = ["cat-file", option, "--buffer"];
        let mut child = self
            .command(&args, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| Error::io("git", "run", err))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both were asked for as pipes");
        };
        let read = std::thread::scope(|scope| {
            // Fed from a thread of its own: git answers while it reads, and both pipes are bounded.
            let writer = scope.spawn(move || {
                let mut stdin = BufWriter::new(stdin);
                for id in ids {
                    stdin.write_all(id)?;
                    stdin.write_all(b"\n")?;
                }
                stdin.flush()
            });
            let read = read_answers(BufReader::new(stdout), ids.len(), &mut each);
            if read.is_err() {
                // Unblocks the writer, which would wait for git to read on.
                let _ = child.kill();
            }
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
            read.and(written)
        });
        finish(child, &args, read)
    }

    /// For each of the `wanted` blobs, the commits (oldest first) and paths where it was added or
    /// changed into.
    fn introductions(
        &self,
        specs: &[OsString],
        wanted: &HashSet<&[u8]>,
    ) -> Result<HashMap<Vec<u8>, Vec<Place>>> {
        let log = self.output(
            &[
                "log",
                "--all",
                "--reverse",
                "--no-renames",
                "--raw",
                "--no-abbrev",
                "-z",
                "--format=%x01%H",
            ],
            specs,
        )?;
        let mut introduced: HashMap<Vec<u8>, Vec<Place>> = HashMap::new();
        let (mut commit, mut new): (&[u8], Option<&[u8]>) = (b"", None);
        for token in log.split(|&b| b == 0) {
            let token = token.strip_prefix(b"\n").unwrap_or(token);
            if let Some(id) = token.strip_prefix(b"\x01") {
                commit = id;
            } else if token.starts_with(b":") {
                // `:old-mode new-mode old-id new-id status`, then the path as the next token.
                new = token.split(|&b| b == b' ').nth(3);
            } else if let Some(id) = new.take()
                && wanted.contains(id)
            {
                introduced
                    .entry(id.to_vec())
                    .or_default()
                    .push((commit.to_vec(), token.to_vec()));
            }
        }
        Ok(introduced)
    }
}

fn read_answers(
    mut reader: impl BufRead,
    count: usize,
    each: &mut impl FnMut(&[u8], &mut dyn BufRead) -> io::Result<()>,
) -> io::Result<()> {
    let mut header = Vec::new();
    for _ in 0..count {
        header.clear();
        reader.read_until(b'\n', &mut header)?;
        if header.pop() != Some(b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "git cat-file stopped answering",
            ));
        }
        each(&header, &mut reader)?;
    }
    Ok(())
}

fn finish(child: Child, args: &[&str], read: io::Result<()>) -> Result<()> {
    let output = child
        .wait_with_output()
        .map_err(|err| Error::io("git", "run", err))?;
    if !output.status.success() {
        return Err(git_failed(args, &output.stderr));
    }
    read.map_err(|err| Error::io("git", "read the answers of", err))
}

fn git_failed(args: &[&str], stderr: &[u8]) -> Error {
    Error::failed(Failure::Git {
        args: args.join(" "),
        stderr: printable(stderr.trim_ascii()),
    })
}

#[cfg(test)]
mod tests {
    use super::{Form, forms, url_encode};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn base64_forms_are_found_in_any_encoding_that_holds_the_value() {
        let value = b"s3cr3t/value+with~bytes";
        let patterns: Vec<Vec<u8>> = forms(value)
            .into_iter()
            .filter(|(form, _)| *form == Form::Base64)
            .map(|(_, p)| p.expose().to_vec())
            .collect();
        for prefix in ["", "a", "ab", "abc", "{\"key\":\""] {
            for suffix in ["", "\n", "x", "\"}"] {
                let text = STANDARD.encode(format!(
                    "{prefix}{}{suffix}",
                    std::str::from_utf8(value).unwrap()
                ));
                assert!(
                    patterns
                        .iter()
                        .any(|p| text.as_bytes().windows(p.len()).any(|w| w == p)),
                    "{prefix:?} {suffix:?}"
                );
            }
        }
    }

    #[test]
    fn url_encoding_keeps_only_unreserved_characters() {
        assert_eq!(url_encode(b"a b/~%", true), b"a%20b%2F~%25");
        assert_eq!(url_encode(b"\xff", false), b"%ff");
    }
}
