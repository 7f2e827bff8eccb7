//! The `sops` metadata of a document (stores/stores.go's `metadata`): the age recipients and
//! their wrapped data keys, `lastmodified`, `mac`, and the one rule that says which values are
//! encrypted (`unencrypted_suffix` by default `_unencrypted`, `encrypted_suffix`,
//! `unencrypted_regex`, `encrypted_regex`) as `sops.go`'s `shouldBeEncrypted` applies it.

use super::pattern::Pattern as Regex;
use super::tree::Node;

/// One age recipient of a file and the data key wrapped for it (an armored age file).
#[derive(Debug, Clone, PartialEq)]
pub struct AgeKey {
    pub recipient: String,
    pub enc: String,
}

/// Which values of a document sops encrypted.
#[derive(Debug, Clone)]
pub enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

impl Rule {
    /// `shouldBeEncrypted` for a value at `path` (its mapping keys, outermost first).
    pub fn encrypts(&self, path: &[String]) -> bool {
        match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            Rule::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
        }
    }
}

/// A file's sops metadata.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub last_modified: String,
    pub mac: String,
    pub version: String,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    /// Age recipients, in file order (from `age` or a single `key_groups` entry).
    pub age: Vec<AgeKey>,
    /// Other key types the file names (`pgp`, `kms`, ...), which a device cannot use.
    pub other: Vec<String>,
}

/// Why metadata was refused: (unsupported?, reason).
pub type MetaError = (bool, String);

const OTHER_KEYS: [&str; 6] = ["pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

/// Reads the `sops` mapping of a document; `None` when there is none (not a sops file).
pub fn read(doc: &Node) -> Option<Result<Metadata, MetaError>> {
    let sops = doc.get("sops")?;
    if !matches!(sops, Node::Map(_)) {
        return Some(Err((false, "`sops` is not a mapping".into())));
    }
    Some(parse(sops))
}

fn parse(sops: &Node) -> Result<Metadata, MetaError> {
    let text = |key: &str| sops.get(key).and_then(Node::text).map(str::to_string);
    let malformed = |reason: String| (false, reason);
    let last_modified = text("lastmodified").ok_or_else(|| malformed("no lastmodified".into()))?;
    let mac = text("mac").ok_or_else(|| malformed("no mac".into()))?;
    for unsupported in ["encrypted_comment_regex", "unencrypted_comment_regex"] {
        if text(unsupported).is_some_and(|t| !t.is_empty()) {
            return Err((true, format!("{unsupported} is not supported")));
        }
    }
    let mut rules = Vec::new();
    for (key, make) in [
        (
            "unencrypted_suffix",
            Rule::UnencryptedSuffix as fn(String) -> Rule,
        ),
        ("encrypted_suffix", Rule::EncryptedSuffix),
    ] {
        if let Some(s) = text(key).filter(|s| !s.is_empty()) {
            rules.push(make(s));
        }
    }
    for (key, make) in [
        (
            "unencrypted_regex",
            Rule::UnencryptedRegex as fn(Regex) -> Rule,
        ),
        ("encrypted_regex", Rule::EncryptedRegex),
    ] {
        if let Some(s) = text(key).filter(|s| !s.is_empty()) {
            let re = Regex::new(&s)
                .map_err(|e| (true, format!("{key} {:?}: {e}", crate::text::shown(&s))))?;
            rules.push(make(re));
        }
    }
    if rules.len() > 1 {
        return Err(malformed("more than one encryption rule".into()));
    }
    let rule = rules
        .pop()
        .unwrap_or_else(|| Rule::UnencryptedSuffix("_unencrypted".into()));
    let mac_only_encrypted = match sops.get("mac_only_encrypted").and_then(Node::text) {
        None | Some("false") | Some("False") => false,
        Some("true") | Some("True") => true,
        Some(_) => return Err(malformed("mac_only_encrypted is not a boolean".into())),
    };
    let groups = match sops.get("key_groups") {
        None => vec![sops],
        Some(Node::Seq(groups)) => groups.iter().collect(),
        Some(_) => return Err(malformed("key_groups is not a list".into())),
    };
    if groups.len() > 1 {
        return Err((true, "several key groups (Shamir secret sharing)".into()));
    }
    let mut age = Vec::new();
    let mut other = Vec::new();
    for group in groups {
        match group.get("age") {
            None => {}
            Some(Node::Seq(keys)) => {
                for key in keys {
                    let field = |k| key.get(k).and_then(Node::text).map(str::to_string);
                    let (Some(recipient), Some(enc)) = (field("recipient"), field("enc")) else {
                        return Err(malformed("an age entry without recipient or enc".into()));
                    };
                    age.push(AgeKey { recipient, enc });
                }
            }
            Some(_) => return Err(malformed("age is not a list".into())),
        }
        for kind in OTHER_KEYS {
            if matches!(group.get(kind), Some(Node::Seq(items)) if !items.is_empty()) {
                other.push(kind.to_string());
            }
        }
    }
    Ok(Metadata {
        last_modified,
        mac,
        version: text("version").unwrap_or_default(),
        rule,
        mac_only_encrypted,
        age,
        other,
    })
}
