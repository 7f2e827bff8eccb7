//! `resource.Quantity` as apimachinery (v0.37.2, `pkg/api/resource`) parses and prints
//! it: decimal SI (`500m`, `2k`), binary SI (`1Gi`), decimal exponents (`1e3`), values rounded
//! up to `1n`, and the canonical form the API server writes back (`0.5` -> `500m`,
//! `1024Mi` -> `1Gi`, `1000m` -> `1`). A string already in canonical form is kept as written,
//! exactly as `ParseQuantity` keeps it in `Quantity.s`.
//!
//! Numbers are held as a sign, an unsigned 128-bit mantissa and a base-10 exponent; the real
//! code falls back to arbitrary precision, so inputs whose digits do not fit 38 decimal digits
//! are refused here (documented in docs/kube-sim.md).

use serde_json::Value;
use thiserror::Error;

/// The regular expression apimachinery names in its format error.
const SPLIT_RE: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Why a quantity does not parse, worded as apimachinery's errors are.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '{SPLIT_RE}'")]
    FormatWrong,
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// How a quantity prints its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalExponent,
    BinarySi,
    DecimalSi,
}

/// A parsed quantity: `mantissa * 10^exp10`, with the string kept when already canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    format: Format,
    kept: Option<String>,
}

/// The pieces `parseQuantityString` splits a string into.
struct Split<'a> {
    positive: bool,
    value: &'a str,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn split<'a>(s: &'a str) -> Result<Split<'a>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    if pos < end && (b[0] == b'-' || b[0] == b'+') {
        positive = b[0] != b'-';
        pos += 1;
    }
    let zero = |value: &'a str| Split {
        positive,
        value,
        num: "0",
        denom: "",
        suffix: "",
    };
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(zero("0"));
    }
    let start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        return Ok(Split {
            positive,
            value: s,
            num: &s[start..],
            denom: "",
            suffix: "",
        });
    }
    let num = if pos == start { "0" } else { &s[start..pos] };
    let mut denom = "";
    if b[pos] == b'.' {
        pos += 1;
        let d = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[d..pos];
        if pos >= end {
            return Ok(Split {
                positive,
                value: s,
                num,
                denom,
                suffix: "",
            });
        }
    }
    let value = &s[..pos];
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::FormatWrong);
    }
    Ok(Split {
        positive,
        value,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// `(base, exponent, format)` of a suffix.
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSi));
    let bin = |e| Some((2, e, Format::BinarySi));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            let e: i64 = s[1..].parse().ok()?;
            Some((10, i32::try_from(e).ok()?, Format::DecimalExponent))
        }
        _ => None,
    }
}

fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

