//! Decrypted credentials YAML → [`Node`], in one pass over the events of one parser
//! (saphyr-parser), read the way Rails reads credentials (Ruby's Psych, `YAML.unsafe_load`,
//! then `deep_symbolize_keys`): a key written twice holds its last value, a merge key (`<<:
//! *defaults`, `<<: [*a, *b]`) overrides the keys before it and is overridden by those after,
//! `:name` keys are `name`, `!!binary` is decoded, and only the first document counts. Every
//! scalar stays the text it was written as (`1e3` stays `1e3`, `0012` stays `0012`: Ruby and Rust
//! read such scalars differently, and the written text is the one both agree on); `check` warns
//! where Ruby reads something else ([`parse_with_remarks`]).
//!
//! Aliases are expanded within a budget, so an alias bomb is refused instead of exhausting
//! memory. Errors keep the parser's line and column and never quote the document.

pub mod ruby;
pub mod syntax;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use crate::error::{ConfigProblem, Error, Location, Position, Result};
use crate::secret::Secret;
use crate::tree::Node;

/// How many nodes aliases may copy in all: far more than any real file, far less than a bomb.
const ALIAS_BUDGET: usize = 1_000_000;

/// YAML's merge key.
const MERGE_KEY: &str = "<<";

const NOT_A_KEY: &str = "a mapping key must be a plain value";

