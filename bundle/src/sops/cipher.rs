//! sops's value cipher: `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`, AES-256-GCM
//! with a 32-byte IV and the value's key path (`a:b:c:`) as additional data, and the typed
//! plaintext that comes out (`str`, `int`, `float`, `bool`, `bytes`). As sops's `aes/cipher.go`
//! reads it: an empty string is an empty value, not a ciphertext.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// A decrypted value with the type sops recorded for it.
#[derive(Debug, PartialEq)]
pub enum Plain {
    Str(Zeroizing<String>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Why one value could not be decrypted (the caller names the file and path).
#[derive(Debug, PartialEq, Eq)]
pub enum ValueError {
    /// Not in sops's `ENC[...]` format.
    Format(&'static str),
    /// AES-GCM authentication failed: a changed value, IV or tag, or a value moved to another
    /// path.
    Tampered,
    /// The plaintext does not parse as its recorded type.
    Type(&'static str),
}

/// True when `s` looks like a sops ciphertext (whether or not it is valid).
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

/// Decrypts one value with the data key; `aad` is the path as sops joins it.
pub fn decrypt(value: &str, key: &[u8; 32], aad: &str) -> Result<Plain, ValueError> {
    let (buf, kind) = decrypt_raw(value, key, aad)?;
    let text = std::str::from_utf8(&buf).map_err(|_| ValueError::Type("not UTF-8"))?;
    Ok(match kind {
        "str" | "bytes" => Plain::Str(Zeroizing::new(text.to_string())),
        "int" | "int64" => Plain::Int(text.parse().map_err(|_| ValueError::Type("int"))?),
        "float" => Plain::Float(text.parse().map_err(|_| ValueError::Type("float"))?),
        "bool" => Plain::Bool(match text {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(ValueError::Type("bool")),
        }),
        _ => return Err(ValueError::Type("unknown type")),
    })
}

/// Decrypts one value to its bytes and recorded type (`str` for an empty value). Binary
/// files keep bytes that are not UTF-8 under type `str`.
pub fn decrypt_raw<'v>(
    value: &'v str,
    key: &[u8; 32],
    aad: &str,
) -> Result<(Zeroizing<Vec<u8>>, &'v str), ValueError> {
    if value.is_empty() {
        return Ok((Zeroizing::new(Vec::new()), "str"));
    }
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|v| v.strip_suffix(']'))
        .ok_or(ValueError::Format("not ENC[AES256_GCM,...]"))?;
    let mut fields = inner.split(',');
    let mut field = |name: &'static str| {
        fields
            .next()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix(':'))
            .ok_or(ValueError::Format(name))
    };
    let (data, iv, tag, kind) = (field("data")?, field("iv")?, field("tag")?, field("type")?);
    if fields.next().is_some() {
        return Err(ValueError::Format("extra field"));
    }
    let b64 = |s: &str, what| STANDARD.decode(s).map_err(|_| ValueError::Format(what));
    let mut buf = Zeroizing::new(b64(data, "data is not base64")?);
    let iv = b64(iv, "iv is not base64")?;
    let tag = b64(tag, "tag is not base64")?;
    if iv.len() != 32 {
        return Err(ValueError::Format("iv is not 32 bytes"));
    }
    if tag.len() != 16 {
        return Err(ValueError::Format("tag is not 16 bytes"));
    }
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(&iv),
            aad.as_bytes(),
            &mut buf[..],
            GenericArray::from_slice(&tag),
        )
        .map_err(|_| ValueError::Tampered)?;
    Ok((buf, kind))
}

/// The bytes sops's MAC takes for a value (`sops.ToBytes`): strings as they are, integers in
/// decimal, floats as Go's `FormatFloat(f, 'f', -1, 64)`, booleans as `True`/`False`.
pub fn mac_bytes(value: &Plain) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(match value {
        Plain::Str(s) => s.as_bytes().to_vec(),
        Plain::Int(i) => i.to_string().into_bytes(),
        Plain::Float(f) => go_float(*f).into_bytes(),
        Plain::Bool(true) => b"True".to_vec(),
        Plain::Bool(false) => b"False".to_vec(),
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits that read back, no exponent.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f}")
    }
}

/// Encrypts `plain` as sops does (tests write sops-shaped files with it).
#[cfg(test)]
pub fn encrypt(plain: &str, kind: &str, key: &[u8; 32], iv: &[u8; 32], aad: &str) -> String {
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
    let mut buf = plain.as_bytes().to_vec();
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(iv), aad.as_bytes(), &mut buf)
        .unwrap();
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(&buf),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    )
}
