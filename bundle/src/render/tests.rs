//! Render tests: documents, Lists, substitution modes and opt-out, names, fuzz seeds.

use super::*;

fn vars() -> BTreeMap<String, String> {
    [("DEVICE_ID".to_string(), "edge-7".to_string())].into()
}

fn strict(file: &str, y: &str) -> Result<Vec<RenderedObject>, RenderError> {
    let vars = vars();
    render_file_with(
        file,
        y.as_bytes(),
        &Substitution {
            vars: &vars,
            strict: true,
        },
    )
}

/// Replays the render fuzz seeds (and crashes saved there as regressions).
#[test]
fn fuzz_seeds_render_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/render");
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let data = std::fs::read(e.path()).unwrap();
        let _ = render_file("seed.yaml", &data, &vars());
    }
}

#[test]
fn multi_document_lists_and_errors() {
    let y = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n";
    let objs = render_file("x.yaml", y, &vars()).unwrap();
    let kinds: Vec<_> = objs.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "Secret"]);
    assert_eq!(objs[1].origin, "x.yaml#1");
    let e = render_file(
        "x.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        &vars(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "x.yaml#0: missing or empty metadata.name");
    let e = render_file("x.yaml", b"kind: ConfigMap\nmetadata: {name: a}\n", &vars()).unwrap_err();
    assert!(matches!(
        e,
        RenderError::Missing {
            field: "apiVersion",
            ..
        }
    ));
    let e = render_file(
        "x.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n",
        &vars(),
    )
    .unwrap_err();
    assert!(matches!(e, RenderError::InvalidName { .. }), "{e}");
    let e = render_file("x.yaml", b"a: [1\n", &vars()).unwrap_err();
    assert!(e.to_string().starts_with("x.yaml#0: invalid YAML"), "{e}");
    let e = render_file("x.yaml", &[0xff, 0xfe], &vars()).unwrap_err();
    assert!(matches!(e, RenderError::NotUtf8 { .. }));
    let e = render_file("x.yaml", b"- 1\n- 2\n", &vars()).unwrap_err();
    assert!(matches!(e, RenderError::NotAnObject { .. }));
}

#[test]
fn rbac_names_pass() {
    let y = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:coredns\nrules: []\n";
    assert_eq!(
        render_file("r.yaml", y.as_bytes(), &vars()).unwrap().len(),
        1
    );
}

const SCRIPT_CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setup\n  labels: {device: \"${DEVICE_ID}\"}\ndata:\n  setup: |-\n    #!/bin/sh\n    mkdir -m 0777 -p \"${absolutePath}\"\n";

#[test]
fn scripts_survive_substitution() {
    let objs = render_file("cm.yaml", SCRIPT_CM.as_bytes(), &vars()).unwrap();
    let v = &objs[0].value;
    assert_eq!(v["metadata"]["labels"]["device"], "edge-7");
    assert!(v["data"]["setup"]
        .as_str()
        .unwrap()
        .contains("\"${absolutePath}\""));
    // Strict mode refuses, naming the variable; the annotation opts the object out.
    let e = strict("cm.yaml", SCRIPT_CM).unwrap_err();
    assert!(
        e.to_string()
            .contains("cm.yaml#0: undefined variable ${absolutePath}"),
        "{e}"
    );
    let opted = SCRIPT_CM.replace(
        "  labels:",
        "  annotations: {ferry.dev/substitute: disabled}\n  labels:",
    );
    let objs = strict("cm.yaml", &opted).unwrap();
    assert_eq!(
        objs[0].value["metadata"]["labels"]["device"],
        "${DEVICE_ID}"
    );
    // The escape gives a literal in both modes.
    let esc = SCRIPT_CM.replace("${absolutePath}", "$${absolutePath}");
    let objs = strict("cm.yaml", &esc).unwrap();
    assert!(objs[0].value["data"]["setup"]
        .as_str()
        .unwrap()
        .contains("\"${absolutePath}\""));
}

#[test]
fn substituted_numbers_are_numbers() {
    let y = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: ${REPLICAS:=2}\n";
    let objs = render_file("d.yaml", y.as_bytes(), &vars()).unwrap();
    assert_eq!(objs[0].value["spec"]["replicas"], 2);
}
