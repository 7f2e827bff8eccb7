//! A small argument reader on lexopt: positional values and `--flag value` options.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// Parsed arguments of one subcommand.
#[derive(Debug, Default)]
pub struct Args {
    pub positional: Vec<String>,
    options: BTreeMap<String, Vec<String>>,
    flags: Vec<String>,
}

/// Which long options take a value; all others are boolean flags.
pub fn parse(raw: Vec<OsString>, valued: &[&str]) -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(raw);
    let mut args = Args::default();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long(name) => {
                let name = name.to_string();
                if valued.contains(&name.as_str()) {
                    let v = parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .into_string()
                        .map_err(|_| format!("--{name}: not UTF-8"))?;
                    args.options.entry(name).or_default().push(v);
                } else {
                    if parser.optional_value().is_some() {
                        return Err(format!("--{name} takes no value"));
                    }
                    args.flags.push(name);
                }
            }
            Short(c) => return Err(format!("unknown option -{c}")),
            Value(v) => args.positional.push(
                v.into_string()
                    .map_err(|_| "argument is not UTF-8".to_string())?,
            ),
        }
    }
    Ok(args)
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.options.get(name).cloned().unwrap_or_default()
    }
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
    /// Flags given that the command does not know.
    pub fn unknown_flags(&self, known: &[&str]) -> Option<String> {
        self.flags
            .iter()
            .find(|f| !known.contains(&f.as_str()))
            .cloned()
    }
}
