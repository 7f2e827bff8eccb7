//! age (age-encryption.org/v1), the part sops needs: X25519 identities read from an identity
//! file, an armored age file unwrapped with them, and its one-chunk payload (the sops data key)
//! decrypted. Written from the age specification (C2SP age.md); the other recipient types
//! (scrypt, ssh, plugins) are skipped stanzas. Pure: bytes in, bytes out, every size bounded.
//!
//! Cryptography: X25519 from x25519-dalek, HKDF-SHA-256, HMAC-SHA-256 and ChaCha20-Poly1305
//! from ring (already in the tree for rustls). Secrets live in [`Zeroizing`] buffers.

use super::bech32;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use ring::{aead, hkdf, hmac};
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Largest armored age file accepted (a sops data key is ~400 bytes armored).
pub const MAX_ARMORED_BYTES: usize = 16 * 1024;
/// Most stanzas in one age header.
pub const MAX_STANZAS: usize = 64;
/// Most identities in one identity file.
pub const MAX_IDENTITIES: usize = 256;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;

/// Why an age identity file or an age-encrypted data key was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AgeError {
    #[error("line {line}: not an age X25519 identity (AGE-SECRET-KEY-1...)")]
    BadIdentity { line: usize },
    #[error("more than {MAX_IDENTITIES} identities")]
    TooManyIdentities,
    #[error("no identity in the file")]
    NoIdentities,
    #[error("not an age file: {0}")]
    Malformed(&'static str),
    #[error("no identity matches a recipient of this age file")]
    NoMatch,
    #[error("the age header MAC or payload fails authentication")]
    Tampered,
}

/// One X25519 identity and its recipient (the `age1...` public key).
pub struct Identity {
    secret: StaticSecret,
    public: [u8; 32],
    recipient: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.recipient)
    }
}

impl Identity {
    /// Parses one `AGE-SECRET-KEY-1...` string.
    pub fn parse(text: &str) -> Option<Identity> {
        let (hrp, data) = bech32::decode(text.trim())?;
        if hrp != "age-secret-key-" || data.len() != 32 || !text.trim().starts_with("AGE-") {
            return None;
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&data);
        let mut data = data;
        zeroize::Zeroize::zeroize(&mut data);
        let secret = StaticSecret::from(*bytes);
        let public = PublicKey::from(&secret).to_bytes();
        let recipient = bech32::encode("age", &public);
        Some(Identity {
            secret,
            public,
            recipient,
        })
    }

    /// The `age1...` recipient of this identity.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }
}

/// Reads an identity file as age-keygen writes it: `#` comments, blank lines, and one
/// `AGE-SECRET-KEY-1...` per line.
pub fn parse_identities(text: &str) -> Result<Vec<Identity>, AgeError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if out.len() == MAX_IDENTITIES {
            return Err(AgeError::TooManyIdentities);
        }
        out.push(Identity::parse(line).ok_or(AgeError::BadIdentity { line: i + 1 })?);
    }
    if out.is_empty() {
        return Err(AgeError::NoIdentities);
    }
    Ok(out)
}

/// Decrypts an armored (or binary) age file whose payload is at most one chunk, with the first
/// identity that unwraps one of its X25519 stanzas. Returns the payload.
pub fn decrypt(file: &[u8], identities: &[Identity]) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    if file.len() > MAX_ARMORED_BYTES {
        return Err(AgeError::Malformed("larger than 16 KiB"));
    }
    let binary = dearmor(file)?;
    let header_end = find_header_end(&binary)?;
    let header = std::str::from_utf8(&binary[..header_end])
        .map_err(|_| AgeError::Malformed("header is not text"))?;
    let (stanzas, mac_input_len, mac) = parse_header(header)?;
    let file_key = stanzas
        .iter()
        .filter(|s| s.kind == "X25519")
        .find_map(|s| identities.iter().find_map(|id| unwrap_x25519(s, id)))
        .ok_or(AgeError::NoMatch)?;
    let mac_key = derive(&[], &file_key[..], b"header")?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &mac_key[..]);
    hmac::verify(&key, &binary[..mac_input_len], &mac).map_err(|_| AgeError::Tampered)?;
    payload(&binary[header_end..], &file_key[..])
}

/// The recipient type and `age1` public keys are not in the file; callers show the sops
/// metadata's recipients instead.
struct Stanza {
    kind: String,
    args: Vec<String>,
    body: Vec<u8>,
}

fn dearmor(file: &[u8]) -> Result<Vec<u8>, AgeError> {
    const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
    const END: &str = "-----END AGE ENCRYPTED FILE-----";
    if file.starts_with(b"age-encryption.org/v1\n") {
        return Ok(file.to_vec());
    }
    let text = std::str::from_utf8(file).map_err(|_| AgeError::Malformed("armor is not text"))?;
    let inner = text
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|t| t.strip_suffix(END))
        .ok_or(AgeError::Malformed("no age armor"))?;
    let b64: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(b64)
        .map_err(|_| AgeError::Malformed("armor is not base64"))
}

