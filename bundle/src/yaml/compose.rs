//! Builds JSON values from granit-parser events the way go-yaml v2 + sigs.k8s.io/yaml do:
//! anchors and aliases, `<<` merge keys (applied in document order, later keys override),
//! YAML 1.1 scalar resolution ([`super::resolve`]), non-string keys named as sigs.k8s.io/yaml
//! names them. No recursion: an explicit stack, so depth costs heap, bounded by the budget.
//! Every node, and every node an alias copies, is counted against the budget before it is built.

use super::resolve::{go_float32_key, resolve_plain, resolve_plain_in, Scalar, Schema};
use super::{Budget, Limit, YamlError};
use granit_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};
use std::collections::{HashMap, HashSet};

/// A finished node before it is placed in its parent.
#[derive(Debug, Clone)]
enum Node {
    Scalar { scalar: Scalar, merge_key: bool },
    Value(Value),
}

enum Key {
    Merge,
    Name(String),
}

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
            reason: super::bounded(&e.info()),
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
            reason: super::bounded(&reason.into()),
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

/// go-yaml's merge: a mapping, or a sequence of mappings where earlier ones win; merged keys
/// override keys set before the `<<` and are overridden by keys after it.
fn merge(map: &mut Map<String, Value>, node: Node) -> Result<(), String> {
    const WANT: &str = "map merge requires map or sequence of maps as the value";
    match node {
        Node::Value(Value::Object(source)) => {
            map.extend(source);
            Ok(())
        }
        Node::Value(Value::Array(items)) => {
            if !items.iter().all(Value::is_object) {
                return Err(WANT.into());
            }
            for item in items.into_iter().rev() {
                if let Value::Object(source) = item {
                    map.extend(source);
                }
            }
            Ok(())
        }
        _ => Err(WANT.into()),
    }
}

fn to_key(node: Node) -> Result<Key, String> {
    match node {
        Node::Scalar {
            merge_key: true, ..
        } => Ok(Key::Merge),
        Node::Scalar { scalar, .. } => match scalar {
            Scalar::Str(s) => Ok(Key::Name(s)),
            Scalar::Int(i) => Ok(Key::Name(i.to_string())),
            Scalar::Float(f) => Ok(Key::Name(go_float32_key(f))),
            Scalar::Bool(b) => Ok(Key::Name(b.to_string())),
            Scalar::Null => Err("unsupported map key: null".into()),
            Scalar::Uint(_) | Scalar::BigInt(_) => {
                Err("unsupported map key: integer past 64 bits".into())
            }
        },
        Node::Value(_) => Err("invalid map key: a mapping or sequence".into()),
    }
}

fn to_value(node: Node) -> Result<Value, String> {
    let scalar = match node {
        Node::Value(v) => return Ok(v),
        Node::Scalar { scalar, .. } => scalar,
    };
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::from(i),
        Scalar::Uint(u) => Value::from(u),
        Scalar::Str(s) => Value::String(s),
        // JSON has no big integers: the API server reads them as floats.
        Scalar::BigInt(text) => float_value(text.parse().unwrap_or(f64::INFINITY))?,
        Scalar::Float(f) => float_value(f)?,
    })
}

/// A float as Go's encoding/json writes it and the API server reads it back: integral values
/// in the int64 range become integers; NaN and infinities are refused (json.Marshal fails).
fn float_value(f: f64) -> Result<Value, String> {
    if !f.is_finite() {
        return Err(format!(
            "unsupported value {f} (JSON has no NaN or infinity)"
        ));
    }
    if f.fract() == 0.0 && f.abs() < 9.223_372_036_854_775e18 {
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("unsupported value {f}"))
}

fn decode_binary(text: &str) -> Option<String> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
