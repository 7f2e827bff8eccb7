//! Which images a bundle's manifests reference: every `image:` of a container, init container
//! or ephemeral container in any object (Pods, workload templates, CronJob templates), found by
//! walking the parsed documents, not by matching text.

use serde::Deserialize;
use std::collections::BTreeSet;

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

fn walk(v: &serde_yaml::Value, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 64 {
        return;
    }
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, child) in m {
                let list = k.as_str().is_some_and(|k| CONTAINER_LISTS.contains(&k));
                if let (true, Some(items)) = (list, child.as_sequence()) {
                    for c in items {
                        if let Some(img) = c.get("image").and_then(|i| i.as_str()) {
                            out.insert(img.to_string());
                        }
                    }
                }
                walk(child, depth + 1, out);
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter().for_each(|c| walk(c, depth + 1, out)),
        serde_yaml::Value::Tagged(t) => walk(&t.value, depth + 1, out),
        _ => {}
    }
}

/// The image strings referenced by the YAML documents in `text` (as written; unparsable
/// documents are skipped, since rendering reports them).
pub fn referenced_images(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        if let Ok(v) = serde_yaml::Value::deserialize(doc) {
            walk(&v, 0, &mut out);
        }
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
