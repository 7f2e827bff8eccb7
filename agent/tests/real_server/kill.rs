//! kill -9 of the control plane (apiserver and etcd are one process) in the middle of a sync,
//! then a restart on the same data directory and port: ferry retries through the outage, the
//! pass succeeds without a rollback, every object is there, and the next pass writes nothing.
//!
//! The harness regenerates its PKI on every start, so a restarted server has a new CA and new
//! client certificates. To keep ferry's kubeconfig valid across the restart this test gives the
//! apiserver a stable identity of its own: a serving certificate for SNI `localhost`
//! (`--tls-sni-cert-key`, signed by a CA made here with openssl) and a static token
//! (`--token-auth-file`, group system:masters). The Node is deleted before the kill, because
//! the stand-in registers it with a create on every start (the sync needs no Pods).

use super::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const TOKEN: &str = "ferry-kill-test-token-0123456789";

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA and a `localhost` serving certificate signed by it, in `dir`.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=ferry-kill-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ];
    ca.extend_from_slice(&ec);
    openssl(dir, &ca);
    let mut csr = vec![
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
    ];
    csr.extend_from_slice(&ec);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "tls.crt",
        ],
    );
}

/// Starts the control plane binary on `dir` and `port`; returns it once ready.
fn spawn(dir: &Path, keys: &Path, port: u16) -> (Child, std::process::ChildStdin) {
    let mut child = Command::new(control_plane::binary_path())
        .arg("--dir")
        .arg(dir)
        .arg(format!("--port={port}"))
        .arg("--exit-on-stdin-eof")
        .arg(format!(
            "--apiserver-arg=--token-auth-file={}",
            keys.join("tokens.csv").display()
        ))
        .arg(format!(
            "--apiserver-arg=--tls-sni-cert-key={},{}:localhost",
            keys.join("tls.crt").display(),
            keys.join("tls.key").display()
        ))
        .arg(format!(
            "--apiserver-arg=--audit-policy-file={}",
            keys.join("policy.yaml").display()
        ))
        .arg(format!(
            "--apiserver-arg=--audit-log-path={}",
            keys.join("audit.log").display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("ready ") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(control_plane::START_BOUND)
        .unwrap_or_else(|_| {
            panic!(
                "control plane on {} not ready; see {}/control-plane.log",
                dir.display(),
                dir.display()
            )
        });
    eprintln!("kill: {line}");
    (child, stdin)
}

fn ferry_writes(audit: &Path) -> usize {
    audit_count(audit, 0).writes
}

#[test]
fn the_apiserver_killed_mid_sync_and_restarted_ferry_retries_without_rollback() {
    let keys = tempfile::tempdir().unwrap();
    certificates(keys.path());
    std::fs::write(
        keys.path().join("tokens.csv"),
        format!("{TOKEN},ferry-kill,ferry-kill,\"system:masters\"\n"),
    )
    .unwrap();
    std::fs::write(keys.path().join("policy.yaml"), AUDIT_POLICY).unwrap();
    let audit = keys.path().join("audit.log");
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut child, stdin) = spawn(data.path(), keys.path(), port);
    let admin = data.path().join("kubeconfig");
    let kubectl = |args: &[&str]| {
        let o = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&admin)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    kubectl(&["delete", "node", "ferry-node"]);

    let kubeconfig = keys.path().join("ferry.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://localhost:{port}\", certificate-authority: {}}}\nusers:\n- name: u\n  user: {{token: {TOKEN}}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
            keys.path().join("ca.crt").display()
        ),
    )
    .unwrap();
    let env = Env::new();
    env.write_config_full(
        "concurrency: 1\napiRetry: {attempts: 30, initialDelay: 200ms, maxDelay: 2s}",
        "timeout: 3m",
    );
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &env.sim.kubeconfig_path().display().to_string(),
        &kubeconfig.display().to_string(),
    );
    std::fs::write(&env.config, text).unwrap();
    let ns = "kill";
    let mut files = vec![("ns.yaml".to_string(), namespace(ns))];
    for i in 0..80 {
        files.push((
            format!("cm-{i:02}.yaml"),
            cm(&format!("cm-{i:02}"), ns, "1"),
        ));
    }
    let files: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    env.publish(1, &files);

    // The sync runs; once ferry has written 10 objects, the control plane is killed (-9) and
    // started again on the same data directory and port.
    let started = Instant::now();
    let mut sync = Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(["sync", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ferry_writes(&audit) < 10 {
        assert!(
            Instant::now() < deadline,
            "ferry wrote fewer than 10 objects in 120s"
        );
        assert!(
            sync.try_wait().unwrap().is_none(),
            "the sync ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    let before = ferry_writes(&audit);
    eprintln!(
        "kill: killed after {before} ferry writes, {:?} into the sync",
        started.elapsed()
    );
    let restarted = Instant::now();
    let (_child, _stdin) = spawn(data.path(), keys.path(), port);
    eprintln!("kill: restarted in {:?}", restarted.elapsed());
    let out = sync.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "kill: sync finished {:?} after start: {text}",
        started.elapsed()
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("revision 1 applied") && !text.contains("rolled back"),
        "{text}"
    );
    let names = kubectl(&["get", "cm", "-n", ns, "-o", "name"]);
    assert_eq!(
        names.lines().filter(|l| l.contains("/cm-")).count(),
        80,
        "{names}"
    );

    // Integrity: the store says revision 1 applied, one attempt, no rollback; nothing to write.
    let history = env.agent(&["history", "app", "--output", "json"]);
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history[0]["revision"], 1, "{history}");
    let from = std::fs::metadata(&audit).unwrap().len();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up to date, nothing written"), "{out}");
    assert_eq!(audit_count(&audit, from).writes, 0);
}