/// Something about a value that lsenv reads as Ruby does but that deserves a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remark {
    /// The key path the value lands at (merged and aliased values at the place they land).
    pub path: String,
    /// Where it is written.
    pub position: Position,
    pub kind: RemarkKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemarkKind {
    /// An unquoted scalar Ruby reads as something whose text differs (`0012` is 10 to Ruby).
    RubyReads(&'static str),
    /// A key written a second time in one mapping: the last one holds.
    Duplicate,
}

/// Parses `text`, the (decrypted) content of `path`. An empty document is an empty map.
pub fn parse(text: &str, path: &Path) -> Result<Node> {
    Reader::new(text, path, &|_| true, false).read()
}

/// [`parse`], building only the entries whose key path (`a.b.c`) `wanted` keeps: the rest is
/// read and checked like everything else, then dropped, which saves most of the work on a large
/// file of which a section is used. Anchored values are always kept, for aliases elsewhere.
pub fn parse_only(text: &str, path: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Node> {
    Reader::new(text, path, wanted, false).read()
}

/// [`parse`], with the remarks for `check`, in document order.
pub fn parse_with_remarks(text: &str, path: &Path) -> Result<(Node, Vec<Remark>)> {
    let mut reader = Reader::new(text, path, &|_| true, true);
    let node = reader.read()?;
    Ok((node, reader.remarks.unwrap_or_default()))
}

/// An anchored node, its size (for the alias budget) and its remarks, their paths relative to
/// it (an alias repeats them where it lands).
struct Anchored {
    node: Node,
    size: usize,
    remarks: Vec<Remark>,
}

/// What a `<<` entry turned out to hold.
enum Merge {
    /// The entries of a mapping, or of a list of mappings (earlier ones win).
    Entries(Vec<(String, Node)>),
    /// Anything else: Psych keeps it as an ordinary `<<` key.
    Value(Node),
}

/// What a tag makes of a scalar, as Psych reads it.
enum Tagging {
    /// No tag, or one Psych reads the scalar through as if it had none (`!secret`, `!!int`).
    Plain,
    /// `!!str`: the text, whatever it looks like.
    Text,
    Null,
    Binary,
    /// `!ruby/…`: a Ruby object, which lsenv does not interpret.
    Ruby,
}

fn tagging(tag: Option<&Tag>) -> Tagging {
    let Some(tag) = tag else {
        return Tagging::Plain;
    };
    let core = tag.is_yaml_core_schema();
    match tag.suffix.as_str() {
        "str" if core => Tagging::Text,
        "null" if core => Tagging::Null,
        "binary" if core => Tagging::Binary,
        suffix if tag.handle == "!" && suffix.starts_with("ruby/") => Tagging::Ruby,
        _ if tag.handle.starts_with("tag:ruby.yaml.org,") => Tagging::Ruby,
        _ => Tagging::Plain,
    }
}

struct Reader<'a> {
    text: &'a str,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Anchored>,
    /// Nodes aliases may still copy.
    budget: usize,
    path: &'a Path,
    wanted: &'a dyn Fn(&str) -> bool,
    /// The key path of the node being read.
    key_path: String,
    /// Above 0 while an anchored value is built whole (an alias may use any part of it).
    unfiltered: usize,
    remarks: Option<Vec<Remark>>,
    /// When the text does not end in a line break: its length in characters (the parser's
    /// unit), and the width of its last line when that is only spaces. A block scalar that ends
    /// there has no final line break, as in libyaml (Ruby), where the parser adds one — except
    /// after a last line of fewer spaces than the block's indentation.
    unterminated_end: Option<(usize, Option<usize>)>,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str, path: &'a Path, wanted: &'a dyn Fn(&str) -> bool, remarks: bool) -> Self {
        let unterminated_end = (!text.is_empty() && !text.ends_with(['\n', '\r'])).then(|| {
            let last_line = text.rsplit(['\n', '\r']).next().unwrap_or(text);
            let blanks = last_line
                .bytes()
                .all(|b| b == b' ')
                .then_some(last_line.len());
            (text.chars().count(), blanks)
        });
        Reader {
            text,
            parser: Parser::new_from_str(text),
            anchors: HashMap::new(),
            budget: ALIAS_BUDGET,
            path,
            wanted,
            key_path: String::new(),
            unfiltered: 0,
            remarks: remarks.then(Vec::new),
            unterminated_end,
        }
    }

    fn read(&mut self) -> Result<Node> {
        if let Some(at) = syntax::refused_character(self.text) {
            return Err(Error::config(
                Location::file(self.path).at(Some(crate::error::position_of(self.text, at))),
                ConfigProblem::YamlControlCharacter,
            ));
        }
        match self.document()? {
            node @ Node::Map(_) => Ok(node),
            Node::Null => Ok(Node::Map(Vec::new())),
            other => Err(Error::config(
                Location::file(self.path),
                ConfigProblem::YamlNotMapping { kind: other.kind() },
            )),
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Span)> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(err)) => Err(self.scan_error(&err)),
            None => Err(self.error(None, "the YAML ends early")),
        }
    }

    fn error(&self, span: Option<Span>, problem: &str) -> Error {
        Error::config(
            Location::file(self.path).at(span.map(position)),
            ConfigProblem::InvalidYaml {
                message: problem.to_owned(),
            },
        )
    }

    /// The parser's message, except the one that quotes a character of the document.
    fn scan_error(&self, err: &ScanError) -> Error {
        let info = err.info();
        let problem = if info.starts_with("unexpected character") {
            "unexpected character"
        } else {
            info
        };
        let position = Position {
            line: err.marker().line(),
            column: err.marker().col() + 1,
        };
        Error::config(
            Location::file(self.path).at(Some(position)),
            ConfigProblem::InvalidYaml {
                message: problem.to_owned(),
            },
        )
    }

    /// The first document of the stream (none: null). Like Psych, what follows it is not read.
    fn document(&mut self) -> Result<Node> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => return Ok(Node::Null),
                Event::DocumentStart(_) => {
                    let (event, span) = self.next()?;
                    let node = self.node(event, span)?;
                    let (end, span) = self.next()?;
                    if !matches!(end, Event::DocumentEnd) {
                        return Err(self.error(Some(span), "unexpected content"));
                    }
                    return Ok(node);
                }
                _ => return Err(self.error(Some(span), "unexpected content")),
            }
        }
    }

    fn remark(&mut self, span: Span, kind: RemarkKind) {
        if let Some(remarks) = &mut self.remarks {
            remarks.push(Remark {
                path: self.key_path.clone(),
                position: position(span),
                kind,
            });
        }
    }

    /// Runs `read` with `segment` appended to the key path.
    fn under<T>(&mut self, segment: &str, read: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.key_path.len();
        if outer > 0 {
            self.key_path.push('.');
        }
        self.key_path.push_str(segment);
        let read = read(self);
        self.key_path.truncate(outer);
        read
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node> {
        let first_remark = self.remarks.as_ref().map_or(0, Vec::len);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (self.scalar(text, style, tag.as_deref(), span), anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut index = 0usize;
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    self.under(&index.to_string(), |reader| reader.node(event, span))?;
                    index += 1;
                }
                (Node::List, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                let map = self.mapping()?;
                let ruby = matches!(tagging(tag.as_deref()), Tagging::Ruby);
                (if ruby { Node::Tagged } else { map }, anchor)
            }
            Event::Alias(id) => {
                let (node, remarks) = self.alias(id, span)?;
                if let Some(all) = &mut self.remarks {
                    all.extend(remarks.into_iter().map(|mut remark| {
                        remark.path = join(&self.key_path, &remark.path);
                        remark
                    }));
                }
                return Ok(node);
            }
            _ => return Err(self.error(Some(span), "unexpected content")),
        };
        if anchor != 0 {
            let remarks = self.remarks.as_ref().map_or_else(Vec::new, |all| {
                all[first_remark..]
                    .iter()
                    .map(|remark| Remark {
                        path: relative(&self.key_path, &remark.path).to_owned(),
                        ..remark.clone()
                    })
                    .collect()
            });
            let size = size(&node);
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    size,
                    remarks,
                },
            );
        }
        Ok(node)
    }

    /// A scalar as lsenv sees it: null for the null words, its text otherwise (the bytes for
    /// `!!binary`); a Ruby object (`!ruby/object:…`) is kept as tagged, not interpreted.
    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        tag: Option<&Tag>,
        span: Span,
    ) -> Node {
        let plain = style == ScalarStyle::Plain;
        match tagging(tag) {
            Tagging::Ruby => return Node::Tagged,
            Tagging::Null => return Node::Null,
            Tagging::Binary => {
                return ruby::binary(&text)
                    .map_or(Node::Tagged, |bytes| Node::Scalar(Secret::from(bytes)));
            }
            Tagging::Plain if plain && syntax::is_null_word(&text) => return Node::Null,
            Tagging::Plain if plain => {
                if self.remarks.is_some()
                    && let Some(reading) = ruby::reading(&text)
                {
                    self.remark(span, RemarkKind::RubyReads(reading));
                }
            }
            Tagging::Plain | Tagging::Text => {}
        }
        let mut text = text.into_owned();
        let added_break = self.unterminated_end.is_some_and(|(end, blanks)| {
            end == span.end.index() && blanks.is_none_or(|width| width >= span.start.col())
        });
        if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
            && added_break
            && text.ends_with('\n')
        {
            text.pop();
        }
        Node::Scalar(Secret::from(text))
    }

    /// The node an alias names, and the remarks of that node.
    fn alias(&mut self, id: usize, span: Span) -> Result<(Node, Vec<Remark>)> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(self.error(Some(span), "an alias names an unknown anchor"));
        };
        if anchored.size > self.budget {
            return Err(self.error(
                Some(span),
                "aliases expand to too much (repetition limit exceeded)",
            ));
        }
        self.budget -= anchored.size;
        let remarks = if self.remarks.is_some() {
            anchored.remarks.clone()
        } else {
            Vec::new()
        };
        Ok((anchored.node.clone(), remarks))
    }

    /// A mapping key as Rails sees it: `:name` (a Ruby symbol) is `name`; and whether it is the
    /// merge key (not when tagged `!!str`).
    fn key(&mut self, event: Event<'a>, span: Span) -> Result<(String, bool)> {
        match event {
            Event::Scalar(text, style, _, tag) => {
                let tagging = tagging(tag.as_deref());
                let merge = text == MERGE_KEY && !matches!(tagging, Tagging::Text);
                let symbol = (style == ScalarStyle::Plain && matches!(tagging, Tagging::Plain))
                    .then(|| ruby::symbol(&text).map(str::to_owned))
                    .flatten();
                Ok((symbol.unwrap_or_else(|| text.into_owned()), merge))
            }
            Event::Alias(id) => match self.alias(id, span)?.0 {
                Node::Scalar(text) => {
                    Ok((String::from_utf8_lossy(text.expose()).into_owned(), false))
                }
                _ => Err(self.error(Some(span), NOT_A_KEY)),
            },
            _ => Err(self.error(Some(span), NOT_A_KEY)),
        }
    }

    fn mapping(&mut self) -> Result<Node> {
        // Every write to the mapping in document order (a merge writes each of its entries), the
        // value only when it is wanted, and where each of the mapping's own keys is written.
        let mut writes: Vec<(String, Option<Node>)> = Vec::new();
        let mut spans: Vec<Option<Span>> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let (key, merge) = self.key(event, span)?;
            let (event, value_span) = self.next()?;
            let value = if merge {
                match self.merge_sources(event, value_span)? {
                    Merge::Entries(entries) => {
                        spans.extend(entries.iter().map(|_| None));
                        writes.extend(entries.into_iter().map(|(key, node)| (key, Some(node))));
                        continue;
                    }
                    Merge::Value(node) => Some(node),
                }
            } else {
                self.under(&key, |reader| {
                    if reader.unfiltered > 0 || (reader.wanted)(&reader.key_path) {
                        reader.node(event, value_span).map(Some)
                    } else {
                        reader.skip(event, value_span).map(|()| None)
                    }
                })?
            };
            writes.push((key, value));
            spans.push(Some(span));
        }
        Ok(self.settle(writes, &spans))
    }

    /// The mapping the writes leave, as Psych's `Hash#[]=` and `merge!` leave it: each key where
    /// it was first written, with the value written last. Sorting instead of hashing each key as
    /// it comes: a mapping may hold thousands, and they are often written in order already.
    fn settle(&mut self, mut writes: Vec<(String, Option<Node>)>, spans: &[Option<Span>]) -> Node {
        let mut order: Vec<usize> = (0..writes.len()).collect();
        order.sort_by(|&a, &b| writes[a].0.cmp(&writes[b].0).then(a.cmp(&b)));
        let mut dropped = vec![false; writes.len()];
        let repeated: Vec<&[usize]> = order
            .chunk_by(|&a, &b| writes[a].0 == writes[b].0)
            .filter(|group| group.len() > 1)
            .collect();
        for group in repeated {
            let (first, last) = (group[0], group[group.len() - 1]);
            for &at in &group[1..] {
                dropped[at] = true;
            }
            writes[first].1 = writes[last].1.take();
            let mut own = group.iter().filter_map(|&at| spans[at]);
            own.next();
            for span in own {
                let key = writes[first].0.clone();
                self.under(&key, |reader| reader.remark(span, RemarkKind::Duplicate));
            }
        }
        Node::Map(
            writes
                .into_iter()
                .zip(dropped)
                .filter_map(|((key, value), dropped)| Some((key, value.filter(|_| !dropped)?)))
                .collect(),
        )
    }

    /// Reads a value that is not wanted without building it (anchored parts are built whole, for
    /// aliases elsewhere). Keys are checked as everywhere, so that what is wanted never changes
    /// which files are accepted.
    fn skip(&mut self, event: Event<'a>, span: Span) -> Result<()> {
        match &event {
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if *anchor != 0 =>
            {
                self.unfiltered += 1;
                let built = self.node(event, span).map(drop);
                self.unfiltered -= 1;
                built
            }
            Event::Scalar(..) | Event::Alias(_) => Ok(()),
            Event::SequenceStart(..) => loop {
                let (event, span) = self.next()?;
                if matches!(event, Event::SequenceEnd) {
                    return Ok(());
                }
                self.skip(event, span)?;
            },
            Event::MappingStart(..) => loop {
                match self.next()? {
                    (Event::MappingEnd, _) => return Ok(()),
                    (Event::Scalar(..) | Event::Alias(_), _) => {}
                    (_, span) => return Err(self.error(Some(span), NOT_A_KEY)),
                }
                let (value, span) = self.next()?;
                self.skip(value, span)?;
            },
            _ => Err(self.error(Some(span), "unexpected content")),
        }
    }

    /// What `<<` merges: one mapping, or a list of them (earlier ones win); anything else is an
    /// ordinary value, as in Psych.
    fn merge_sources(&mut self, event: Event<'a>, span: Span) -> Result<Merge> {
        if !matches!(event, Event::SequenceStart(..)) {
            return Ok(match self.node(event, span)? {
                Node::Map(entries) => Merge::Entries(entries),
                other => Merge::Value(other),
            });
        }
        let mut entries: Vec<(String, Node)> = Vec::new();
        let mut all_mappings = true;
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                break;
            }
            match self.node(event, span)? {
                Node::Map(more) => {
                    for (key, value) in more {
                        if !entries.iter().any(|(existing, _)| *existing == key) {
                            entries.push((key, value));
                        }
                    }
                }
                _ => all_mappings = false,
            }
        }
        Ok(if all_mappings {
            Merge::Entries(entries)
        } else {
            Merge::Value(Node::List)
        })
    }
}

