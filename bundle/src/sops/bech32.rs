//! Bech32 (BIP 173), as age writes its keys: `age1...` recipients and `AGE-SECRET-KEY-1...`
//! identities (upper case). Only what age needs: 8-bit data, the original checksum constant,
//! no 90-character limit (age's identities are longer).

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
/// Longest string accepted (an age identity is 74 characters).
const MAX_LEN: usize = 256;

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &str) -> impl Iterator<Item = u8> + '_ {
    hrp.bytes()
        .map(|b| b >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.bytes().map(|b| b & 31))
}

/// Decodes `text` (all lower or all upper case) into its lower-case human-readable part and
/// its 8-bit data; `None` for anything malformed or a bad checksum.
pub fn decode(text: &str) -> Option<(String, Vec<u8>)> {
    if text.len() > MAX_LEN || !text.is_ascii() {
        return None;
    }
    let has_lower = text.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = text.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let sep = lower.rfind('1')?;
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    if hrp.is_empty() || data.len() < 6 || hrp.bytes().any(|b| !(33..=126).contains(&b)) {
        return None;
    }
    let values: Vec<u8> = data
        .bytes()
        .map(|c| CHARSET.iter().position(|&x| x == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    if polymod(hrp_expand(hrp).chain(values.iter().copied())) != 1 {
        return None;
    }
    let bytes = convert(&values[..values.len() - 6], 5, 8, false)?;
    Some((hrp.to_string(), bytes))
}

/// Encodes `data` under `hrp` (lower case).
pub fn encode(hrp: &str, data: &[u8]) -> String {
    let values = convert(data, 8, 5, true).unwrap_or_default();
    let chk = polymod(
        hrp_expand(hrp)
            .chain(values.iter().copied())
            .chain([0u8; 6]),
    ) ^ 1;
    let mut out = String::with_capacity(hrp.len() + 1 + values.len() + 6);
    out.push_str(hrp);
    out.push('1');
    for v in values {
        out.push(CHARSET[usize::from(v)] as char);
    }
    for i in 0..6 {
        out.push(CHARSET[((chk >> (5 * (5 - i))) & 31) as usize] as char);
    }
    out
}

fn convert(data: &[u8], from: u32, to: u32, pad: bool) -> Option<Vec<u8>> {
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let maxv = (1 << to) - 1;
    let mut out = Vec::with_capacity(data.len() * from as usize / to as usize + 1);
    for &v in data {
        acc = (acc << from) | u32::from(v);
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(((acc >> bits) & maxv) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if pad {
        if bits > 0 {
            out.push(((acc << (to - bits)) & maxv) as u8);
        }
    } else if bits >= from || ((acc << (to - bits)) & maxv) != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let key = [7u8; 32];
        let text = encode("age", &key);
        assert!(text.starts_with("age1"));
        assert_eq!(decode(&text), Some(("age".into(), key.to_vec())));
        let mut bad = text.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'q' { b'p' } else { b'q' };
        assert_eq!(decode(std::str::from_utf8(&bad).unwrap()), None);
        assert_eq!(
            decode(&text.to_ascii_uppercase()).map(|d| d.1),
            Some(key.to_vec())
        );
    }
}
