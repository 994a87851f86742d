//! Decrypted credentials YAML → [`Node`], in one pass over the parser's events, with every
//! scalar kept as the text it was written as (`1e3` stays `1e3`, `0012` stays `0012`: Ruby and
//! Rust read such scalars differently, and the written text is the one both agree on).
//!
//! Anchors, aliases and merge keys (`<<: *defaults`, `<<: [*a, *b]`) work; aliases are expanded
//! within a budget, so an alias bomb is refused instead of exhausting memory. Errors keep the
//! parser's line and column and never quote the document.

mod simple;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use crate::error::{Error, Location, Position, Result};
use crate::secret::Secret;
use crate::tree::Node;

/// How many nodes aliases may copy in all: far more than any real file, far less than a bomb.
const ALIAS_BUDGET: usize = 1_000_000;

/// YAML's merge key: `<<: *defaults` copies the entries of other mappings, and the mapping's own
/// entries win (as in Ruby's Psych, which Rails uses).
const MERGE_KEY: &str = "<<";

/// Parses `text`, the (decrypted) content of `path`. An empty document is an empty map.
pub fn parse(text: &str, path: &Path) -> Result<Node> {
    parse_only(text, path, &|_| true)
}

/// [`parse`], building only the entries whose key path (`a.b.c`) `wanted` keeps: the rest is
/// read and checked like everything else, then dropped, which saves most of the work on a large
/// file of which a section is used. Anchored values are always kept, for aliases elsewhere.
pub fn parse_only(text: &str, path: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Node> {
    match simple::parse(text, wanted) {
        Some(node) => Ok(node),
        None => parse_general(text, path, wanted),
    }
}

/// [`parse_only`] with the general parser alone, whatever the shape of the text (public so that
/// the fuzz target can check that both readers agree).
pub fn parse_general(text: &str, path: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Node> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        budget: ALIAS_BUDGET,
        path,
        wanted,
        key_path: String::new(),
        unfiltered: 0,
    };
    let node = reader.document()?;
    match node {
        Node::Map(_) => Ok(node),
        Node::Null => Ok(Node::Map(Vec::new())),
        other => Err(Error::config(
            Location::file(path),
            format!(
                "the YAML is {} at the top level; expected a mapping",
                other.kind()
            ),
        )),
    }
}

