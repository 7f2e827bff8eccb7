//! Plain-scalar resolution as go-yaml v2 does it (the parser under `sigs.k8s.io/yaml`, which
//! kubectl and kube-apiserver use): YAML 1.1 booleans (`y`, `yes`, `on`, ...), nulls, `0644`
//! octal, `0x`/`0b` forms, `_` separators, `.inf`/`.nan`, timestamps kept as text, integers past
//! 64 bits as big numbers. Written from the resolution table of go-yaml v2's `resolve.go`.

/// What a scalar resolves to before it becomes JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    /// An integer past 64 bits (go-yaml's `big.Int`); its decimal text.
    BigInt(String),
    Float(f64),
    Str(String),
}

/// Which resolution rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// go-yaml v2, as kubectl reads manifests.
    Kubectl,
    /// ferry's own typed files (agent config, `bundle.yaml`): as [`Schema::Kubectl`] except that
    /// the YAML 1.1-only booleans (`y`, `n`, `yes`, `no`, `on`, `off`) stay strings, as go-yaml
    /// keeps a plain scalar's text for a string field (`path: y` is the path `y`).
    Config,
}

/// Resolves a plain scalar under `schema`.
pub fn resolve_plain_in(schema: Schema, text: &str) -> Scalar {
    if schema == Schema::Config && matches!(resolve_table(text), Some(Scalar::Bool(_))) {
        if !matches!(text.to_ascii_lowercase().as_str(), "true" | "false") {
            return Scalar::Str(text.to_string());
        }
    }
    resolve_plain(text)
}

/// Resolves a plain (unquoted, untagged) scalar as go-yaml v2 does.
pub fn resolve_plain(text: &str) -> Scalar {
    if let Some(known) = resolve_table(text) {
        return known;
    }
    let Some(&first) = text.as_bytes().first() else {
        return Scalar::Null;
    };
    match first {
        b'.' => match parse_go_float(text) {
            Some(f) => Scalar::Float(f),
            None => Scalar::Str(text.to_string()),
        },
        b'+' | b'-' | b'0'..=b'9' => resolve_number(text),
        _ => Scalar::Str(text.to_string()),
    }
}

