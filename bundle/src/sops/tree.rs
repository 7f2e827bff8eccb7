//! The document tree as sops sees it: mappings keep their key order (sops's MAC runs over the
//! values in document order), scalars keep their text and whether they were quoted, aliases
//! are expanded, comments are dropped (sops keeps them out of the MAC). Built from
//! granit-parser events within a [`Budget`], like [`crate::yaml`], with no recursion.

use crate::yaml::{Budget, Limit};
use granit_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::{HashMap, HashSet};

/// One node of a sops document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Leaf(Leaf),
}

/// A scalar as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    pub text: String,
    /// Plain (unquoted) scalars are resolved (numbers, booleans, null); quoted ones are strings.
    pub plain: bool,
    /// The core tag's suffix (`str`, `int`, ...) when the scalar carried one.
    pub tag: Option<String>,
}

enum Frame {
    Seq(Vec<Node>, usize, usize),
    Map(
        Vec<(String, Node)>,
        Option<String>,
        HashSet<String>,
        usize,
        usize,
    ),
}

/// Parses every document of `text` (YAML, or JSON read as YAML flow). Null documents are
/// dropped. Errors are short reasons; the caller names the file.
pub fn parse(text: &str, budget: &Budget) -> Result<Vec<Node>, String> {
    if text.len() > budget.max_bytes {
        return Err(Limit::Bytes(budget.max_bytes).to_string());
    }
    let options = granit_parser::options! {
        emit_comments: false,
        flow_nesting_limit: budget.max_depth + 2,
        block_nesting_limit: budget.max_depth + 2,
    };
    let mut b = Builder {
        budget,
        nodes: 0,
        alias_nodes: 0,
        anchors: HashMap::new(),
        stack: Vec::new(),
        docs: Vec::new(),
    };
    for item in Parser::new_from_str_with_options(text, options) {
        let (event, span) = item.map_err(|e| {
            format!(
                "invalid YAML at line {} column {}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                crate::text::shown(&e.info())
            )
        })?;
        b.event(event, &span)?;
    }
    if b.docs.len() > budget.max_documents {
        return Err(Limit::Documents(budget.max_documents).to_string());
    }
    Ok(b.docs)
}

struct Builder<'a> {
    budget: &'a Budget,
    nodes: usize,
    alias_nodes: usize,
    anchors: HashMap<usize, (Node, usize)>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
}

impl Builder<'_> {
    fn count(&mut self, n: usize, alias: bool) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.budget.max_nodes {
            return Err(Limit::Nodes(self.budget.max_nodes).to_string());
        }
        if alias {
            self.alias_nodes = self.alias_nodes.saturating_add(n);
            if self.alias_nodes > self.budget.max_alias_nodes {
                return Err(Limit::AliasNodes(self.budget.max_alias_nodes).to_string());
            }
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), String> {
        let line = span.start.line();
        match event {
            Event::DocumentStart(..) => self.anchors.clear(),
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, false)?;
                let tag = tag.and_then(|t| {
                    t.suffix_in_namespace("tag:yaml.org,2002:")
                        .map(|s| s.to_string())
                });
                let node = Node::Leaf(Leaf {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain,
                    tag,
                });
                if anchor != 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.place(node, line)?;
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                self.count(1, false)?;
                if self.stack.len() >= self.budget.max_depth {
                    return Err(Limit::Depth(self.budget.max_depth).to_string());
                }
                let start = self.nodes;
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq(Vec::new(), anchor, start)
                    } else {
                        Frame::Map(Vec::new(), None, HashSet::new(), anchor, start)
                    });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, start) = match self.stack.pop() {
                    Some(Frame::Seq(items, a, s)) => (Node::Seq(items), a, s),
                    Some(Frame::Map(entries, _, _, a, s)) => (Node::Map(entries), a, s),
                    None => return Err(format!("line {line}: unbalanced collection end")),
                };
                if anchor != 0 {
                    self.anchors
                        .insert(anchor, (node.clone(), self.nodes - start + 1));
                }
                self.place(node, line)?;
            }
            Event::Alias(id) => {
                let (node, size) = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| format!("line {line}: alias to an unknown anchor"))?;
                self.count(size, true)?;
                self.place(node, line)?;
            }
            Event::UnresolvedAlias(_) => return Err(format!("line {line}: unknown anchor")),
            _ => {}
        }
        Ok(())
    }

    fn place(&mut self, node: Node, line: usize) -> Result<(), String> {
        match self.stack.last_mut() {
            None => {
                if !matches!(&node, Node::Leaf(l) if l.plain && is_null(&l.text)) {
                    self.docs.push(node);
                }
            }
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, seen, ..)) => match pending.take() {
                None => match node {
                    Node::Leaf(leaf) => {
                        if !seen.insert(leaf.text.clone()) {
                            return Err(format!(
                                "line {line}: mapping key {:?} repeated",
                                crate::text::shown(&leaf.text)
                            ));
                        }
                        *pending = Some(leaf.text);
                    }
                    _ => return Err(format!("line {line}: a mapping key must be a scalar")),
                },
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

/// go-yaml v3's null spellings (for plain scalars).
pub fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

impl Node {
    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar.
    pub fn text(&self) -> Option<&str> {
        match self {
            Node::Leaf(l) => Some(&l.text),
            _ => None,
        }
    }
}
