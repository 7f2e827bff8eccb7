//! The formats sops writes for files that are not YAML or JSON documents, read as sops's
//! `stores/dotenv` and `stores/json` (`BinaryStore`) do:
//!
//! - **dotenv** (`.env`): `KEY=ENC[...]` lines (`\n` in a value stands for a newline),
//!   comments (`#...`, encrypted by sops but outside the MAC, so skipped here), and the metadata
//!   flattened into `sops_` lines (`sops_age__list_0__map_recipient=age1...`), unflattened
//!   here into the same tree the YAML reader gives, so one walk and one MAC check serve both.
//! - **binary** (any other extension): a JSON document `{"data": "ENC[...]", "sops": {...}}`
//!   whose one value is the file's bytes (not necessarily UTF-8).

use super::tree::{Leaf, Node};
use crate::yaml::Budget;

/// Longest `__list_N` index read from dotenv metadata (recipients are bounded far lower).
const MAX_LIST_INDEX: usize = 256;

/// How sops stores a file, picked from its name as sops's `formats.FormatForPath` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    pub fn for_path(path: &str) -> Format {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

/// A dotenv file as one document: its `KEY=value` lines in order (comments dropped), and the
/// `sops_` lines unflattened under `sops`. Errors are short reasons; the caller names the file.
pub fn dotenv(text: &str, budget: &Budget) -> Result<Node, String> {
    if text.len() > budget.max_bytes {
        return Err(format!("larger than {} bytes", budget.max_bytes));
    }
    let mut entries: Vec<(String, Node)> = Vec::new();
    let mut meta = Tmp::Map(Vec::new());
    let mut lines = 0usize;
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        lines += 1;
        if lines > budget.max_nodes {
            return Err(format!("more than {} lines", budget.max_nodes));
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: no `=`", n + 1))?;
        let value = value.replace("\\n", "\n");
        match key.strip_prefix("sops_") {
            Some(flat) => meta
                .insert(flat, value)
                .map_err(|r| format!("line {}: {r}", n + 1))?,
            None => {
                if entries.iter().any(|(k, _)| k == key) {
                    let shown = crate::text::shown(key);
                    return Err(format!("line {}: key {shown:?} repeated", n + 1));
                }
                entries.push((key.to_string(), leaf(value)));
            }
        }
    }
    if !matches!(&meta, Tmp::Map(m) if m.is_empty()) {
        entries.push(("sops".into(), meta.into_node()));
    }
    Ok(Node::Map(entries))
}

fn leaf(text: String) -> Node {
    Node::Leaf(Leaf {
        text,
        plain: false,
        tag: None,
    })
}

/// Metadata being unflattened (sops's `stores.Unflatten`).
enum Tmp {
    Map(Vec<(String, Tmp)>),
    List(Vec<(usize, Tmp)>),
    Leaf(String),
}

enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// `age__list_0__map_enc` -> [Key(age), Index(0), Key(enc)].
fn tokens(flat: &str) -> Result<Vec<Token<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = flat;
    let mut is_index = false;
    loop {
        let next = [("__map_", false), ("__list_", true)]
            .iter()
            .filter_map(|(sep, idx)| rest.find(sep).map(|at| (at, sep.len(), *idx)))
            .min_by_key(|(at, _, _)| *at);
        let (part, after) = match next {
            Some((at, len, idx)) => (&rest[..at], Some((at + len, idx))),
            None => (rest, None),
        };
        out.push(match is_index {
            true => match part.parse::<usize>() {
                Ok(i) if i <= MAX_LIST_INDEX => Token::Index(i),
                _ => return Err("a metadata list index is not a small number".into()),
            },
            false => Token::Key(part),
        });
        match after {
            Some((skip, idx)) => {
                rest = &rest[skip..];
                is_index = idx;
            }
            None => return Ok(out),
        }
    }
}

impl Tmp {
    fn insert(&mut self, flat: &str, value: String) -> Result<(), String> {
        let tokens = tokens(flat)?;
        let mut node = self;
        for (i, t) in tokens.iter().enumerate() {
            let last = i + 1 == tokens.len();
            let fresh = || match (last, tokens.get(i + 1)) {
                (true, _) => Tmp::Leaf(String::new()),
                (false, Some(Token::Index(_))) => Tmp::List(Vec::new()),
                _ => Tmp::Map(Vec::new()),
            };
            node = match (node, t) {
                (Tmp::Map(entries), Token::Key(k)) => {
                    let at = match entries.iter().position(|(e, _)| e == k) {
                        Some(at) => at,
                        None => {
                            entries.push((k.to_string(), fresh()));
                            entries.len() - 1
                        }
                    };
                    &mut entries[at].1
                }
                (Tmp::List(items), Token::Index(n)) => {
                    let at = match items.iter().position(|(e, _)| e == n) {
                        Some(at) => at,
                        None => {
                            items.push((*n, fresh()));
                            items.len() - 1
                        }
                    };
                    &mut items[at].1
                }
                _ => return Err("metadata keys disagree on a value's shape".into()),
            };
        }
        match node {
            Tmp::Leaf(text) if text.is_empty() => {
                *text = value;
                Ok(())
            }
            _ => Err("a metadata key repeated or clashing".into()),
        }
    }

    fn into_node(self) -> Node {
        match self {
            Tmp::Leaf(text) => leaf(text),
            Tmp::Map(entries) => Node::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_node()))
                    .collect(),
            ),
            Tmp::List(mut items) => {
                items.sort_by_key(|(i, _)| *i);
                Node::Seq(items.into_iter().map(|(_, v)| v.into_node()).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_sops_picks_them() {
        assert_eq!(Format::for_path("a/b.env"), Format::Dotenv);
        assert_eq!(Format::for_path("b.yml"), Format::Yaml);
        assert_eq!(Format::for_path("tls.crt"), Format::Binary);
        assert_eq!(Format::for_path("dir.env/key"), Format::Binary);
    }

    #[test]
    fn dotenv_metadata_unflattens() {
        let text = "# c\nA=1\nsops_age__list_1__map_recipient=r1\nsops_age__list_0__map_recipient=r0\nsops_age__list_0__map_enc=x\\ny\nsops_mac=m\n";
        let doc = dotenv(text, &Budget::default()).unwrap();
        let sops = doc.get("sops").unwrap();
        let Some(Node::Seq(age)) = sops.get("age") else {
            panic!("{sops:?}")
        };
        assert_eq!(age[0].get("recipient").unwrap().text(), Some("r0"));
        assert_eq!(age[0].get("enc").unwrap().text(), Some("x\ny"));
        assert_eq!(age[1].get("recipient").unwrap().text(), Some("r1"));
        assert_eq!(doc.get("A").unwrap().text(), Some("1"));
        for bad in [
            "A\n",
            "A=1\nA=2\n",
            "sops_mac=1\nsops_mac=2\n",
            "sops_a__list_x=1\n",
        ] {
            assert!(dotenv(bad, &Budget::default()).is_err(), "{bad}");
        }
    }
}
