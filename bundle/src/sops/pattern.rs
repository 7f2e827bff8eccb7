//! The regular expressions of `encrypted_regex` / `unencrypted_regex`, in the subset sops users
//! write for Kubernetes (`^(data|stringData)$`, `^(password|.*_key)$`, `token`): optional `^`
//! and `$`, literal text with `\`-escaped punctuation, `.` and `.*`, and at most one group of
//! alternatives (`(...|...)` or `(?:...)`) with literal text around it, or alternatives at the
//! top. Matching is Go's `regexp.Match` (a match anywhere unless anchored), in time linear in
//! the key times the pattern. Anything else is refused as unsupported rather than read
//! differently (a full regex engine costs ~100 KiB of the device binary).

/// Longest pattern accepted.
pub const MAX_PATTERN_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    Lit(char),
    Any,
    AnyRun,
}

/// A compiled pattern: alternatives, each a sequence with its anchors applied.
#[derive(Debug, Clone)]
pub struct Pattern {
    alternatives: Vec<Vec<Piece>>,
}

/// Why a pattern is not read: the offending construct.
pub type PatternError = String;

impl Pattern {
    pub fn new(pattern: &str) -> Result<Pattern, PatternError> {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(format!("longer than {MAX_PATTERN_BYTES} bytes"));
        }
        let (prefix, group, suffix) = split_group(pattern)?;
        let texts: Vec<String> = match group {
            Some(g) => split_alternatives(g)
                .into_iter()
                .map(|alt| format!("{prefix}{alt}{suffix}"))
                .collect(),
            None => split_alternatives(prefix),
        };
        let mut alternatives = Vec::with_capacity(texts.len());
        for text in texts {
            alternatives.push(compile(&text)?);
        }
        Ok(Pattern { alternatives })
    }

    /// Whether `text` matches (Go's `regexp.Match`: anywhere unless anchored).
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        self.alternatives.iter().any(|p| glob(p, &chars))
    }
}

/// `prefix ( group ) suffix`, or the whole pattern as prefix when there is no group.
fn split_group(p: &str) -> Result<(&str, Option<&str>, &str), PatternError> {
    let opens: Vec<usize> = unescaped(p, '(');
    let closes: Vec<usize> = unescaped(p, ')');
    match (opens.as_slice(), closes.as_slice()) {
        ([], []) => Ok((p, None, "")),
        ([o], [c]) if o < c => {
            let inner = &p[o + 1..*c];
            let inner = inner.strip_prefix("?:").unwrap_or(inner);
            let (prefix, suffix) = (&p[..*o], &p[c + 1..]);
            if !unescaped(prefix, '|').is_empty() || !unescaped(suffix, '|').is_empty() {
                return Err("`|` outside the group".into());
            }
            Ok((prefix, Some(inner), suffix))
        }
        _ => Err("more than one group, or unbalanced parentheses".into()),
    }
}

/// Byte offsets of `c` not preceded by a backslash escape.
fn unescaped(p: &str, c: char) -> Vec<usize> {
    let mut out = Vec::new();
    let mut escaped = false;
    for (i, ch) in p.char_indices() {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == c {
            out.push(i);
        }
    }
    out
}

fn split_alternatives(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in unescaped(p, '|') {
        out.push(p[start..i].to_string());
        start = i + 1;
    }
    out.push(p[start..].to_string());
    out
}

/// One alternative with its anchors: unanchored ends become `.*`.
fn compile(text: &str) -> Result<Vec<Piece>, PatternError> {
    let (anchored_start, text) = match text.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let anchored_end = text.ends_with('$') && !unescaped(text, '$').is_empty();
    let text = if anchored_end {
        &text[..text.len() - 1]
    } else {
        text
    };
    let mut pieces = Vec::new();
    if !anchored_start {
        pieces.push(Piece::AnyRun);
    }
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => pieces.push(Piece::Lit(e)),
                Some(e) => return Err(format!("the escape \\{e}")),
                None => return Err("a trailing backslash".into()),
            },
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                pieces.push(Piece::AnyRun);
            }
            '.' => pieces.push(Piece::Any),
            '^' | '$' | '[' | ']' | '{' | '}' | '*' | '+' | '?' | '(' | ')' | '|' => {
                return Err(format!("`{c}` here"))
            }
            c => pieces.push(Piece::Lit(c)),
        }
    }
    if !anchored_end {
        pieces.push(Piece::AnyRun);
    }
    Ok(pieces)
}

/// Whether `pieces` match all of `text` (`.` and `.*` never match a newline, as in Go).
fn glob(pieces: &[Piece], text: &[char]) -> bool {
    // reach[j]: the pieces so far can consume exactly text[..j].
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for piece in pieces {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            match piece {
                Piece::AnyRun => {
                    next[j] = reach[j] || (j > 0 && next[j - 1] && text[j - 1] != '\n');
                }
                Piece::Any => next[j] = j > 0 && reach[j - 1] && text[j - 1] != '\n',
                Piece::Lit(c) => next[j] = j > 0 && reach[j - 1] && text[j - 1] == *c,
            }
        }
        reach = next;
    }
    reach[text.len()]
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn the_forms_sops_users_write_match_as_go_does() {
        let p = Pattern::new("^(data|stringData)$").unwrap();
        assert!(p.is_match("data") && p.is_match("stringData"));
        assert!(!p.is_match("metadata") && !p.is_match("dataX"));
        let p = Pattern::new("data").unwrap();
        assert!(p.is_match("metadata") && p.is_match("data") && !p.is_match("dat"));
        let p = Pattern::new("^(?:password|.*_key)$").unwrap();
        assert!(p.is_match("password") && p.is_match("api_key") && !p.is_match("api_keys"));
        let p = Pattern::new("^spec\\.(a|b)$").unwrap();
        assert!(p.is_match("spec.a") && !p.is_match("specXa"));
        let p = Pattern::new("^a.c$|^x$").unwrap();
        assert!(p.is_match("abc") && p.is_match("x") && !p.is_match("ac"));
        let long = "k".repeat(100_000);
        assert!(Pattern::new("^.*k.*k$").unwrap().is_match(&long));
        for unsupported in ["^[a-z]+$", "a{2}", "(a|(b))", "\\d", "a+", "(a)|b"] {
            assert!(Pattern::new(unsupported).is_err(), "{unsupported}");
        }
    }
}
