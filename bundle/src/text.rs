//! Bounded, escaped text: the one way any text that came from outside (a bundle, a file name,
//! a server's answer) is shown in logs, on a terminal, in SQLite, in events, webhooks or the
//! status object.
//!
//! Control characters (C0 including newline, carriage return and ESC, DEL and C1) are escaped
//! so a name cannot forge a log line or drive a terminal, and the result is cut on a character
//! boundary with a marker saying how much was left out, so a 60 MiB name stays a short line.

/// The default bound for one piece of outside text inside a message.
pub const DEFAULT_MAX: usize = 512;

/// `text` with control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`, ...) and cut to at most
/// `max` bytes of escaped text, followed by `…(N more bytes)` when something was cut.
/// Backslashes are kept as they are, so bounding already-bounded text changes nothing.
pub fn bounded(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 24);
    for (i, c) in text.char_indices() {
        let mut buf = [0u8; 4];
        let piece: std::borrow::Cow<str> = match c {
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            c if c.is_control() || is_invisible_override(c) => {
                format!("\\u{{{:x}}}", c as u32).into()
            }
            c => (*c.encode_utf8(&mut buf)).to_owned().into(),
        };
        if out.len() + piece.len() > max {
            out.push_str(&format!("…({} more bytes)", text.len() - i));
            return out;
        }
        out.push_str(&piece);
    }
    out
}

/// [`bounded`] with [`DEFAULT_MAX`].
pub fn shown(text: &str) -> String {
    bounded(text, DEFAULT_MAX)
}

/// Bidirectional overrides and isolates: they reorder what a terminal shows.
fn is_invisible_override(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        assert_eq!(
            bounded("a\nb\x1b[31mc\r\u{9b}", 100),
            "a\\nb\\u{1b}[31mc\\r\\u{9b}"
        );
        // Escaping is idempotent, so text bounded twice on its way reads the same.
        let once = bounded("x\ny\u{1b}", 100);
        assert_eq!(bounded(&once, 100), once);
        assert_eq!(bounded("ok ümlaut", 100), "ok ümlaut");
        assert_eq!(bounded("x\u{202e}y", 100), "x\\u{202e}y");
    }

    #[test]
    fn cuts_on_a_char_boundary_with_a_marker() {
        let s = "ü".repeat(10);
        let b = bounded(&s, 5);
        assert_eq!(b, "üü…(16 more bytes)");
        let huge = "n".repeat(60 << 20);
        assert!(bounded(&huge, 512).len() < 600);
        assert_eq!(bounded("short", 5), "short");
    }
}