/// Offset just past the header's final `--- MAC\n` line.
fn find_header_end(binary: &[u8]) -> Result<usize, AgeError> {
    let mut pos = 0;
    while pos < binary.len() {
        let end = binary[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .ok_or(AgeError::Malformed("header does not end"))?;
        if binary[pos..].starts_with(b"--- ") {
            return Ok(end);
        }
        pos = end;
    }
    Err(AgeError::Malformed("header does not end"))
}

/// Stanzas, the length of the MAC's input (up to and including `---`), and the MAC.
fn parse_header(header: &str) -> Result<(Vec<Stanza>, usize, Vec<u8>), AgeError> {
    let mut lines = header.split_inclusive('\n');
    if lines.next() != Some("age-encryption.org/v1\n") {
        return Err(AgeError::Malformed("not age-encryption.org/v1"));
    }
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut offset = "age-encryption.org/v1\n".len();
    let mut in_body = false;
    for raw in lines {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        if let Some(mac) = line.strip_prefix("--- ") {
            if in_body {
                return Err(AgeError::Malformed("stanza body does not end"));
            }
            let mac = STANDARD_NO_PAD
                .decode(mac)
                .map_err(|_| AgeError::Malformed("header MAC is not base64"))?;
            return Ok((stanzas, offset + 3, mac));
        }
        offset += raw.len();
        if in_body {
            let chunk = STANDARD_NO_PAD
                .decode(line)
                .map_err(|_| AgeError::Malformed("stanza body is not base64"))?;
            if let Some(s) = stanzas.last_mut() {
                s.body.extend_from_slice(&chunk);
            }
            in_body = line.len() == 64;
            continue;
        }
        let rest = line
            .strip_prefix("-> ")
            .ok_or(AgeError::Malformed("expected a stanza"))?;
        if stanzas.len() == MAX_STANZAS {
            return Err(AgeError::Malformed("too many stanzas"));
        }
        let mut parts = rest.split(' ').map(str::to_string);
        let kind = parts
            .next()
            .filter(|k| !k.is_empty())
            .ok_or(AgeError::Malformed("empty stanza"))?;
        stanzas.push(Stanza {
            kind,
            args: parts.collect(),
            body: Vec::new(),
        });
        in_body = true;
    }
    Err(AgeError::Malformed("header does not end"))
}

fn unwrap_x25519(stanza: &Stanza, id: &Identity) -> Option<Zeroizing<Vec<u8>>> {
    let [share] = stanza.args.as_slice() else {
        return None;
    };
    let share: [u8; 32] = STANDARD_NO_PAD.decode(share).ok()?.try_into().ok()?;
    if stanza.body.len() != 32 {
        return None;
    }
    let shared = Zeroizing::new(id.secret.diffie_hellman(&PublicKey::from(share)).to_bytes());
    if shared.iter().all(|&b| b == 0) {
        return None;
    }
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(&share);
    salt[32..].copy_from_slice(&id.public);
    let wrap = derive(&salt, &shared[..], b"age-encryption.org/v1/X25519").ok()?;
    let mut body = Zeroizing::new(stanza.body.clone());
    let key = chacha(&wrap[..])?;
    let nonce = aead::Nonce::assume_unique_for_key([0; 12]);
    let plain = key
        .open_in_place(nonce, aead::Aad::empty(), &mut body[..])
        .ok()?;
    Some(Zeroizing::new(plain.to_vec()))
}

fn payload(rest: &[u8], file_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    if rest.len() < 16 + TAG {
        return Err(AgeError::Malformed("payload too short"));
    }
    if rest.len() > 16 + CHUNK + TAG {
        return Err(AgeError::Malformed("payload larger than one chunk"));
    }
    let (nonce, sealed) = rest.split_at(16);
    let key = derive(nonce, file_key, b"payload")?;
    let key = chacha(&key[..]).ok_or(AgeError::Tampered)?;
    let mut counter = [0u8; 12];
    counter[11] = 1; // chunk 0, the last one
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(counter),
            aead::Aad::empty(),
            &mut buf[..],
        )
        .map_err(|_| AgeError::Tampered)?;
    Ok(Zeroizing::new(plain.to_vec()))
}

fn chacha(key: &[u8]) -> Option<aead::LessSafeKey> {
    aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key)
        .ok()
        .map(aead::LessSafeKey::new)
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

fn derive(salt: &[u8], ikm: &[u8], info: &[u8]) -> Result<Zeroizing<[u8; 32]>, AgeError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    prk.expand(&[info], Len32)
        .and_then(|okm| okm.fill(&mut out[..]))
        .map_err(|_| AgeError::Tampered)?;
    Ok(out)
}
