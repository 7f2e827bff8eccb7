//! Which images a bundle's manifests reference: every `image:` of a container, init container
//! or ephemeral container in any object (Pods, workload templates, CronJob templates), found by
//! walking the parsed documents, not by matching text.

use crate::yaml::{Budget, Reader, Stream};
use serde_json::Value;
use std::collections::BTreeSet;

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

fn walk(v: &Value, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let list = CONTAINER_LISTS.contains(&k.as_str());
                if let (true, Some(items)) = (list, child.as_array()) {
                    for c in items {
                        if let Some(img) = c.get("image").and_then(|i| i.as_str()) {
                            out.insert(img.to_string());
                        }
                    }
                }
                walk(child, depth + 1, out);
            }
        }
        Value::Array(s) => s.iter().for_each(|c| walk(c, depth + 1, out)),
        _ => {}
    }
}

/// The image strings referenced by the YAML documents in `text` (as written), read as kubectl
/// reads them within the default [`Budget`]; unparsable documents are skipped, since rendering
/// and the content check report them.
pub fn referenced_images(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut reader = Reader::new("rendered manifests", &Budget::default());
    match reader.split(text) {
        Ok(Stream::Json(json)) => {
            if let Ok(values) = reader.json(json) {
                values.iter().for_each(|v| walk(v, 0, &mut out));
            }
        }
        Ok(Stream::Yaml(chunks)) => {
            for (index, chunk) in chunks.into_iter().enumerate() {
                if let Ok(v) = reader.document(index, chunk) {
                    walk(&v, 0, &mut out);
                }
            }
        }
        Err(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_container_images_in_templates() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      initContainers: [{name: i, image: busybox:1}]\n      containers:\n      - name: c\n        image: 127.0.0.1:5000/demo/app:1\n---\nkind: ConfigMap\ndata: {image: not-a-container}\n";
        let found: Vec<String> = referenced_images(text).into_iter().collect();
        assert_eq!(found, vec!["127.0.0.1:5000/demo/app:1", "busybox:1"]);
    }
}
