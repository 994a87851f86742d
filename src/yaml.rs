//! Decrypted credentials YAML → [`Node`], with every scalar kept as the text it was written as.
//!
//! serde's data model hands numbers and booleans over already converted (`1e3` → 1000.0), so the
//! text is read in two passes over the same document: the first learns which nodes are maps,
//! scalars, nulls or lists, the second asks for each scalar as a string, which the YAML
//! deserializer answers with the scalar's own text. Errors keep the parser's line and column and
//! never quote the document.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::{Error, Location, Position, Result};
use crate::secret::Secret;
use crate::tree::Node;

/// Parses `text`, the (decrypted) content of `path`. An empty document is an empty map.
pub fn parse(text: &str, path: &Path) -> Result<Node> {
    let to_error = |err: serde_yaml::Error| rewrite_error(&err, path);
    let shape =
        Shape::deserialize_from(serde_yaml::Deserializer::from_str(text)).map_err(to_error)?;
    let node = NodeSeed(&shape)
        .deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(to_error)?;
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

/// Keeps the parser's position and message; drops the location suffix it appends itself.
fn rewrite_error(err: &serde_yaml::Error, path: &Path) -> Error {
    let position = err.location().map(|loc| Position {
        line: loc.line(),
        column: loc.column(),
    });
    let text = err.to_string();
    let first_line = text.lines().next().unwrap_or_default();
    let message = first_line
        .find(" at line ")
        .map_or(first_line, |at| &first_line[..at]);
    Error::config(
        Location::file(path).at(position),
        format!("invalid YAML: {message}"),
    )
}

/// The outline of a document: what each node is, without any of its text.
enum Shape {
    Null,
    Scalar,
    Map(Vec<Shape>),
    List,
    Tagged,
}

impl Shape {
    fn deserialize_from<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

impl<'de> de::Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::deserialize_from(deserializer)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_none<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_string<E>(self, text: String) -> Result<Shape, E> {
        drop(Secret::from(text));
        Ok(Shape::Scalar)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::List)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut children = Vec::new();
        while map.next_key::<IgnoredAny>()?.is_some() {
            children.push(map.next_value::<Shape>()?);
        }
        Ok(Shape::Map(children))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Shape, A::Error> {
        use de::VariantAccess as _;
        let ((), variant) = data.variant_seed(IgnoreSeed)?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(Shape::Tagged)
    }
}

/// Skips a tag name without keeping it.
struct IgnoreSeed;

impl<'de> DeserializeSeed<'de> for IgnoreSeed {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_ignored_any(IgnoredAny).map(drop)
    }
}

/// The second pass: builds the node that `shape` says is next.
struct NodeSeed<'s>(&'s Shape);

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        match self.0 {
            Shape::Scalar => deserializer.deserialize_str(TextVisitor).map(Node::Scalar),
            Shape::Map(children) => deserializer.deserialize_map(MapVisitor(children)),
            Shape::Null => deserializer
                .deserialize_ignored_any(IgnoredAny)
                .map(|_| Node::Null),
            Shape::List => deserializer
                .deserialize_ignored_any(IgnoredAny)
                .map(|_| Node::List),
            Shape::Tagged => deserializer
                .deserialize_ignored_any(IgnoredAny)
                .map(|_| Node::Tagged),
        }
    }
}

/// A scalar's text, straight into a zeroizing buffer.
struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_str<E>(self, text: &str) -> Result<Secret, E> {
        Ok(Secret::copy_from(text.as_bytes()))
    }

    fn visit_string<E>(self, text: String) -> Result<Secret, E> {
        Ok(Secret::from(text))
    }
}

/// A mapping key: keys name things and may appear in messages, so they are plain strings.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer
            .deserialize_str(TextVisitor)
            .map(|text| String::from_utf8_lossy(text.expose()).into_owned())
    }
}

/// YAML's merge key: `<<: *defaults` copies the entries of another mapping, and the mapping's own
/// entries win (as in Ruby's Psych, which Rails uses).
const MERGE_KEY: &str = "<<";

struct MapVisitor<'s>(&'s [Shape]);

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::with_capacity(self.0.len());
        // A set, not a scan of `entries`: a mapping may hold thousands of keys.
        let mut seen: HashSet<String> = HashSet::with_capacity(self.0.len());
        let mut merged = Vec::new();
        for shape in self.0 {
            let Some(key) = map.next_key_seed(KeySeed)? else {
                break;
            };
            let value = map.next_value_seed(NodeSeed(shape))?;
            if key == MERGE_KEY {
                match value {
                    Node::Map(from) => merged.extend(from),
                    other => {
                        return Err(de::Error::custom(format_args!(
                            "the merge key `<<` holds {}; only a single mapping can be merged",
                            other.kind()
                        )));
                    }
                }
            } else if seen.contains(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            } else {
                seen.insert(key.clone());
                entries.push((key, value));
            }
        }
        for (key, value) in merged {
            if seen.insert(key.clone()) {
                entries.push((key, value));
            }
        }
        Ok(Node::Map(entries))
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
