//! `ferry-bench`: footprint and speed figures, printed as a table (figures, not pass/fail).
//! Run through `cross/bench`, which builds the release binaries it drives first.
//!
//! Measures, on this machine, against kube-sim and the same real servers the tests use:
//! binary sizes, idle RSS, peak RSS of a 1000-object sync, ferry vs `kubectl apply
//! --server-side` on the same files, no-change polls per source kind, a one-file change among
//! 1000, and restart-to-enforced with the source offline.

use anyhow::{bail, Context, Result};
use ferry_tests::git_server::{GitHttp, GitRepo};
use ferry_tests::registry::TestRegistry;
use ferry_tests::static_server::StaticServer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod bench;
mod idle_day;
mod memory;
mod wire;
mod wire_git;

use bench::{measure, ms, sim, Bench, PollWire};

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = std::env::var_os("FERRY_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release"));
    if !bin.join("ferry-agent").exists() {
        bail!("build the release binaries first (cross/bench does)");
    }
    let mut b = Bench {
        bin,
        dir: tempfile::tempdir()?,
        rows: Vec::new(),
        polls: Vec::new(),
    };
    let o = Command::new(b.bundle_bin())
        .args(["keygen", "--out"])
        .arg(b.dir.path().join("k"))
        .output()?;
    anyhow::ensure!(o.status.success(), "keygen");
    if std::env::var("FERRY_BENCH_ONLY").as_deref() == Ok("wire") {
        let src = b.dir.path().join("wire-src");
        Bench::objects(&src, 20, "v1")?;
        let out = b.dir.path().join("wire-bundle");
        b.build_bundle(&src, &out, 1)?;
        wire::wire(&mut b, &out)?;
        wire_git::wire_git(&mut b, &out)?;
        idle_day::idle_day(&mut b, &out)?;
        return print_rows(&b);
    }
    if std::env::var("FERRY_BENCH_ONLY").as_deref() == Ok("memory") {
        let src = b.dir.path().join("objects");
        Bench::objects(&src, 1000, "v1")?;
        let drop = b.dir.path().join("drop");
        b.build_bundle(&src, &drop.join("bench"), 1)?;
        memory::memory(&mut b, &root, &drop)?;
        return print_rows(&b);
    }

    // Binary sizes.
    for t in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "armv7-unknown-linux-musleabihf",
    ] {
        let p = root.join("dist").join(t).join("ferry-agent");
        let figure = std::fs::metadata(&p)
            .map(|m| format!("{:.2} MiB", m.len() as f64 / 1048576.0))
            .unwrap_or_else(|_| "not built (run cross/build)".into());
        b.row(
            &format!("ferry-agent size, {t}"),
            figure,
            "static, stripped, opt-level z, LTO",
        );
    }
    let host = std::fs::metadata(b.bin.join("ferry-agent"))?.len();
    b.row(
        "ferry-agent size, host (glibc) release",
        format!("{:.2} MiB", host as f64 / 1048576.0),
        "",
    );

    // 1000 objects: ferry vs kubectl.
    let objs = b.dir.path().join("objects");
    Bench::objects(&objs, 1000, "v1")?;
    let drop = b.dir.path().join("drop");
    b.build_bundle(&objs, &drop.join("bench"), 1)?;
    let s1 = sim()?;
    let cfg = b.config(
        "dir",
        &s1,
        &format!("{{type: directory, path: {}}}", drop.display()),
    )?;
    let (ferry_time, ferry_rss, out) = measure(b.agent(&cfg).args(["sync", "--once"]))?;
    anyhow::ensure!(out.contains("1000 created"), "first sync: {out}");
    b.row(
        "first sync, 1000 objects: ferry",
        ms(ferry_time),
        "kube-sim on loopback, TLS, wait for health",
    );
    b.row(
        "peak RSS, 1000-object sync",
        format!("{:.1} MiB", ferry_rss as f64 / 1024.0),
        "ru_maxrss",
    );
    let s2 = sim()?;
    let cache = tempfile::tempdir()?;
    let kubectl_start = Instant::now();
    let o = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(s2.kubeconfig_path())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["apply", "--server-side", "-f"])
        .arg(&objs)
        .output()
        .context("kubectl")?;
    let kubectl_time = kubectl_start.elapsed();
    anyhow::ensure!(
        o.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    b.row(
        "first sync, 1000 objects: kubectl apply --server-side",
        ms(kubectl_time),
        "same files, same kube-sim, fresh cache",
    );
    b.row(
        "ferry speed-up over kubectl",
        format!(
            "{:.1}x",
            kubectl_time.as_secs_f64() / ferry_time.as_secs_f64()
        ),
        "budget >= 3x",
    );

    // No-change poll, directory source.
    s1.clear_log();
    let (t, _, out) = measure(b.agent(&cfg).args(["sync", "--once"]))?;
    anyhow::ensure!(out.contains("nothing written"), "{out}");
    b.row(
        "no-change poll, directory",
        format!("0 requests, {} API writes, {}", s1.writes().len(), ms(t)),
        "drift check reads the 1000 objects",
    );

    // Memory of the daemon after a 1000-object pass (static musl build and host build).
    memory::memory(&mut b, &root, &drop)?;

    // HTTP exploded: no-change poll and one file changed among 1000.
    let www = b.dir.path().join("www");
    let server = StaticServer::start(&www)?;
    let publish = |dir: &Path| -> Result<()> {
        let o = Command::new(root.join("target/release/ferry-bundle"))
            .arg("publish")
            .arg(dir)
            .arg("--out")
            .arg(www.join("bench"))
            .output()?;
        anyhow::ensure!(
            o.status.success(),
            "publish: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Ok(())
    };
    publish(&drop.join("bench"))?;
    let s3 = sim()?;
    let hcfg = b.config(
        "http",
        &s3,
        &format!(
            "{{type: http, url: \"{}bench/\", caFile: {}}}",
            server.url,
            server.ca_file().display()
        ),
    )?;
    measure(b.agent(&hcfg).args(["sync", "--once"]))?;
    server.clear_log();
    s3.clear_log();
    measure(b.agent(&hcfg).args(["sync", "--once"]))?;
    let log = server.log();
    b.row(
        "no-change poll, HTTP exploded",
        format!(
            "{} request(s) ({}), {} bytes of body, {} API writes",
            log.len(),
            log.iter()
                .map(|r| r.status.to_string())
                .collect::<Vec<_>>()
                .join(","),
            log.iter().map(|r| r.bytes).sum::<usize>(),
            s3.writes().len()
        ),
        "conditional GET of bundle.yaml",
    );
    Bench::objects(&objs, 1000, "v2")?;
    b.build_bundle(&objs, &b.dir.path().join("rev2"), 2)?;
    publish(&b.dir.path().join("rev2"))?;
    server.clear_log();
    s3.clear_log();
    let (t, _, out) = measure(b.agent(&hcfg).args(["sync", "--once"]))?;
    anyhow::ensure!(out.contains("1 configured"), "{out}");
    let blobs = server
        .log()
        .iter()
        .filter(|r| r.path.contains("/blobs/"))
        .count();
    b.row(
        "one file changed among 1000 (HTTP)",
        format!(
            "{blobs} blob(s) fetched, {} API writes, {}",
            s3.writes().len(),
            ms(t)
        ),
        "",
    );

    // Restart to enforced with the source offline.
    server.set_down(true);
    s3.with_state(|s| {
        if let Some(rt) = s.rt_by_kind("", "ConfigMap") {
            let _ = s.delete(&rt, "bench-0", "cm-0", false);
        }
    });
    let start = Instant::now();
    let o = b.agent(&hcfg).args(["sync", "--once"]).output()?;
    let t = start.elapsed();
    let restored = s3.object("", "ConfigMap", "bench-0", "cm-0").is_some();
    b.row(
        "restart to enforced, source offline",
        format!("{} (deleted object restored: {restored})", ms(t)),
        &format!("exit {}", o.status.code().unwrap_or(-1)),
    );

    // OCI no-change poll.
    let reg = TestRegistry::start(None)?;
    let o = Command::new(b.bundle_bin())
        .arg("push")
        .arg(drop.join("bench"))
        .arg(format!("{}:stable", reg.url("bench")))
        .arg("--ca-file")
        .arg(reg.ca_file())
        .output()?;
    anyhow::ensure!(
        o.status.success(),
        "push: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s4 = sim()?;
    let ocfg = b.config(
        "oci",
        &s4,
        &format!(
            "{{type: oci, url: \"{}\", tag: stable, caFile: {}}}",
            reg.url("bench"),
            reg.ca_file().display()
        ),
    )?;
    measure(b.agent(&ocfg).args(["sync", "--once"]))?;
    reg.clear_requests();
    s4.clear_log();
    measure(b.agent(&ocfg).args(["sync", "--once"]))?;
    let reqs = reg.requests();
    b.row(
        "no-change poll, OCI",
        format!(
            "{} request(s) ({}), {} API writes",
            reqs.len(),
            reqs.iter()
                .map(|(m, _)| m.clone())
                .collect::<Vec<_>>()
                .join(","),
            s4.writes().len()
        ),
        "manifest HEAD by tag",
    );

    // Git (HTTPS, http-backend) no-change poll.
    let repo = GitRepo::new()?;
    repo.commit_dir("bench", &drop.join("bench"), "bench")?;
    let git = GitHttp::start(repo.root.path(), None)?;
    let s5 = sim()?;
    let gcfg = b.config(
        "git",
        &s5,
        &format!(
            "{{type: git, url: \"{}\", branch: main, path: bench, caFile: {}}}",
            git.url("fleet.git"),
            git.ca_file().display()
        ),
    )?;
    measure(b.agent(&gcfg).args(["sync", "--once"]))?;
    git.clear_requests();
    s5.clear_log();
    measure(b.agent(&gcfg).args(["sync", "--once"]))?;
    let reqs = git.requests();
    b.row(
        "no-change poll, Git over HTTPS",
        format!(
            "{} request(s) ({}), {} API writes",
            reqs.len(),
            reqs.iter()
                .map(|r| r.split_whitespace().next().unwrap_or("?").to_string())
                .collect::<Vec<_>>()
                .join(","),
            s5.writes().len()
        ),
        "one stateless protocol-v2 ls-refs POST",
    );

    wire::wire(&mut b, &drop.join("bench"))?;
    wire_git::wire_git(&mut b, &drop.join("bench"))?;
    idle_day::idle_day(&mut b, &drop.join("bench"))?;
    print_rows(&b)
}

fn print_rows(b: &Bench) -> Result<()> {
    println!("| measure | figure | note |\n|---|---|---|");
    for (w, f, n) in &b.rows {
        println!("| {w} | {f} | {n} |");
    }
    Ok(())
}
