//! Builds JSON values from granit-parser events the way go-yaml v2 + sigs.k8s.io/yaml do:
//! anchors and aliases, `<<` merge keys (applied in document order, later keys override),
//! YAML 1.1 scalar resolution ([`super::resolve`]), non-string keys named as sigs.k8s.io/yaml
//! names them. No recursion: an explicit stack, so depth costs heap, bounded by the budget.
//! Every node, and every node an alias copies, is counted against the budget before it is built.

use super::convert::{decode_binary, merge, to_key, to_value, Key, Node};
use super::resolve::{resolve_plain, resolve_plain_in, Scalar, Schema};
use super::{Budget, Limit, YamlError};
use granit_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        nodes_at_start: usize,
    },
    Map {
        map: Map<String, Value>,
        explicit: HashSet<String>,
        pending: Option<Key>,
        anchor: usize,
        nodes_at_start: usize,
    },
}

/// What one parse used of its budget.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Used {
    pub nodes: usize,
    pub alias_nodes: usize,
}

/// Parses one chunk of text (one document at most) into a value; `Value::Null` when empty.
pub(super) fn compose(
    source: &str,
    document: usize,
    text: &str,
    budget: &Budget,
    schema: Schema,
) -> Result<(Value, Used), YamlError> {
    let options = granit_parser::options! {
        emit_comments: false,
        flow_nesting_limit: budget.max_depth + 2,
        block_nesting_limit: budget.max_depth + 2,
    };
    let mut c = Composer {
        source,
        document,
        budget,
        schema,
        nodes: 0,
        alias_nodes: 0,
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        documents: 0,
    };
    for item in Parser::new_from_str_with_options(text, options) {
        if let Err(e) = &item {
            if matches!(e.kind(), granit_parser::ErrorKind::RecursionLimitExceeded) {
                return Err(YamlError::Budget {
                    file: source.into(),
                    document,
                    line: e.marker().line(),
                    limit: Limit::Depth(budget.max_depth),
                });
            }
        }
        let (event, span) = item.map_err(|e| YamlError::Syntax {
            file: source.into(),
            document,
            line: e.marker().line(),
            column: e.marker().col() + 1,
            reason: crate::text::shown(&e.info()),
        })?;
        c.event(event, span)?;
    }
    let used = Used {
        nodes: c.nodes,
        alias_nodes: c.alias_nodes,
    };
    Ok((c.root.unwrap_or(Value::Null), used))
}

struct Composer<'a> {
    source: &'a str,
    document: usize,
    budget: &'a Budget,
    schema: Schema,
    nodes: usize,
    alias_nodes: usize,
    anchors: HashMap<usize, (Node, usize)>,
    stack: Vec<Frame>,
    root: Option<Value>,
    documents: usize,
}