fn resolve_table(text: &str) -> Option<Scalar> {
    Some(match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Scalar::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Scalar::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Scalar::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

fn resolve_number(text: &str) -> Scalar {
    // go-yaml resolves `YYYY-M-D[...]` to time.Time first but hands untyped targets the
    // original text; none of those shapes parses as a number below, so they stay strings here.
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(i) = parse_go_int(&plain) {
        return Scalar::Int(i);
    }
    if let Some(u) = parse_go_uint(&plain) {
        return Scalar::Uint(u);
    }
    if is_yaml_style_float(&plain) {
        if let Some(f) = parse_go_float(&plain) {
            return Scalar::Float(f);
        }
    }
    if let Some(digits) = plain.strip_prefix("0b") {
        if let Ok(i) = i64::from_str_radix(digits, 2) {
            if !digits.starts_with(['+', '-']) {
                return Scalar::Int(i);
            }
        }
        if let Ok(u) = u64::from_str_radix(digits, 2) {
            if !digits.starts_with('+') {
                return Scalar::Uint(u);
            }
        }
    } else if let Some(digits) = plain.strip_prefix("-0b") {
        if !digits.starts_with(['+', '-']) {
            if let Ok(i) = i64::from_str_radix(&format!("-{digits}"), 2) {
                return Scalar::Int(i);
            }
        }
    }
    if let Some(big) = parse_big_int(&plain) {
        return Scalar::BigInt(big);
    }
    Scalar::Str(text.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`, `0o`, `0b`, a leading `0`
/// (octal) or decimal digits; `_` already removed by the caller.
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = split_sign(s);
    let magnitude = parse_go_magnitude(body)?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((magnitude as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: no sign allowed.
fn parse_go_uint(s: &str) -> Option<u64> {
    if s.starts_with(['+', '-']) {
        return None;
    }
    parse_go_magnitude(s)
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn radix_and_digits(body: &str) -> (u32, &str) {
    let lower = |p: &str| body.len() > 2 && body[..2].eq_ignore_ascii_case(p);
    if lower("0x") {
        (16, &body[2..])
    } else if lower("0o") {
        (8, &body[2..])
    } else if lower("0b") {
        (2, &body[2..])
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    }
}

fn parse_go_magnitude(body: &str) -> Option<u64> {
    let (radix, digits) = radix_and_digits(body);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `big.Int.SetString(s, 0)` for values past 64 bits: returned as decimal text.
fn parse_big_int(s: &str) -> Option<String> {
    let (negative, body) = split_sign(s);
    let (radix, digits) = radix_and_digits(body);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Decimal digits, little-endian base 1e9 limbs.
    let mut limbs: Vec<u64> = vec![0];
    for c in digits.chars() {
        let mut carry = u64::from(c.to_digit(radix)?);
        for limb in limbs.iter_mut() {
            let v = *limb * u64::from(radix) + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let mut iter = limbs.iter().rev();
    out.push_str(&iter.next()?.to_string());
    for limb in iter {
        out.push_str(&format!("{limb:09}"));
    }
    Some(out)
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms go-yaml passes it: decimal floats with an
/// optional exponent (Go also accepts `inf`, `nan` and hex floats: `.`-prefixed text can be
/// neither). Out-of-range values are an error in Go, so `None` here.
fn parse_go_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_digit() || b"+-.eE_".contains(c))
        && b.iter().any(u8::is_ascii_digit);
    if !ok || s.contains('_') {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// How sigs.k8s.io/yaml names a float map key: Go's `FormatFloat(f, 'g', -1, 32)`.
pub fn go_float32_key(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let f32v = f as f32;
    if f32v == 0.0 {
        return if f32v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Shortest round-trip digits of the f32, as d.ddd e EXP.
    let sci = format!("{:e}", f32v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    // Go uses %e when exp < -4 or exp >= 6 (precision 6 for the shortest form).
    if exp < -4 || exp >= 6 {
        let (head, tail) = digits.split_at(1);
        let frac = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{head}{frac}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_yaml_v2_table() {
        for t in ["y", "Y", "yes", "on", "ON", "True"] {
            assert_eq!(resolve_plain(t), Scalar::Bool(true), "{t}");
        }
        for t in ["n", "NO", "off", "false"] {
            assert_eq!(resolve_plain(t), Scalar::Bool(false), "{t}");
        }
        for t in ["yES", "oN", "tRUE", "Yes ", "o"] {
            assert!(matches!(resolve_plain(t), Scalar::Str(_)), "{t}");
        }
        assert_eq!(resolve_plain("~"), Scalar::Null);
        assert_eq!(resolve_plain("0644"), Scalar::Int(420));
        assert_eq!(resolve_plain("0o644"), Scalar::Int(420));
        assert_eq!(resolve_plain("0x1F"), Scalar::Int(31));
        assert_eq!(resolve_plain("0b101"), Scalar::Int(5));
        assert_eq!(resolve_plain("-0b101"), Scalar::Int(-5));
        assert_eq!(resolve_plain("1_000"), Scalar::Int(1000));
        assert_eq!(resolve_plain("+12"), Scalar::Int(12));
        assert_eq!(resolve_plain("09"), Scalar::Float(9.0));
        assert_eq!(resolve_plain("0.5"), Scalar::Float(0.5));
        assert_eq!(resolve_plain(".5"), Scalar::Float(0.5));
        assert_eq!(resolve_plain("1e3"), Scalar::Float(1000.0));
        assert_eq!(resolve_plain("1.5.6"), Scalar::Str("1.5.6".into()));
        assert_eq!(
            resolve_plain("18446744073709551615"),
            Scalar::Uint(u64::MAX)
        );
        assert_eq!(
            resolve_plain("123456789012345678901234567890"),
            Scalar::Float(1.2345678901234568e29)
        );
        assert_eq!(
            resolve_plain("0x1000000000000000000"),
            Scalar::BigInt("4722366482869645213696".into())
        );
        assert_eq!(
            resolve_plain("2024-01-02"),
            Scalar::Str("2024-01-02".into())
        );
        assert_eq!(resolve_plain("1.2.3.4"), Scalar::Str("1.2.3.4".into()));
        assert!(matches!(resolve_plain(".inf"), Scalar::Float(f) if f.is_infinite()));
        assert_eq!(resolve_plain("1Gi"), Scalar::Str("1Gi".into()));
        assert_eq!(resolve_plain("100m"), Scalar::Str("100m".into()));
        assert_eq!(resolve_plain("-"), Scalar::Str("-".into()));
    }

    #[test]
    fn float_keys_as_go_formats_them() {
        assert_eq!(go_float32_key(1.5), "1.5");
        assert_eq!(go_float32_key(1000.0), "1000");
        assert_eq!(go_float32_key(1e6), "1e+06");
        assert_eq!(go_float32_key(0.1), "0.1");
        assert_eq!(go_float32_key(0.00001), "1e-05");
        assert_eq!(go_float32_key(123456789.0), "1.2345679e+08");
    }
}
