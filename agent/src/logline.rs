//! The text log writer: every formatted log line goes through [`ferry_bundle::text::bounded`]
//! before it reaches stderr, so a file name or server answer holding a newline or ESC cannot
//! forge a log line or drive the terminal, and no line is longer than [`MAX_LINE`].
//! (The JSON format escapes control characters itself.)

use std::io::{self, Write};

/// Longest log line written, in bytes (the rest is cut with a marker).
pub const MAX_LINE: usize = 16 * 1024;

/// A `MakeWriter` for tracing-subscriber writing escaped, bounded lines to stderr.
#[derive(Clone, Copy, Default)]
pub struct SafeStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SafeStderr {
    type Writer = SafeLine;
    fn make_writer(&'a self) -> SafeLine {
        SafeLine
    }
}

/// One formatted event (tracing-subscriber writes each event with a single `write_all`).
pub struct SafeLine;

/// `buf` as one safe line: escaped, bounded, ending in exactly one newline.
pub fn escape_line(buf: &[u8]) -> String {
    let text = String::from_utf8_lossy(buf);
    let body = text.strip_suffix('\n').unwrap_or(&text);
    let mut line = ferry_bundle::text::bounded(body, MAX_LINE);
    line.push('\n');
    line
}

impl Write for SafeLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stderr().lock().write_all(escape_line(buf).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_stays_one_line() {
        let out = escape_line(b"WARN refused drop/x\nERROR forged \x1b[2J\n");
        assert_eq!(out, "WARN refused drop/x\\nERROR forged \\u{1b}[2J\n");
        assert!(escape_line(&vec![b'a'; 1 << 20]).len() < MAX_LINE + 64);
    }
}
