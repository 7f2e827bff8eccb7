//! The structured-merge-diff type model (the `types:` of a `schemaYAML`): named types, maps with
//! fields, lists with their element relationship and keys, scalars; plus the Go facts of each
//! field (json `omitempty`, pointer, Go scalar type) that the typed round trip needs.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// `__untyped_atomic_`: a value owned whole, whatever its shape.
pub const UNTYPED_ATOMIC: &str = "__untyped_atomic_";
/// `__untyped_deduced_`: shape deduced from the value (maps granular, lists atomic).
pub const UNTYPED_DEDUCED: &str = "__untyped_deduced_";

/// The scalar kinds of SMD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalarKind {
    Numeric,
    String,
    Boolean,
    Untyped,
}

/// `elementRelationship` of a list or map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementRelationship {
    Atomic,
    Associative,
    Separable,
}

/// A type reference or inline atom: a named type, or any of scalar/list/map (untyped types
/// carry all three).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeRef {
    pub named_type: Option<String>,
    pub scalar: Option<ScalarKind>,
    pub list: Option<Box<ListDef>>,
    pub map: Option<Box<MapDef>>,
    pub element_relationship: Option<ElementRelationship>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListDef {
    pub element_type: TypeRef,
    pub element_relationship: Option<ElementRelationship>,
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapDef {
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    pub element_type: Option<TypeRef>,
    pub element_relationship: Option<ElementRelationship>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub type_ref: TypeRef,
    /// The zero value the OpenAPI declares for non-pointer fields (`""`, `0`, `{}`...).
    pub default: Option<Value>,
    /// Facts from the Go struct field (absent for CRD schemas).
    pub go: Option<GoField>,
}

/// How the Go field is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GoShape {
    Scalar,
    List,
    Map,
    Struct,
}

/// One Go struct field: `Replicas *int32 \`json:"replicas,omitempty"\``.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoField {
    /// The Go type expression (`*int32`, `[]Container`, `resource.Quantity`).
    pub go: String,
    pub shape: GoShape,
    #[serde(default)]
    pub ptr: bool,
    #[serde(default)]
    pub omitempty: bool,
    /// Go 1.24's `omitzero`: the zero value is omitted (1.37's `ObjectMeta.creationTimestamp`,
    /// so a pod template's zero timestamp vanishes instead of being written `null`).
    #[serde(default)]
    pub omitzero: bool,
    /// Wire scalar: `string`, `bool`, `int32`, `int64`, `float64`, `bytes`, `Quantity`,
    /// `IntOrString`, `Time`, `MicroTime`, `Duration`, `RawExtension`, `JSON`...
    pub scalar: Option<String>,
    pub patch_strategy: Option<String>,
    pub patch_merge_key: Option<String>,
}

impl GoField {
    /// True for Go integer types (a JSON float there is coerced or refused by the server).
    pub fn is_integer(&self) -> bool {
        matches!(
            self.scalar.as_deref(),
            Some("int" | "int32" | "int64" | "uint32" | "uint64" | "byte")
        )
    }
}

/// A named type of the schema.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedType {
    pub name: String,
    #[serde(flatten)]
    pub def: TypeRef,
}

/// How the items of a list merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind<'a> {
    /// Owned and replaced whole.
    Atomic,
    /// Scalars merged by value (`v:` in field sets).
    Set,
    /// Maps merged by the values of these keys (`k:{...}` in field sets).
    Associative(&'a [String]),
}

/// A resolved type, one step of a walk.
#[derive(Debug, Clone, Copy)]
pub enum Resolved<'a> {
    Map(&'a MapDef),
    List(&'a ListDef),
    Scalar(ScalarKind),
    /// `__untyped_atomic_`: owned whole.
    Atomic,
    /// `__untyped_deduced_`: maps granular, lists atomic, by the value's shape.
    Deduced,
}

impl ListDef {
    pub fn kind(&self) -> ListKind<'_> {
        match self.element_relationship {
            Some(ElementRelationship::Associative) if self.keys.is_empty() => ListKind::Set,
            Some(ElementRelationship::Associative) => ListKind::Associative(&self.keys),
            _ => ListKind::Atomic,
        }
    }
}

impl MapDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
    /// True when the map is owned whole (`elementRelationship: atomic`).
    pub fn is_atomic(&self) -> bool {
        self.element_relationship == Some(ElementRelationship::Atomic)
    }
    /// The type of `key`: its field, else the element type of a map with free keys.
    pub fn child(&self, key: &str) -> Option<&TypeRef> {
        self.field(key)
            .map(|f| &f.type_ref)
            .or(self.element_type.as_ref())
    }
}

/// A set of named types that refer to each other.
#[derive(Debug, Clone, Default)]
pub struct Types {
    by_name: HashMap<String, TypeRef>,
}

impl Types {
    pub fn new(named: Vec<NamedType>) -> Self {
        Types {
            by_name: named.into_iter().map(|t| (t.name, t.def)).collect(),
        }
    }

    pub fn insert(&mut self, name: String, def: TypeRef) {
        self.by_name.insert(name, def);
    }

    pub fn get(&self, name: &str) -> Option<&TypeRef> {
        self.by_name.get(name)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Follows named references to the atom; unknown names count as deduced (as SMD does for
    /// fields it has no schema for).
    pub fn resolve<'a>(&'a self, t: &'a TypeRef) -> Resolved<'a> {
        let mut cur = t;
        for _ in 0..16 {
            match &cur.named_type {
                Some(n) if n == UNTYPED_ATOMIC => return Resolved::Atomic,
                Some(n) if n == UNTYPED_DEDUCED => return Resolved::Deduced,
                Some(n) => match self.by_name.get(n) {
                    Some(next) => cur = next,
                    None => return Resolved::Deduced,
                },
                None => break,
            }
        }
        if let Some(m) = &cur.map {
            return Resolved::Map(m);
        }
        if let Some(l) = &cur.list {
            return Resolved::List(l);
        }
        match cur.scalar {
            Some(ScalarKind::Untyped) | None => Resolved::Deduced,
            Some(s) => Resolved::Scalar(s),
        }
    }

    /// Resolves the type at a path of map keys below `root` (lists are stepped through by
    /// their element type when a key is `[]`).
    pub fn at_path<'a>(&'a self, root: &'a TypeRef, path: &[&str]) -> Option<Resolved<'a>> {
        let mut cur = root;
        for seg in path {
            cur = match self.resolve(cur) {
                Resolved::Map(m) => m.child(seg)?,
                Resolved::List(l) if *seg == "[]" => &l.element_type,
                _ => return None,
            };
        }
        Some(self.resolve(cur))
    }

    /// The field definition at a path (the last segment a field name).
    pub fn field_at<'a>(&'a self, root: &'a TypeRef, path: &[&str]) -> Option<&'a FieldDef> {
        let (last, parent) = path.split_last()?;
        match self.at_path(root, parent)? {
            Resolved::Map(m) => m.field(last),
            _ => None,
        }
    }
}