struct Reader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchored nodes and their sizes, for aliases.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes aliases may still copy.
    budget: usize,
    path: &'a Path,
    wanted: &'a dyn Fn(&str) -> bool,
    /// The key path of the mapping being read.
    key_path: String,
    /// Above 0 while an anchored value is built whole (an alias may use any part of it).
    unfiltered: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span)> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(err)) => Err(self.scan_error(&err)),
            None => Err(self.error(None, "the YAML ends early")),
        }
    }

    fn error(&self, span: Option<Span>, problem: &str) -> Error {
        let position = span.map(|span| Position {
            line: span.start.line(),
            column: span.start.col() + 1,
        });
        Error::config(
            Location::file(self.path).at(position),
            format!("invalid YAML: {problem}"),
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
            format!("invalid YAML: {problem}"),
        )
    }

    /// The one document of the stream (none: null).
    fn document(&mut self) -> Result<Node> {
        let mut node = Node::Null;
        let mut documents = 0;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(node),
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(self.error(
                            Some(span),
                            "more than one document; credentials are one mapping",
                        ));
                    }
                    let (event, span) = self.next()?;
                    node = self.node(event, span)?;
                }
                _ => return Err(self.error(Some(span), "unexpected content")),
            }
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node> {
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                (scalar(text, style, tag.as_deref()), anchor)
            }
            Event::SequenceStart(anchor, _) => {
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    self.node(event, span)?;
                }
                (Node::List, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                let map = self.mapping()?;
                let tagged = tag.is_some_and(|tag| !tag.is_yaml_core_schema());
                (if tagged { Node::Tagged } else { map }, anchor)
            }
            Event::Alias(id) => return self.alias(id, span),
            _ => return Err(self.error(Some(span), "unexpected content")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size(&node)));
        }
        Ok(node)
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<Node> {
        let Some((node, nodes)) = self.anchors.get(&id) else {
            return Err(self.error(Some(span), "an alias names an unknown anchor"));
        };
        if *nodes > self.budget {
            return Err(self.error(
                Some(span),
                "aliases expand to too much (repetition limit exceeded)",
            ));
        }
        self.budget -= nodes;
        Ok(node.clone())
    }

    fn mapping(&mut self) -> Result<Node> {
        // Every key with where it is written, and the value of each key that is wanted.
        let mut keys = Vec::new();
        let mut values = Vec::new();
        let mut merged = Vec::new();
        loop {
            let (event, span) = self.next()?;
            let key = match event {
                Event::MappingEnd => break,
                Event::Scalar(text, ..) => text.into_owned(),
                Event::Alias(id) => match self.alias(id, span)? {
                    Node::Scalar(text) => String::from_utf8_lossy(text.expose()).into_owned(),
                    _ => return Err(self.error(Some(span), "a mapping key must be a plain value")),
                },
                _ => return Err(self.error(Some(span), "a mapping key must be a plain value")),
            };
            let (event, value_span) = self.next()?;
            if key == MERGE_KEY {
                merged.extend(self.merge_sources(event, value_span)?);
                continue;
            }
            let outer = self.key_path.len();
            if outer > 0 {
                self.key_path.push('.');
            }
            self.key_path.push_str(&key);
            let keep = self.unfiltered > 0 || (self.wanted)(&self.key_path);
            let value = if keep {
                self.node(event, value_span).map(Some)
            } else {
                self.skip(event, value_span).map(|()| None)
            };
            self.key_path.truncate(outer);
            keys.push((key, span));
            values.push(value?);
        }
        let own = self.unique(&keys)?;
        // Merged entries fill in only the keys the mapping does not have itself.
        merged.retain(|(key, _)| own.binary_search(&key.as_str()).is_err());
        let mut entries: Vec<(String, Node)> = keys
            .into_iter()
            .zip(values)
            .filter_map(|((key, _), value)| Some((key, value?)))
            .collect();
        entries.append(&mut merged);
        Ok(Node::Map(entries))
    }

    /// Refuses a key written twice in one mapping (the second occurrence that comes first in the
    /// file is reported), else gives the keys sorted. Sorting instead of hashing each key as it
    /// comes: a mapping may hold thousands, and they are often written in order already.
    fn unique<'k, K: AsRef<str>>(&self, keys: &'k [(K, Span)]) -> Result<Vec<&'k str>> {
        let mut sorted: Vec<(&str, usize)> = keys
            .iter()
            .enumerate()
            .map(|(at, (key, _))| (key.as_ref(), at))
            .collect();
        sorted.sort_unstable();
        let duplicate = sorted
            .windows(2)
            .filter(|pair| pair[0].0 == pair[1].0)
            .map(|pair| pair[1].1)
            .min();
        if let Some(at) = duplicate {
            let (key, span) = &keys[at];
            let key = key.as_ref();
            return Err(self.error(Some(*span), &format!("duplicate key `{key}`")));
        }
        Ok(sorted.into_iter().map(|(key, _)| key).collect())
    }

    /// Reads a value that is not wanted without building it (anchored parts are built whole, for
    /// aliases elsewhere). Duplicate keys are refused here too, so that what is wanted never
    /// changes which files are accepted.
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
            Event::MappingStart(..) => {
                let mut keys = Vec::new();
                loop {
                    let (key, span) = self.next()?;
                    match key {
                        Event::MappingEnd => return self.unique(&keys).map(drop),
                        Event::Scalar(text, ..) if text != MERGE_KEY => keys.push((text, span)),
                        other => self.skip(other, span)?,
                    }
                    let (value, span) = self.next()?;
                    self.skip(value, span)?;
                }
            }
            _ => Err(self.error(Some(span), "unexpected content")),
        }
    }

    /// The entries `<<` merges: one mapping, or a list of them (earlier ones win).
    fn merge_sources(&mut self, event: Event<'a>, span: Span) -> Result<Vec<(String, Node)>> {
        let not_mapping = |reader: &Self, span| {
            reader.error(
                Some(span),
                "the merge key `<<` must hold a mapping or a list of mappings",
            )
        };
        if !matches!(event, Event::SequenceStart(..)) {
            return match self.node(event, span)? {
                Node::Map(entries) => Ok(entries),
                _ => Err(not_mapping(self, span)),
            };
        }
        let mut entries: Vec<(String, Node)> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                return Ok(entries);
            }
            let Node::Map(more) = self.node(event, span)? else {
                return Err(not_mapping(self, span));
            };
            for (key, value) in more {
                if !entries.iter().any(|(existing, _)| *existing == key) {
                    entries.push((key, value));
                }
            }
        }
    }
}

/// A scalar as lsenv sees it: null for YAML's null forms, its text otherwise; a value with a
/// tag that is not YAML's own (`!ruby/object:…`) is kept as tagged, not interpreted.
fn scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Tag>) -> Node {
    match tag {
        Some(tag) if !tag.is_yaml_core_schema() || tag.suffix == "binary" => return Node::Tagged,
        Some(tag) if tag.suffix == "null" => return Node::Null,
        Some(_) => return Node::Scalar(Secret::from(text.into_owned())),
        None => {}
    }
    let null =
        style == ScalarStyle::Plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL");
    if null {
        Node::Null
    } else {
        Node::Scalar(Secret::from(text.into_owned()))
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

    use super::parse;
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
        let two = parse("a: 1\n---\nb: 2\n", Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(two.contains("more than one document"), "{two}");
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
        let dup = super::parse_only("big:\n  a: 1\n  a: 2\n", Path::new("f"), &wanted);
        assert!(dup.unwrap_err().to_string().contains("duplicate key `a`"));
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
        let dup = parse("a: canary\na: canary\n", Path::new("c"))
            .unwrap_err()
            .to_string();
        assert!(dup.contains("duplicate key `a`"), "{dup}");
        assert!(!dup.contains("canary"), "{dup}");
        let top = parse("- canary\n", Path::new("c")).unwrap_err().to_string();
        assert!(top.contains("a list at the top level"), "{top}");
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
