//! What a device may put in an id, and what becomes of its free text, before anything is
//! stored or shown. Ids are a documented safe set of ASCII characters (no lookalikes, no
//! zero-width or bidirectional marks, no `.`/`..` of their own); text keeps its words but loses
//! every character that hides or reorders it (NUL above all: PostgreSQL refuses it).

use thiserror::Error;

/// Longest device id, sync name, label key or value accepted.
pub const MAX_NAME: usize = 253;
/// Longest error or event message kept (longer ones are cut, not refused).
pub const MAX_MESSAGE: usize = 2048;

/// Why a payload was refused (the shape every check of [`crate::model`] answers with).
#[derive(Debug, Error, PartialEq)]
pub enum PayloadError {
    #[error("not valid JSON for {schema}: {reason}")]
    Json {
        schema: &'static str,
        reason: String,
    },
    #[error("schema {found:?} is not {expected}")]
    Schema {
        expected: &'static str,
        found: String,
    },
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
}

/// A refusal naming the field at `field`.
pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> PayloadError {
    PayloadError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Is `c` allowed in an id? The documented safe set: ASCII letters and digits, and `.`, `-`,
/// `_`, `:`, `@` (label keys also `/`). No other character: no lookalike letters, no zero-width
/// or bidirectional marks, no control characters.
fn id_char(c: char, slash: bool) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '@') || (slash && c == '/')
}

pub(crate) fn checked_id(path: &str, s: String, slash: bool) -> Result<String, PayloadError> {
    if s.is_empty() || s.len() > MAX_NAME {
        return Err(field(path, format!("must be 1..={MAX_NAME} bytes")));
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) || !s.chars().all(|c| id_char(c, slash))
    {
        return Err(field(
            path,
            "must start with an ASCII letter or digit and hold only ASCII letters, digits and . - _ : @",
        ));
    }
    Ok(s)
}

/// A device id, sync name or event kind (see [`id_char`]).
pub fn id(path: &str, s: String) -> Result<String, PayloadError> {
    checked_id(path, s, false)
}

/// Is `c` a character that hides or reorders text: controls, zero-width and bidirectional
/// formatting marks, the byte order mark?
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{AD}' | '\u{61C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}')
}

/// Free text (messages, errors): hidden characters (NUL, controls but newline and tab, zero-
/// width and bidirectional marks) become U+FFFD, then the text is cut to [`MAX_MESSAGE`].
/// No store ever sees a NUL.
pub fn text(s: String) -> String {
    let clean = if s.chars().any(|c| hidden(c) && c != '\n' && c != '\t') {
        s.chars()
            .map(|c| {
                if hidden(c) && c != '\n' && c != '\t' {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect()
    } else {
        s
    };
    cut(clean)
}

/// One line of text (label values, versions, times): like [`text`], newlines and tabs too.
pub(crate) fn line(s: String, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if hidden(c) { '\u{FFFD}' } else { c })
        .collect()
}

/// Cuts text to [`MAX_MESSAGE`] bytes on a character boundary.
pub fn cut(s: String) -> String {
    if s.len() <= MAX_MESSAGE {
        return s;
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_outside_the_safe_set_are_refused() {
        for bad in [
            ".",
            "..",
            "-x",
            "edge\u{200B}1",
            "edge-1\u{202E}",
            "\u{435}dge-1",
            "a b",
            "a/b",
            &"a".repeat(254),
        ] {
            assert!(id("device.id", bad.to_string()).is_err(), "{bad:?}");
        }
        for good in ["edge-1", "Edge_1.site:a@b", &"a".repeat(253)] {
            assert!(id("device.id", good.to_string()).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn hidden_characters_become_replacement_characters() {
        assert_eq!(text("a\0b\nc\u{202E}d".into()), "a\u{FFFD}b\nc\u{FFFD}d");
        assert_eq!(line("a\nb".into(), 64), "a\u{FFFD}b");
    }

    #[test]
    fn long_messages_are_cut() {
        let s = cut("é".repeat(3000));
        assert!(s.len() <= MAX_MESSAGE + 3);
    }
}
