//! The shape every source is read into before it becomes variables: a tree of maps whose leaves
//! are [`Secret`] text. Credentials YAML and TOML tables both turn into a [`Node`], so naming and
//! flattening rules exist once.

use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `null`, `~` or an empty value: "not set".
    Null,
    /// A scalar as its text (numbers and booleans as written, never re-formatted).
    Scalar(Secret),
    /// Keys in document order; duplicates are refused when the tree is built.
    Map(Vec<(String, Node)>),
    /// A sequence. Its items are never needed, so they are not kept.
    List,
    /// A value with a tag lsenv does not interpret (`!ruby/object:…`, `!!binary`).
    Tagged,
}

impl Node {
    /// The node at a dotted key path (`gcp.service_account`); the empty path is the node itself.
    pub fn get(&self, dotted: &str) -> Option<&Node> {
        if dotted.is_empty() {
            return Some(self);
        }
        dotted
            .split('.')
            .try_fold(self, |node, segment| match node {
                Node::Map(entries) => entries
                    .iter()
                    .find(|(key, _)| key == segment)
                    .map(|(_, child)| child),
                _ => None,
            })
    }

    /// Removes the node at a dotted key path from the tree and returns it; the empty path takes
    /// the whole tree, leaving null.
    pub fn take(&mut self, dotted: &str) -> Option<Node> {
        if dotted.is_empty() {
            return Some(std::mem::replace(self, Node::Null));
        }
        let Node::Map(entries) = self else {
            return None;
        };
        let (key, rest) = dotted.split_once('.').unwrap_or((dotted, ""));
        let at = entries.iter().position(|(held, _)| held == key)?;
        if rest.is_empty() {
            Some(entries.remove(at).1)
        } else {
            entries[at].1.take(rest)
        }
    }

    /// What the node is, for messages ("a list cannot become a variable").
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Scalar(_) => "a value",
            Node::Map(_) => "a mapping",
            Node::List => "a list",
            Node::Tagged => "a tagged value",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Node;
    use crate::secret::Secret;

    #[test]
    fn dotted_lookup() {
        let leaf = Node::Scalar(Secret::copy_from(b"v"));
        let tree = Node::Map(vec![("a".into(), Node::Map(vec![("b".into(), leaf)]))]);
        assert!(matches!(tree.get("a.b"), Some(Node::Scalar(_))));
        assert!(matches!(tree.get("a"), Some(Node::Map(_))));
        assert!(tree.get("a.c").is_none());
        assert!(tree.get("a.b.c").is_none());
        assert!(matches!(tree.get(""), Some(Node::Map(_))));
    }

    #[test]
    fn taking_a_subtree_leaves_the_rest() {
        let leaf = || Node::Scalar(Secret::copy_from(b"v"));
        let mut tree = Node::Map(vec![
            (
                "a".into(),
                Node::Map(vec![("b".into(), leaf()), ("c".into(), leaf())]),
            ),
            ("d".into(), leaf()),
        ]);
        assert!(matches!(tree.take("a.b"), Some(Node::Scalar(_))));
        assert!(tree.get("a.b").is_none());
        assert!(tree.get("a.c").is_some());
        assert!(tree.take("a.b").is_none());
        assert!(tree.take("d.x").is_none());
        assert!(matches!(tree.take("a"), Some(Node::Map(entries)) if entries.len() == 1));
        assert!(matches!(tree.take(""), Some(Node::Map(entries)) if entries.len() == 1));
        assert!(matches!(tree, Node::Null));
    }
}