impl Quantity {
    /// `resource.ParseQuantity` after the JSON decoder's `strings.TrimSpace`.
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        if s == "0" {
            return Ok(Quantity::zero(Some("0".into())));
        }
        let p = split(s)?;
        let (base, exponent, format) = interpret(p.suffix).ok_or(QuantityError::Suffix)?;
        if let Some(q) = Self::fast(s, &p, base, exponent, format) {
            return Ok(q);
        }
        Self::slow(&p, base, exponent, format)
    }

    fn zero(kept: Option<String>) -> Quantity {
        Quantity {
            negative: false,
            mantissa: 0,
            exp10: 0,
            format: Format::DecimalSi,
            kept,
        }
    }

    /// The int64 path of `ParseQuantity`, which also decides whether the text is canonical.
    fn fast(s: &str, p: &Split, _base: u32, exponent: i32, format: Format) -> Option<Quantity> {
        let digits = (p.num.len() + p.denom.len()) as i32;
        let (mut scale, precision, multiplier) = match format {
            Format::DecimalExponent | Format::DecimalSi => (exponent, 18 - digits, 1i64),
            Format::BinarySi if exponent >= 0 && p.denom.is_empty() => {
                let precision =
                    15 - p.num.len() as i32 - ((exponent as f32) * 3.0 / 10.0) as i32 - 1;
                (0, precision, 1i64.checked_shl(exponent as u32)?)
            }
            Format::BinarySi => (0, -1, 1),
        };
        if precision < 0 {
            return None;
        }
        scale -= p.denom.len() as i32;
        if scale < -9 {
            return None;
        }
        let shifted = format!("{}{}", p.num, p.denom);
        let value: i64 = shifted.parse().ok()?;
        let result = value.checked_mul(multiplier)?;
        let canonical = match format {
            Format::BinarySi => exponent % 10 == 0 && value & 0x07 != 0,
            _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
        };
        Some(Quantity {
            negative: !p.positive && result != 0,
            mantissa: result.unsigned_abs() as u128,
            exp10: scale,
            format,
            kept: canonical.then(|| s.to_string()),
        })
    }

    /// The `inf.Dec` path: exact value, rounded up to nano units, capped for binary SI.
    fn slow(
        p: &Split,
        base: u32,
        exponent: i32,
        mut format: Format,
    ) -> Result<Quantity, QuantityError> {
        let unsigned = p.value.trim_start_matches(['+', '-']);
        let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(QuantityError::Numeric);
        }
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        let mut mantissa: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| QuantityError::Numeric)?
        };
        let mut exp10 = -(frac_part.len() as i32);
        if base == 10 {
            exp10 = exp10.checked_add(exponent).ok_or(QuantityError::Numeric)?;
        } else {
            let factor = 1u128
                .checked_shl(exponent as u32)
                .ok_or(QuantityError::Numeric)?;
            mantissa = mantissa.checked_mul(factor).ok_or(QuantityError::Numeric)?;
        }
        if mantissa != 0 && exp10 < -9 {
            let divisor = pow10((-9 - exp10) as u32);
            mantissa = match divisor {
                Some(d) => mantissa / d + u128::from(!mantissa.is_multiple_of(d)),
                None => 1,
            };
            exp10 = -9;
        }
        if format == Format::BinarySi {
            let max = i64::MAX as u128;
            let over = if exp10 >= 0 {
                pow10(exp10 as u32)
                    .and_then(|f| mantissa.checked_mul(f))
                    .is_none_or(|v| v > max)
            } else {
                pow10((-exp10) as u32)
                    .and_then(|f| max.checked_mul(f))
                    .is_some_and(|m| mantissa > m)
            };
            if over {
                mantissa = max;
                exp10 = 0;
            }
            let below_one = exp10 < 0 && pow10((-exp10) as u32).is_some_and(|f| mantissa < f);
            if mantissa != 0 && below_one {
                format = Format::DecimalSi;
            }
        }
        Ok(Quantity {
            negative: !p.positive && mantissa != 0,
            mantissa,
            exp10,
            format,
            kept: None,
        })
    }

    /// The JSON decoder's view of a value in a Quantity field: a string, or a JSON number
    /// taken as the text Go's encoder wrote for it.
    pub fn from_json(v: &Value) -> Result<Quantity, QuantityError> {
        match v {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&go_number_text(n)),
            _ => Err(QuantityError::FormatWrong),
        }
    }

    /// What `MarshalJSON` writes.
    pub fn canonical(&self) -> String {
        if let Some(s) = &self.kept {
            return s.clone();
        }
        if self.mantissa == 0 {
            return "0".into();
        }
        let sign = if self.negative { "-" } else { "" };
        let mut format = self.format;
        let mut integer = None;
        if format == Format::BinarySi {
            integer = self.integer_rounded_up();
            let small = integer.is_some_and(|(v, _)| v < 1024);
            match integer {
                Some((_, true)) if !small => {}
                _ => format = Format::DecimalSi,
            }
        }
        match (format, integer) {
            (Format::BinarySi, Some((mut v, _))) => {
                let mut e = 0;
                while v % 1024 == 0 && e < 6 {
                    v /= 1024;
                    e += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][e];
                format!("{sign}{v}{suffix}")
            }
            _ => {
                let (mut m, mut e) = (self.mantissa, self.exp10);
                while m % 10 == 0 {
                    m /= 10;
                    e += 1;
                }
                while e % 3 != 0 {
                    m *= 10;
                    e -= 1;
                }
                let suffix = if format == Format::DecimalExponent {
                    if e == 0 {
                        String::new()
                    } else {
                        format!("e{e}")
                    }
                } else {
                    // apimachinery has no suffix beyond E (10^18) and prints none.
                    match e {
                        -9 => "n",
                        -6 => "u",
                        -3 => "m",
                        3 => "k",
                        6 => "M",
                        9 => "G",
                        12 => "T",
                        15 => "P",
                        18 => "E",
                        _ => "",
                    }
                    .to_string()
                };
                format!("{sign}{m}{suffix}")
            }
        }
    }

    /// `Quantity.RoundUp(scale)`: rounds up (away from zero) to `10^scale` units; the
    /// written text is kept only when nothing had to change.
    pub fn round_up(&mut self, scale: i32) {
        if self.exp10 >= scale {
            return;
        }
        self.kept = None;
        let d = pow10((scale - self.exp10) as u32);
        self.mantissa = match d {
            Some(d) => self.mantissa / d + u128::from(!self.mantissa.is_multiple_of(d)),
            None => u128::from(self.mantissa != 0),
        };
        self.exp10 = scale;
    }

    /// An approximate value, for comparisons.
    pub fn as_f64(&self) -> f64 {
        let v = self.mantissa as f64 * 10f64.powi(self.exp10);
        if self.negative {
            -v
        } else {
            v
        }
    }

    /// The value rounded up to an integer, and whether that was exact.
    fn integer_rounded_up(&self) -> Option<(u128, bool)> {
        if self.exp10 >= 0 {
            return Some((self.mantissa.checked_mul(pow10(self.exp10 as u32)?)?, true));
        }
        let d = pow10((-self.exp10) as u32)?;
        let rem = self.mantissa % d;
        Some((self.mantissa / d + u128::from(rem != 0), rem == 0))
    }
}

/// The text Go's `encoding/json` writes for a number (`1e+21`, `0.5`, `2`).
pub fn go_number_text(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        match text.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => text,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests;
