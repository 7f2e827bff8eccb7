//! Loading agent.yaml: defaults, relative paths, the examples, and what is refused.

use super::*;

#[test]
fn parses_defaults_and_resolves_relative_paths() {
    let cfg = AgentConfig::parse(Path::new("/etc/ferry/agent.yaml"), "device: {id: edge-1}\nsyncs:\n- name: app\n  source: {type: directory, path: drop}\n  interval: 30s\n").unwrap();
    let s = &cfg.syncs[0];
    assert_eq!(s.interval, Duration::from_secs(30));
    assert_eq!(s.drift_every(), Duration::from_secs(30));
    assert!(s.prune && s.wait && !s.insecure_skip_signature);
    let SourceConfig::Directory { path, .. } = &s.source else {
        panic!("directory source")
    };
    assert_eq!(path, Path::new("/etc/ferry/drop"));
    assert_eq!(cfg.vars()["DEVICE_ID"], "edge-1");
}

#[test]
fn every_example_config_parses() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../k3s-examples/agent"
    ));
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        AgentConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    assert!(n >= 6, "one example per source kind");
}

#[test]
fn refuses_bad_configs() {
    let p = Path::new("a.yaml");
    assert!(AgentConfig::parse(p, "syncs: []").is_err());
    assert!(AgentConfig::parse(
        p,
        "syncs:\n- name: A\n  source: {type: directory, path: x}\n"
    )
    .is_err());
    assert!(AgentConfig::parse(p, "syncs:\n- name: a\n  source: {type: ftp, path: x}\n").is_err());
    assert!(AgentConfig::parse(
        p,
        "bogus: 1\nsyncs:\n- name: a\n  source: {type: directory, path: x}\n"
    )
    .is_err());
    let e = AgentConfig::parse(p, "syncs:\n- name: a\n  source: {type: directory, path: x}\n- name: a\n  source: {type: directory, path: y}\n").unwrap_err();
    assert!(e.to_string().contains("defined twice"), "{e}");
    let e = AgentConfig::parse(p, "syncs:\n- name: a\n  dependsOn: [b]\n  source: {type: directory, path: x}\n- name: b\n  dependsOn: [a]\n  source: {type: directory, path: y}\n").unwrap_err();
    assert!(
        e.to_string().contains("dependsOn cycle: a -> b -> a"),
        "{e}"
    );
    let e = AgentConfig::parse(
        p,
        "syncs:\n- name: a\n  dependsOn: [zz]\n  source: {type: directory, path: x}\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown sync"));
}

#[test]
fn host_capable_syncs_are_signed_and_need_the_host_section() {
    let parse = |host: &str, sync: &str| {
        let text =
            format!("{host}syncs:\n- name: edge\n  source: {{type: directory, path: d}}\n{sync}");
        AgentConfig::parse(Path::new("/a.yaml"), &text)
            .map(|c| c.syncs[0].host.enabled)
            .map_err(|e| e.to_string())
    };
    let host = "host: {enabled: true, allow: [/usr/local/bin/k3s]}\n";
    assert_eq!(parse(host, "  host: {enabled: true}\n"), Ok(true));
    assert_eq!(parse(host, ""), Ok(false));
    let unsigned = parse(
        host,
        "  host: {enabled: true}\n  insecureSkipSignature: true\n",
    );
    assert!(unsigned
        .unwrap_err()
        .contains("cannot set insecureSkipSignature"));
    let alone = parse("", "  host: {enabled: true}\n").unwrap_err();
    assert!(
        alone.contains("needs the agent's `host` section"),
        "{alone}"
    );
    assert!(parse(host, "  host: {enabled: true, allow: [/]}\n").is_err());
}
