//! ID token verification (pure): a compact JWS checked against the provider's JSON Web Key Set
//! with ring (RS256: RSA PKCS#1 v1.5 with SHA-256, 2048-8192-bit keys; ES256: ECDSA P-256 with
//! SHA-256), then issuer, audience (and `azp` when there are several), expiry and nonce.
//! Any other algorithm (`none`, HS256, ...) is refused. Tokens are bounded at 16 KiB.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Longest ID token accepted.
pub const MAX_TOKEN: usize = 16 * 1024;
/// Clock skew allowed on `exp` and `iat` (seconds).
pub const LEEWAY: i64 = 60;

#[derive(Debug, Error, PartialEq)]
pub enum JwtError {
    #[error("ID token malformed: {0}")]
    Malformed(&'static str),
    #[error("ID token algorithm {0:?} refused (RS256 or ES256 only)")]
    Algorithm(String),
    #[error("no key in the provider's JWKS matches the ID token (kid {0:?})")]
    NoKey(Option<String>),
    #[error("ID token signature invalid")]
    Signature,
    #[error("ID token claim {0} invalid")]
    Claim(&'static str),
}

/// One key of a JWKS (the members used here).
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub kid: Option<String>,
    #[serde(rename = "use")]
    pub use_: Option<String>,
    pub n: Option<String>,
    pub e: Option<String>,
    pub crv: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// What the token must say.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub nonce: &'a str,
    pub now: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

fn b64(s: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwtError::Malformed("not base64url"))
}

fn check_signature(alg: &str, key: &Jwk, msg: &[u8], sig: &[u8]) -> Result<(), JwtError> {
    let need = |v: &Option<String>| {
        v.as_deref()
            .ok_or(JwtError::Malformed("key member missing"))
            .and_then(b64)
    };
    match alg {
        "RS256" => RsaPublicKeyComponents {
            n: need(&key.n)?,
            e: need(&key.e)?,
        }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .map_err(|_| JwtError::Signature),
        "ES256" => {
            let (x, y) = (need(&key.x)?, need(&key.y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err(JwtError::Malformed("P-256 key coordinates"));
            }
            let mut point = vec![4u8];
            point.extend(x);
            point.extend(y);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(msg, sig)
                .map_err(|_| JwtError::Signature)
        }
        other => Err(JwtError::Algorithm(other.to_string())),
    }
}

/// Verifies `token` and returns its claims.
pub fn verify(token: &str, jwks: &Jwks, want: &Expect) -> Result<Map<String, Value>, JwtError> {
    if token.len() > MAX_TOKEN {
        return Err(JwtError::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three parts"));
    };
    let header: Header =
        serde_json::from_slice(&b64(h)?).map_err(|_| JwtError::Malformed("header"))?;
    let (kty, crv) = match header.alg.as_str() {
        "RS256" => ("RSA", None),
        "ES256" => ("EC", Some("P-256")),
        other => return Err(JwtError::Algorithm(other.to_string())),
    };
    let key = jwks
        .keys
        .iter()
        .filter(|k| k.kty == kty && k.crv.as_deref() == crv.or(k.crv.as_deref()))
        .filter(|k| k.use_.as_deref().unwrap_or("sig") == "sig")
        .find(|k| header.kid.is_none() || k.kid == header.kid)
        .ok_or_else(|| JwtError::NoKey(header.kid.clone()))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    check_signature(&header.alg, key, signing_input.as_bytes(), &b64(s)?)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&b64(p)?).map_err(|_| JwtError::Malformed("claims"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(want.issuer) {
        return Err(JwtError::Claim("iss"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == want.audience,
        Some(Value::Array(list)) => {
            list.iter().any(|a| a.as_str() == Some(want.audience))
                && (list.len() == 1
                    || claims.get("azp").and_then(Value::as_str) == Some(want.audience))
        }
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::Claim("aud"));
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp + LEEWAY > want.now => {}
        _ => return Err(JwtError::Claim("exp")),
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_some_and(|iat| iat > want.now + LEEWAY)
    {
        return Err(JwtError::Claim("iat"));
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.len() != want.nonce.len() || !bool::from(nonce.as_bytes().ct_eq(want.nonce.as_bytes()))
    {
        return Err(JwtError::Claim("nonce"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    fn es256(claims: Value, alg: &str) -> (String, Jwks) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let pubkey = kp.public_key().as_ref();
        let jwks: Jwks = serde_json::from_value(json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(&pubkey[1..33]), "y": URL_SAFE_NO_PAD.encode(&pubkey[33..])}]}))
        .unwrap();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k1"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = kp.sign(&rng, input.as_bytes()).unwrap();
        (
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())),
            jwks,
        )
    }

    const WANT: Expect = Expect {
        issuer: "https://idp",
        audience: "fleet",
        nonce: "n1",
        now: 1000,
    };

    fn claims() -> Value {
        json!({"iss": "https://idp", "aud": "fleet", "exp": 2000, "iat": 990, "nonce": "n1", "sub": "alice"})
    }

    #[test]
    fn es256_token_verifies_and_each_claim_is_checked() {
        let (t, jwks) = es256(claims(), "ES256");
        assert_eq!(verify(&t, &jwks, &WANT).unwrap()["sub"], "alice");
        let tampered = t.replacen('.', ".e", 1);
        assert!(verify(&tampered, &jwks, &WANT).is_err());
        for (k, v, err) in [
            ("iss", json!("https://evil"), "iss"),
            ("aud", json!("other"), "aud"),
            ("aud", json!(["fleet", "other"]), "aud"),
            ("exp", json!(900), "exp"),
            ("nonce", json!("n2"), "nonce"),
        ] {
            let mut c = claims();
            c[k] = v;
            let (t, jwks) = es256(c, "ES256");
            assert_eq!(verify(&t, &jwks, &WANT), Err(JwtError::Claim(err)), "{k}");
        }
    }

    #[test]
    fn other_algorithms_and_keys_are_refused() {
        let (t, jwks) = es256(claims(), "none");
        assert_eq!(
            verify(&t, &jwks, &WANT),
            Err(JwtError::Algorithm("none".into()))
        );
        let (t, _) = es256(claims(), "ES256");
        let (_, other) = es256(claims(), "ES256");
        assert_eq!(verify(&t, &other, &WANT), Err(JwtError::Signature));
        assert!(verify(&"a".repeat(MAX_TOKEN + 1), &other, &WANT).is_err());
    }
}
