//! Unit tests of the YAML reader: go-yaml forms, merge keys, documents, budgets.

use super::*;
use serde_json::json;
use std::time::Instant;

fn one(text: &str) -> Value {
    value_from_str("t.yaml", text, &Budget::default()).unwrap()
}

fn docs(text: &str) -> Vec<Value> {
    documents("t.yaml", text, &Budget::default()).unwrap()
}

#[test]
fn kubectl_scalars() {
    let v = one("a: 0644\nb: yes\nc: off\nd: ~\ne: 0.5\nf: '0644'\ng: 1e3\nh: \"on\"\ni: 2024-01-02\nj: !!str 12\nk: 1.0\n");
    assert_eq!(
        v,
        json!({"a": 420, "b": true, "c": false, "d": null, "e": 0.5, "f": "0644", "g": 1000,
               "h": "on", "i": "2024-01-02", "j": "12", "k": 1})
    );
    // Non-string keys become strings as sigs.k8s.io/yaml writes them: `y`/`yes`/`on` are `true`.
    let keys = one("1: a\non: b\n1.5: c\n0x10: d\nn: e\n");
    assert_eq!(
        keys,
        json!({"1": "a", "true": "b", "1.5": "c", "16": "d", "false": "e"})
    );
}

#[test]
fn merge_keys_in_document_order() {
    let v = one("base: &b {x: 1, z: 2}\nm:\n  z: 0\n  <<: *b\n  x: 9\np:\n  <<: [{a: 1}, {a: 2, b: 3}]\nq:\n  '<<': 1\n");
    assert_eq!(v["m"], json!({"x": 9, "z": 2}));
    assert_eq!(v["p"], json!({"a": 1, "b": 3}));
    assert_eq!(v["q"], json!({"<<": 1}));
    let e = value_from_str("t.yaml", "a:\n  <<: 1\n", &Budget::default()).unwrap_err();
    assert!(e.to_string().contains("map merge requires map"), "{e}");
}

#[test]
fn refusals_name_the_file() {
    let b = Budget::default();
    for (text, want) in [
        ("a: 1\na: 2\n", "already defined"),
        ("a: .inf\n", "infinity"),
        ("? [1]\n: x\n", "invalid map key"),
        ("~: x\n", "unsupported map key"),
        ("a: *nope\n", "t.yaml#0"),
        ("a: [1\n", "invalid YAML"),
        ("a: 1\n...\nb: 2\n", "second document"),
        ("a:\n\t- 1\n", "t.yaml#0"),
    ] {
        let e = value_from_str("t.yaml", text, &b).unwrap_err().to_string();
        assert!(e.contains(want) && e.starts_with("t.yaml"), "{text:?}: {e}");
    }
    let e = documents("t.yaml", "a: 1\n--- x\n", &b).unwrap_err();
    assert!(matches!(e, YamlError::Separator { .. }), "{e}");
}

#[test]
fn documents_split_as_kubectl_splits() {
    let d = docs("\u{feff}a: 1\r\n---\r\n# only a comment\n--- # c\nb: 2\n---\n---\n...\n");
    assert_eq!(
        d,
        vec![json!({"a": 1}), Value::Null, json!({"b": 2}), Value::Null]
    );
    let j = docs("{\"a\": 1}\n{\"b\": [1.5]}");
    assert_eq!(j, vec![json!({"a": 1}), json!({"b": [1.5]})]);
}

#[test]
fn emitter_round_trips() {
    let v = json!({"name": "yes", "mode": "0644", "n": 3, "list": [{"p": "a b: c"}, "x#y"], "e": {}, "path": "a/b.yaml"});
    let text = to_string(&v);
    assert_eq!(one(&text), v, "{text}");
    assert!(
        text.contains("path: a/b.yaml") && text.contains("name: \"yes\""),
        "{text}"
    );
}

fn refused_quickly(text: &str, want: &str) {
    let started = Instant::now();
    let e = documents("bomb.yaml", text, &Budget::default()).unwrap_err();
    let s = e.to_string();
    assert!(s.starts_with("bomb.yaml") && s.contains(want), "{s}");
    // Not a timing assertion of the product: a guard that the test itself terminates.
    assert!(started.elapsed().as_secs() < 30);
}

#[test]
fn alias_bombs_flat_and_nested_are_refused() {
    // Nested: each level doubles (billion laughs).
    let mut nested = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..30 {
        let p = i - 1;
        nested.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    refused_quickly(&nested, "aliases expand");
    // Flat: one big anchor referenced many times.
    let mut flat = String::from("big: &big [");
    flat.push_str(&vec!["x"; 10_000].join(","));
    flat.push_str("]\nrefs: [");
    flat.push_str(&vec!["*big"; 10_000].join(","));
    flat.push_str("]\n");
    refused_quickly(&flat, "aliases expand");
}

#[test]
fn deep_nesting_and_huge_documents_are_refused() {
    let depth = 100_000;
    refused_quickly(
        &format!("a: {}{}", "[".repeat(depth), "]".repeat(depth)),
        "nested deeper",
    );
    refused_quickly(
        &format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
        "nested deeper",
    );
    refused_quickly(
        &format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
        "nested deeper",
    );
    let mut block = String::new();
    for i in 0..200 {
        block.push_str(&" ".repeat(i * 2));
        block.push_str("k:\n");
    }
    refused_quickly(&block, "nested deeper");
    let many = "- 1\n".repeat(600_000);
    refused_quickly(&many, "more than 500000 nodes");
    let json_many = format!("{{\"a\": [{}]}}", vec!["0"; 600_000].join(","));
    refused_quickly(&json_many, "more than 500000 nodes");
    let huge = "a".repeat(17 * 1024 * 1024);
    refused_quickly(&huge, "larger than");
}

#[test]
fn typed_parse_with_a_small_budget() {
    #[derive(serde::Deserialize, Debug)]
    struct C {
        name: String,
        on: bool,
    }
    let c: C = from_str_bounded("c.yaml", "name: x\n\"on\": true\n", &Budget::small()).unwrap();
    assert!(c.on && c.name == "x");
    let c: C = from_str_bounded("c.yaml", "name: y\n\"on\": false\n", &Budget::small()).unwrap();
    assert_eq!(c.name, "y");
    let e = from_str_bounded::<C>("c.yaml", "name: 1\n", &Budget::small()).unwrap_err();
    assert!(e.to_string().starts_with("c.yaml: "), "{e}");
}