fn position(span: Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// `outer.inner` (either may be empty).
fn join(outer: &str, inner: &str) -> String {
    match (outer.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_owned(),
        (_, true) => outer.to_owned(),
        _ => format!("{outer}.{inner}"),
    }
}

/// `path` relative to `outer`, which it is inside of.
fn relative<'p>(outer: &str, path: &'p str) -> &'p str {
    match path.strip_prefix(outer) {
        Some(rest) if outer.is_empty() => rest,
        Some(rest) => rest.strip_prefix('.').unwrap_or(rest),
        None => path,
    }
}

/// How many nodes `node` holds, for the alias budget.
fn size(node: &Node) -> usize {
    match node {
        Node::Map(entries) => 1 + entries.iter().map(|(_, child)| size(child)).sum::<usize>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::path::Path;

    use super::{RemarkKind, parse};
    use crate::tree::Node;

    fn text_at(node: &Node, path: &str) -> String {
        match node.get(path) {
            Some(Node::Scalar(secret)) => String::from_utf8(secret.expose().to_vec()).unwrap(),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_written_text() {
        let doc = "a: 0012345\nb: yes\nc: 1e3\nd: 0x1F\ne: 'quoted: yes'\nf: -1.50\ng: true\n";
        let node = parse(doc, Path::new("f")).unwrap();
        for (key, text) in [
            ("a", "0012345"),
            ("b", "yes"),
            ("c", "1e3"),
            ("d", "0x1F"),
            ("e", "quoted: yes"),
            ("f", "-1.50"),
            ("g", "true"),
        ] {
            assert_eq!(text_at(&node, key), text);
        }
    }

    #[test]
    fn structure_nulls_lists_and_tags() {
        let doc = "x:\n  y:\n    z: 1\n  n: ~\n  e:\n  l: [1, 2]\n  t: !ruby/object:Foo {}\n";
        let node = parse(doc, Path::new("f")).unwrap();
        assert_eq!(text_at(&node, "x.y.z"), "1");
        assert!(matches!(node.get("x.n"), Some(Node::Null)));
        assert!(matches!(node.get("x.e"), Some(Node::Null)));
        assert!(matches!(node.get("x.l"), Some(Node::List)));
        assert!(matches!(node.get("x.t"), Some(Node::Tagged)));
    }

    #[test]
    fn merge_keys_and_anchors() {
        let doc = "base: &b\n  k: from-base\n  j: base-j\nlitestream:\n  <<: *b\n  j: own\n";
        let node = parse(doc, Path::new("f")).unwrap();
        assert_eq!(text_at(&node, "litestream.k"), "from-base");
        assert_eq!(text_at(&node, "litestream.j"), "own");
    }

    #[test]
    fn merge_lists_earlier_mappings_win_and_tags() {
        let doc = "a: &a {k: from-a, x: a}\nb: &b {k: from-b, y: b}\nm:\n  <<: [*a, *b]\n  x: own\nq: !!str 0012\nn: !!null ''\n";
        let node = parse(doc, Path::new("f")).unwrap();
        assert_eq!(text_at(&node, "m.k"), "from-a");
        assert_eq!(text_at(&node, "m.x"), "own");
        assert_eq!(text_at(&node, "m.y"), "b");
        assert_eq!(text_at(&node, "q"), "0012");
        assert!(matches!(node.get("n"), Some(Node::Null)));
        let err = parse("a: [1\n  b: canary\n", Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f:"), "{err}");
        // Like Psych, the first document only (what follows is not even read).
        let two = parse("a: 1\n---\nb: [\n", Path::new("f")).unwrap();
        assert_eq!(text_at(&two, "a"), "1");
        assert!(two.get("b").is_none());
    }

    #[test]
    fn only_wanted_entries_are_built_and_anchors_still_work() {
        let doc = "defaults: &d\n  bucket: from-anchor\n  other: x\nbig:\n  a: 1\n  b: [1, 2]\nlitestream:\n  <<: *d\n  own: yes\n";
        let wanted = |path: &str| path == "litestream" || path.starts_with("litestream.");
        let node = super::parse_only(doc, Path::new("f"), &wanted).unwrap();
        assert_eq!(text_at(&node, "litestream.bucket"), "from-anchor");
        assert_eq!(text_at(&node, "litestream.own"), "yes");
        assert!(node.get("big").is_none());
        assert!(node.get("defaults").is_none());
        let refused =
            super::parse_only("big:\n  [a]: 1\nlitestream: {}\n", Path::new("f"), &wanted);
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("must be a plain value")
        );
    }

    #[test]
    fn empty_and_comment_only_documents_are_empty_maps() {
        for doc in ["", "# only a comment\n", "---\n"] {
            assert!(matches!(parse(doc, Path::new("f")).unwrap(), Node::Map(m) if m.is_empty()));
        }
    }

    #[test]
    fn errors_have_positions_and_no_values() {
        let err = parse("a: 1\nb: [canary-secret\n", Path::new("c.yml.enc")).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("c.yml.enc:"), "{shown}");
        assert!(!shown.contains("canary"), "{shown}");
        let control = parse("a: canary\u{7}\n", Path::new("c"))
            .unwrap_err()
            .to_string();
        assert!(control.starts_with("c:1:10:"), "{control}");
        assert!(!control.contains("canary"), "{control}");
        let top = parse("- canary\n", Path::new("c")).unwrap_err().to_string();
        assert!(top.contains("a list at the top level"), "{top}");
    }

    /// Psych's (Rails') reading where YAML parsers differ.
    #[test]
    fn read_as_ruby_reads() {
        let cases = [
            // A merge after the mapping's own keys wins; keys after it win over it.
            (
                "d: &d {r: r1, s: s1}\nl:\n  r: r2\n  <<: *d\n  s: s2\n",
                "l.r",
                "r1",
            ),
            (
                "d: &d {r: r1, s: s1}\nl:\n  r: r2\n  <<: *d\n  s: s2\n",
                "l.s",
                "s2",
            ),
            // Duplicate keys, also whole sections: the last.
            ("a: 1\na: 2\n", "a", "2"),
            ("l:\n  a: 1\nl:\n  b: 2\n", "l.b", "2"),
            // Symbol keys are the word.
            (":l:\n  :bucket: x\n", "l.bucket", "x"),
            (":\"q\": y\n", "q", "y"),
            ("'<<': {m: merged}\n", "m", "merged"),
            ("'<<x': {m: merged}\n", "<<x.m", "merged"),
            ("<<: 5\n", "<<", "5"),
            // Tags: !!binary decoded, other tags read through.
            ("a: !!binary aGk=\n", "a", "hi"),
            ("a: !!binary |\n  aGk=\n", "a", "hi"),
            ("a: !secret abc\n", "a", "abc"),
            // A block scalar at the very end, without a final line break, has none.
            ("a: |\n  k\n  l", "a", "k\nl"),
            ("a: |+\n  k\n  l", "a", "k\nl"),
            ("a: >\n  k\n  l", "a", "k l"),
            ("a: |\n  k\n  l\n  ", "a", "k\nl\n"),
            ("a: >\n  k\n  l\n ", "a", "k l\n"),
            ("x:\n  a: |\n    k\n   ", "x.a", "k\n"),
            ("a: |\n  k\n  l\n", "a", "k\nl\n"),
            ("a: |\n  k\nb: 1", "a", "k\n"),
        ];
        for (doc, path, text) in cases {
            let node = parse(doc, Path::new("f")).unwrap_or_else(|err| panic!("{doc:?}: {err}"));
            assert_eq!(text_at(&node, path), text, "{doc:?}");
        }
        let node = parse(
            "a: nULL\nb: !ruby/object:Foo x\nc: !ruby/hash:Foo {}\n",
            Path::new("f"),
        )
        .unwrap();
        assert!(matches!(node.get("a"), Some(Node::Null)));
        assert!(matches!(node.get("b"), Some(Node::Tagged)));
        assert!(matches!(node.get("c"), Some(Node::Tagged)));
        for refused in ["a: x\u{7}y\n", "a: x\u{7f}y\n", "a: x\u{85}y\n"] {
            let err = parse(refused, Path::new("f")).unwrap_err().to_string();
            assert!(err.contains("control character"), "{err}");
        }
    }

    #[test]
    fn remarks_with_the_paths_values_land_at() {
        let doc = "d: &d\n  port: 0012\n  ok: text\nlitestream:\n  <<: *d\n  quoted: '0012'\n  list: [yes, 'no']\n  t: !!str yes\n  dup: 1\n  dup: 2\n";
        let (node, remarks) = super::parse_with_remarks(doc, Path::new("f")).unwrap();
        assert_eq!(text_at(&node, "litestream.dup"), "2");
        let found: Vec<_> = remarks
            .iter()
            .map(|r| (r.path.as_str(), r.position.line, r.kind))
            .collect();
        assert_eq!(
            found,
            [
                ("d.port", 2, RemarkKind::RubyReads("an integer")),
                ("litestream.port", 2, RemarkKind::RubyReads("an integer")),
                ("litestream.list.0", 7, RemarkKind::RubyReads("a boolean")),
                ("litestream.dup", 10, RemarkKind::Duplicate),
            ]
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        // Each level doubles ten times over: 10^12 leaves if aliases were expanded naively.
        let mut doc = String::from("a0: &a0 {k: v}\n");
        for i in 1..13 {
            let prev = i - 1;
            let entries: Vec<String> = (0..10).map(|k| format!("k{k}: *a{prev}")).collect();
            writeln!(doc, "a{i}: &a{i} {{{}}}", entries.join(", ")).unwrap();
        }
        let err = parse(&doc, Path::new("bomb")).unwrap_err().to_string();
        assert!(err.contains("repetition limit"), "{err}");
    }
}