impl Composer<'_> {
    fn error(&self, span: &Span, reason: impl Into<String>) -> YamlError {
        YamlError::Invalid {
            file: self.source.into(),
            document: self.document,
            line: span.start.line(),
            reason: crate::text::shown(&reason.into()),
        }
    }

    fn exceeded(&self, span: &Span, limit: Limit) -> YamlError {
        YamlError::Budget {
            file: self.source.into(),
            document: self.document,
            line: span.start.line(),
            limit,
        }
    }

    fn count(&mut self, span: &Span, n: usize, through_alias: bool) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.budget.max_nodes {
            return Err(self.exceeded(span, Limit::Nodes(self.budget.max_nodes)));
        }
        if through_alias {
            self.alias_nodes = self.alias_nodes.saturating_add(n);
            if self.alias_nodes > self.budget.max_alias_nodes {
                return Err(self.exceeded(span, Limit::AliasNodes(self.budget.max_alias_nodes)));
            }
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.error(
                        &span,
                        "a second document after `...` without a `---` line (kubectl reads only the first)",
                    ));
                }
                self.anchors.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(&span, 1, false)?;
                let node = self.scalar(&span, &text, style, tag.as_deref())?;
                if anchor != 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.place(&span, node)?;
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                self.count(&span, 1, false)?;
                if self.stack.len() >= self.budget.max_depth {
                    return Err(self.exceeded(&span, Limit::Depth(self.budget.max_depth)));
                }
                let nodes_at_start = self.nodes;
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq {
                            items: Vec::new(),
                            anchor,
                            nodes_at_start,
                        }
                    } else {
                        Frame::Map {
                            map: Map::new(),
                            explicit: HashSet::new(),
                            pending: None,
                            anchor,
                            nodes_at_start,
                        }
                    });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, nodes_at_start) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        anchor,
                        nodes_at_start,
                    }) => (Value::Array(items), anchor, nodes_at_start),
                    Some(Frame::Map {
                        map,
                        anchor,
                        nodes_at_start,
                        ..
                    }) => (Value::Object(map), anchor, nodes_at_start),
                    None => return Err(self.error(&span, "unbalanced collection end")),
                };
                let node = Node::Value(value);
                if anchor != 0 {
                    let size = self.nodes - nodes_at_start + 1;
                    self.anchors.insert(anchor, (node.clone(), size));
                }
                self.place(&span, node)?;
            }
            Event::Alias(id) => {
                let Some((_, size)) = self.anchors.get(&id) else {
                    return Err(self.error(&span, "alias to an unknown anchor"));
                };
                let size = *size;
                self.count(&span, size, true)?;
                let node = self.anchors[&id].0.clone();
                self.place(&span, node)?;
            }
            Event::UnresolvedAlias(_) => return Err(self.error(&span, "unknown anchor")),
            _ => {}
        }
        Ok(())
    }

    fn scalar(
        &self,
        span: &Span,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
    ) -> Result<Node, YamlError> {
        let plain = style == ScalarStyle::Plain;
        let core = tag.and_then(|t| t.suffix_in_namespace("tag:yaml.org,2002:"));
        let scalar = match (tag, core.as_deref()) {
            (None, _) if plain => {
                return Ok(Node::Scalar {
                    merge_key: text == "<<",
                    scalar: resolve_plain_in(self.schema, text),
                })
            }
            (None, _) | (Some(_), Some("str" | "timestamp")) => Scalar::Str(text.into()),
            (Some(_), Some("merge")) => {
                return Ok(Node::Scalar {
                    scalar: Scalar::Str(text.into()),
                    merge_key: text == "<<",
                })
            }
            (Some(_), Some("binary")) => Scalar::Str(
                decode_binary(text)
                    .ok_or_else(|| self.error(span, "!!binary value is not base64"))?,
            ),
            (Some(_), Some(want @ ("int" | "float" | "bool" | "null"))) => {
                let got = resolve_plain(text);
                match (want, got) {
                    ("int", s @ (Scalar::Int(_) | Scalar::Uint(_) | Scalar::BigInt(_)))
                    | ("float", s @ Scalar::Float(_))
                    | ("bool", s @ Scalar::Bool(_))
                    | ("null", s @ Scalar::Null) => s,
                    ("float", Scalar::Int(i)) => Scalar::Float(i as f64),
                    ("float", Scalar::Uint(u)) => Scalar::Float(u as f64),
                    _ => {
                        return Err(
                            self.error(span, format!("cannot decode `{text}` as a !!{want}"))
                        )
                    }
                }
            }
            // Tags go-yaml cannot resolve (local `!foo`, unknown `!!x`) leave the text as is.
            (Some(_), _) => Scalar::Str(text.into()),
        };
        Ok(Node::Scalar {
            scalar,
            merge_key: false,
        })
    }

    fn place(&mut self, span: &Span, node: Node) -> Result<(), YamlError> {
        enum Slot {
            Root,
            Item,
            Key,
            Value,
        }
        let slot = match self.stack.last() {
            None => Slot::Root,
            Some(Frame::Seq { .. }) => Slot::Item,
            Some(Frame::Map { pending: None, .. }) => Slot::Key,
            Some(Frame::Map { .. }) => Slot::Value,
        };
        match slot {
            Slot::Root => {
                let value = to_value(node).map_err(|r| self.error(span, r))?;
                self.root = Some(value);
            }
            Slot::Item => {
                let value = to_value(node).map_err(|r| self.error(span, r))?;
                if let Some(Frame::Seq { items, .. }) = self.stack.last_mut() {
                    items.push(value);
                }
            }
            Slot::Key => {
                let key = to_key(node).map_err(|r| self.error(span, r))?;
                if let Some(Frame::Map { pending, .. }) = self.stack.last_mut() {
                    *pending = Some(key);
                }
            }
            Slot::Value => {
                let key = match self.stack.last_mut() {
                    Some(Frame::Map { pending, .. }) => pending.take(),
                    _ => None,
                };
                match key {
                    Some(Key::Merge) => {
                        let merged = match self.stack.last_mut() {
                            Some(Frame::Map { map, .. }) => merge(map, node),
                            _ => Ok(()),
                        };
                        merged.map_err(|r| self.error(span, r))?;
                    }
                    Some(Key::Name(name)) => {
                        let value = to_value(node).map_err(|r| self.error(span, r))?;
                        let duplicate = match self.stack.last_mut() {
                            Some(Frame::Map { map, explicit, .. }) => {
                                if explicit.insert(name.clone()) {
                                    map.insert(name, value);
                                    None
                                } else {
                                    Some(name)
                                }
                            }
                            _ => None,
                        };
                        if let Some(name) = duplicate {
                            let reason = format!("mapping key {name:?} already defined");
                            return Err(self.error(span, reason));
                        }
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }
}
