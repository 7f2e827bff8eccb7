//! JSON streams (a file starting with `{`, as kubectl decides), within the same budget: a
//! linear pre-scan counts nodes and depth before serde_json builds anything.

use super::{Budget, Limit, YamlError};
use serde_json::Value;

/// Parses concatenated JSON values.
pub(super) fn stream(source: &str, text: &str, budget: &Budget) -> Result<Vec<Value>, YamlError> {
    prescan(source, text, budget)?;
    let mut out = Vec::new();
    for (document, item) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let value = item.map_err(|e| YamlError::Json {
            file: source.into(),
            document,
            reason: crate::text::shown(&e.to_string()),
        })?;
        out.push(value);
    }
    Ok(out)
}

/// Counts values (an upper bound: every `,` `:` opener and top-level value start), nesting and
/// documents outside strings, refusing before any allocation proportional to the input.
fn prescan(source: &str, text: &str, budget: &Budget) -> Result<(), YamlError> {
    let over = |document: usize, limit: Limit| YamlError::Budget {
        file: source.into(),
        document,
        line: 0,
        limit,
    };
    let (mut depth, mut nodes, mut documents) = (0usize, 1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if depth == 0 {
                    documents += 1;
                    if documents > budget.max_documents {
                        return Err(over(documents - 1, Limit::Documents(budget.max_documents)));
                    }
                }
                depth += 1;
                nodes += 1;
                if depth > budget.max_depth {
                    return Err(over(
                        documents.saturating_sub(1),
                        Limit::Depth(budget.max_depth),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' | b':' => nodes += 1,
            _ => continue,
        }
        if nodes > budget.max_nodes {
            return Err(over(
                documents.saturating_sub(1),
                Limit::Nodes(budget.max_nodes),
            ));
        }
    }
    Ok(())
}
