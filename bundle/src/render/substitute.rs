//! Device-variable substitution in manifest text, safe for scripts: `${NAME}` and
//! `${NAME:=default}` are replaced, `$${...}` is a literal `${...}` (as Flux and envsubst
//! escape), and an undefined variable without a default is left as it is unless the sync asked
//! for strict mode. Text that is not a variable reference (`${a b}`, `$HOME`, `${x:-y}`) is never
//! touched. Pure.

use std::collections::BTreeMap;
use thiserror::Error;

/// How to substitute.
#[derive(Debug, Clone, Copy)]
pub struct Substitution<'v> {
    pub vars: &'v BTreeMap<String, String>,
    /// Refuse undefined variables and unterminated `${` instead of leaving them as they are.
    pub strict: bool,
}

/// Why strict substitution refused a text.
#[derive(Debug, Error, PartialEq)]
pub enum SubstituteError {
    #[error("undefined variable ${{{0}}} (define it under device.vars, use ${{{0}:=default}}, or escape it as $${{{0}}})")]
    Undefined(String),
    #[error("unterminated ${{ in a variable reference")]
    Unterminated,
}

/// A variable name: letters, digits and `_`.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Substitutes `text`.
pub fn substitute(text: &str, how: &Substitution) -> Result<String, SubstituteError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(tail) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = tail.find('}') else {
            if how.strict {
                return Err(SubstituteError::Unterminated);
            }
            out.push_str("${");
            rest = tail;
            continue;
        };
        let expr = &tail[..end];
        let (name, default) = match expr.split_once(":=") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        if !is_name(name) {
            out.push_str("${");
            rest = tail;
            continue;
        }
        match how.vars.get(name).map(String::as_str).or(default) {
            Some(v) => out.push_str(v),
            None if how.strict => return Err(SubstituteError::Undefined(name.into())),
            None => out.push_str(&after[..end + 3]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, strict: bool) -> Result<String, SubstituteError> {
        let vars: BTreeMap<String, String> =
            [("DEVICE_ID".to_string(), "edge-7".to_string())].into();
        substitute(
            text,
            &Substitution {
                vars: &vars,
                strict,
            },
        )
    }

    #[test]
    fn forms() {
        assert_eq!(run("id=${DEVICE_ID}", false).unwrap(), "id=edge-7");
        assert_eq!(run("${SITE:=lab}", true).unwrap(), "lab");
        assert_eq!(
            run("$${DEVICE_ID} $HOME ${a b} ${x:-y}", true).unwrap(),
            "${DEVICE_ID} $HOME ${a b} ${x:-y}"
        );
        // A shell script in a ConfigMap keeps its own variables.
        let script = "mkdir -m 0777 -p ${absolutePath} && echo ${DEVICE_ID} ${";
        assert_eq!(
            run(script, false).unwrap(),
            "mkdir -m 0777 -p ${absolutePath} && echo edge-7 ${"
        );
        assert_eq!(
            run("${NOPE}", true).unwrap_err(),
            SubstituteError::Undefined("NOPE".into())
        );
        assert_eq!(
            run("${NOPE", true).unwrap_err(),
            SubstituteError::Unterminated
        );
    }
}
