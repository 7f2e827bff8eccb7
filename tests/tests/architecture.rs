//! ARCHITECTURE.md cites only what exists: every backticked path is in the tree, and every
//! backticked Rust name (`name`, `module::name`, `Enum::Variant`) is defined in some `.rs` file.
//! Only what the file cites is checked, so code added elsewhere never fails this test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `.rs` files of the repository (no build output, no VCS data).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            rust_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// Every name the sources define: items, enum variants, and module file names.
fn defined_names() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    let mut names = BTreeSet::new();
    let item = [
        "fn", "struct", "enum", "trait", "mod", "const", "static", "type",
    ];
    for f in files {
        names.insert(f.file_stem().unwrap().to_string_lossy().to_string());
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for line in text.lines() {
            let words: Vec<&str> = line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                if item.contains(&pair[0]) {
                    names.insert(pair[1].to_string());
                }
            }
            // An enum variant: an indented capitalised word followed by `,`, `(` or `{`.
            let t = line.trim_start();
            if line.starts_with("    ") && t.starts_with(|c: char| c.is_ascii_uppercase()) {
                let word: String = t
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let rest = t[word.len()..].trim_start();
                if rest.starts_with([',', '(', '{']) {
                    names.insert(word);
                }
            }
        }
    }
    names
}

fn is_rust_name(s: &str) -> bool {
    s.split("::").all(|seg| {
        seg.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn architecture_md_cites_only_paths_and_names_that_exist() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let cited: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
    assert!(
        cited.len() > 50,
        "ARCHITECTURE.md cites {} names",
        cited.len()
    );
    let names = defined_names();
    let mut missing = Vec::new();
    let (mut paths, mut rust) = (0, 0);
    for c in cited {
        if c.contains('/') && !c.contains(' ') {
            paths += 1;
            if !root().join(c.trim_end_matches('/')).exists() {
                missing.push(format!("path {c}"));
            }
        } else if is_rust_name(c) {
            rust += 1;
            for seg in c.split("::") {
                if !names.contains(seg) {
                    missing.push(format!("name {seg} (in `{c}`)"));
                }
            }
        }
    }
    assert!(
        paths > 20 && rust > 50,
        "{paths} paths and {rust} names checked"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md cites what the tree lacks:\n{}",
        missing.join("\n")
    );
}
