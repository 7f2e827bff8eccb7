//! ferry reads YAML as kubectl does. Every manifest under `k3s-examples/` and every file of the
//! corpus in `tests/corpus/yaml/` is rendered by ferry (`ferry_bundle::render`, no variables
//! defined) and read by the real `kubectl` 1.32 (`kubectl annotate --local -f FILE -o json`,
//! which goes through the same file reader as `kubectl create --dry-run=client` without needing a
//! server; `create_dry_run_reads_the_same` checks that on the kinds kube-sim serves). The JSON
//! must be equal, or both must refuse the file, or the file must be in [`EXPLAINED`].

use ferry_tests::kube_sim::{KubeSim, SimOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files where ferry and kubectl differ on purpose.
const EXPLAINED: &[(&str, &str)] = &[
    (
        "duplicates.yaml",
        "a repeated mapping key: kubectl keeps the last value silently, ferry refuses the file",
    ),
    (
        "after-end-marker.yaml",
        "a document after `...` without `---`: kubectl drops it silently, ferry refuses the file",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn manifests() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![
        root().join("k3s-examples"),
        root().join("tests/corpus/yaml"),
    ];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            // Agent configurations and host payloads (k3s's own config files, the host
            // section) are not manifests.
            if p.is_dir() && !p.ends_with("k3s-examples/agent") && !p.ends_with("k3s-examples/host")
            {
                dirs.push(p);
            } else if ferry_bundle::render::is_manifest_file(&p.to_string_lossy())
                // Kustomize's own file is an input of `ferry-bundle build`, not a manifest.
                && !p.ends_with("kustomization.yaml")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn ferry_read(path: &Path) -> Result<Vec<Value>, String> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    ferry_bundle::render::render_file(&name, &bytes, &Default::default())
        .map(|objs| objs.into_iter().map(|o| o.value).collect())
        .map_err(|e| e.to_string())
}

fn json_stream(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|v| v.expect("kubectl prints JSON"))
        .collect()
}

fn kubectl(args: &[&str], cache: &Path) -> Result<Vec<Value>, String> {
    let out = Command::new("kubectl")
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .expect("kubectl must be installed (tests/run installs it)");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(json_stream(&String::from_utf8_lossy(&out.stdout)))
}

const PROBE: &str = "ferry.dev/parity-probe-";

fn kubectl_read(path: &Path, cache: &Path) -> Result<Vec<Value>, String> {
    let file = path.to_string_lossy();
    let args = [
        "annotate",
        "--local",
        "-o",
        "json",
        "--server",
        "http://127.0.0.1:9",
        "-f",
        &file,
        PROBE,
    ];
    kubectl(&args, cache)
}

/// Numbers as the API server reads JSON: an integer when it fits int64, else a float.
fn numbers_as_server_reads(v: &mut Value) {
    match v {
        Value::Number(n) if n.as_i64().is_none() => {
            *v = serde_json::Number::from_f64(n.as_f64().unwrap_or(f64::NAN))
                .map_or(Value::Null, Value::Number)
        }
        Value::Array(a) => a.iter_mut().for_each(numbers_as_server_reads),
        Value::Object(m) => m.values_mut().for_each(numbers_as_server_reads),
        _ => {}
    }
}

/// Undoes what the reading command itself adds: `annotate` creates an empty annotations map,
/// `create` fills in the kubeconfig's namespace.
fn without_command_effects(mut theirs: Value, ours: &Value) -> Value {
    let meta = &mut theirs["metadata"];
    if ours["metadata"]
        .get("annotations")
        .is_none_or(Value::is_null)
        && meta["annotations"] == serde_json::json!({})
    {
        match ours["metadata"].get("annotations") {
            Some(v) => meta["annotations"] = v.clone(),
            None => {
                meta.as_object_mut().map(|m| m.remove("annotations"));
            }
        }
    }
    if ours["metadata"].get("namespace").is_none() && meta["namespace"] == "default" {
        meta.as_object_mut().map(|m| m.remove("namespace"));
    }
    numbers_as_server_reads(&mut theirs);
    theirs
}

fn compare(
    name: &str,
    ours: Result<Vec<Value>, String>,
    theirs: Result<Vec<Value>, String>,
) -> Option<String> {
    match (ours, theirs) {
        (Err(_), Err(_)) => None,
        (Ok(mut ours), Ok(theirs)) => {
            ours.iter_mut().for_each(numbers_as_server_reads);
            let theirs: Vec<Value> = theirs
                .into_iter()
                .zip(ours.iter().chain(std::iter::repeat(&Value::Null)))
                .map(|(t, o)| without_command_effects(t, o))
                .collect();
            if ours.len() != theirs.len() {
                return Some(format!(
                    "{name}: ferry {} objects, kubectl {}",
                    ours.len(),
                    theirs.len()
                ));
            }
            ours.iter()
                .zip(&theirs)
                .find(|(o, t)| o != t)
                .map(|(o, t)| {
                    format!(
                        "{name}: ferry\n{}\nkubectl\n{}",
                        serde_json::to_string_pretty(o).unwrap(),
                        serde_json::to_string_pretty(t).unwrap()
                    )
                })
        }
        (Ok(_), Err(e)) => Some(format!("{name}: ferry reads it, kubectl refuses: {e}")),
        (Err(e), Ok(_)) => Some(format!("{name}: kubectl reads it, ferry refuses: {e}")),
    }
}

#[test]
fn ferry_renders_every_manifest_as_kubectl_reads_it() {
    let cache = tempfile::tempdir().unwrap();
    let files = manifests();
    assert!(files.len() >= 25, "corpus not found: {files:?}");
    let mut differences = Vec::new();
    let mut compared = 0;
    let mut refused_by_both = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let ours = ferry_read(path);
        let theirs = kubectl_read(path, cache.path());
        match (&ours, &theirs) {
            (Ok(_), Ok(_)) => compared += 1,
            (Err(e), Err(_)) => refused_by_both.push(format!("{name}: {e}")),
            _ => {}
        }
        if let Some(d) = compare(&name, ours, theirs) {
            differences.push((name, d));
        }
    }
    let unexplained: Vec<&String> = differences
        .iter()
        .filter(|(name, _)| !EXPLAINED.iter().any(|(f, _)| f == name))
        .map(|(_, d)| d)
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    let differing: Vec<&str> = differences.iter().map(|(n, _)| n.as_str()).collect();
    for (file, why) in EXPLAINED {
        assert!(
            differing.contains(file),
            "{file} no longer differs ({why}): update EXPLAINED"
        );
    }
    assert!(compared >= 20, "only {compared} files read by both");
    // Files both refuse: Helm templates and chart metadata (not manifests), the bad separator.
    let expected_refusals = [
        "bad-separator.yaml",
        "Chart.yaml",
        "values.yaml",
        "configmap.yaml",
    ];
    for r in &refused_by_both {
        assert!(
            expected_refusals.iter().any(|f| r.starts_with(f)),
            "unexpected refusal: {r}"
        );
    }
    eprintln!("refused by both: {refused_by_both:#?}");
    eprintln!(
        "{} files, {compared} read identically by both, {} refused by both, {} explained",
        files.len(),
        files.len() - compared - EXPLAINED.len(),
        EXPLAINED.len()
    );
}

#[test]
fn create_dry_run_reads_the_same() {
    let sim = KubeSim::start(SimOptions::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let kubeconfig = sim.kubeconfig_path().to_string_lossy().into_owned();
    // Files whose kinds kube-sim serves.
    for name in [
        "octal-modes.yaml",
        "merge-keys.yaml",
        "numbers.yaml",
        "block-scalars.yaml",
        "json-stream.json",
        "list-kind.yaml",
    ] {
        let path = root().join("tests/corpus/yaml").join(name);
        let file = path.to_string_lossy();
        let created = kubectl(
            &[
                "--kubeconfig",
                &kubeconfig,
                "create",
                "--dry-run=client",
                "--validate=false",
                "-o",
                "json",
                "-f",
                &file,
            ],
            cache.path(),
        );
        assert!(created.is_ok(), "{name}: {created:?}");
        let ours = ferry_read(&path);
        assert_eq!(compare(name, ours, created), None, "{name}");
    }
}
