//! Figures for docs/performance.md from the image path (not pass/fail; `#[ignore]`d).

mod common;
mod images_support;

use common::*;
use ferry_tests::oci_image::{layer, MultiImage, PlatformImage};
use images_support::*;

/// Figures for docs/performance.md (not a pass/fail test; run with
/// `cargo test -p ferry-agent --test images_figures -- --ignored --nocapture`): peak RSS of a
/// sync that fetches a 64 MiB layer, bytes moved by a one-layer revision, and the mirror's
/// throughput and RSS while serving the 64 MiB layer.
#[test]
#[ignore]
fn figures() {
    let mut upstream = Upstream::start();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let big: Vec<u8> = (0..64 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let base = layer(&[("data/blob", &big, 0o644)]);
    drop(big);
    let image = |v: &str| {
        let app = layer(&[("app/version", v.as_bytes(), 0o644)]);
        MultiImage::new(vec![PlatformImage::new(
            "linux",
            "amd64",
            vec![base.clone(), app],
            &["/bin/sh"],
        )])
    };
    let (v1, v2) = (image("1"), image("2"));
    upstream.push("bench/app", "1", &v1);
    upstream.push("bench/app", "2", &v2);
    let env = Env::new();
    let staging = env.dir.path().join("staging");
    for (rev, tag) in [(1u64, "1"), (2, "2")] {
        let dir = staging.join(format!("app-{rev}"));
        let e = upstream.pull_into("bench/app", tag, &[], &dir);
        publish(
            &env,
            &staging,
            rev,
            Some(&upstream.name("bench/app", tag)),
            vec![e],
        );
    }
    upstream.registry.stop();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_config_full(
        &format!("images: {{listen: \"127.0.0.1:{port}\"}}"),
        "timeout: 5s",
    );
    let timed_sync = || {
        let o = std::process::Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kib=%M"])
            .arg(env!("CARGO_BIN_EXE_ferry-agent"))
            .arg("--config")
            .arg(&env.config)
            .args(["sync", "--once"])
            .output()
            .unwrap();
        let t = out(&o);
        assert!(o.status.success(), "{t}");
        t.lines()
            .find_map(|l| l.strip_prefix("maxrss_kib="))
            .unwrap()
            .to_string()
    };
    let state = env.dir.path().join("state");
    copy_dir(&staging.join("app-1"), &env.drop_dir().join("app-1"));
    let started = std::time::Instant::now();
    let rss1 = timed_sync();
    println!(
        "figure: sync fetching a {} byte image (64 MiB layer): peak RSS {rss1} KiB, {:?} (debug build)",
        base.blob.bytes.len(),
        started.elapsed()
    );
    let before = dir_files(&state.join("blobs"));
    copy_dir(&staging.join("app-2"), &env.drop_dir().join("app-2"));
    let rss2 = timed_sync();
    let added: Vec<(String, u64)> = dir_files(&state.join("blobs"))
        .into_iter()
        .filter(|(n, _)| !before.iter().any(|(b, _)| b == n))
        .collect();
    println!(
        "figure: revision 2 (one changed layer) added {} blobs, {} bytes to the cache (image {} bytes); peak RSS {rss2} KiB",
        added.len(),
        added.iter().map(|a| a.1).sum::<u64>(),
        base.blob.bytes.len() + v2.platforms[0].layers[1].blob.bytes.len()
    );
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(["images", "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed even when an assertion below fails.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = server.stderr.take().unwrap();
    let server = Kill(server);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stderr), &mut line).unwrap();
    let url = format!(
        "http://127.0.0.1:{port}/v2/bench/app/blobs/{}?ns={}",
        base.blob.digest(),
        upstream.registry.host
    );
    // curl as the client (an unoptimized test client would measure itself).
    let curl = |url: &str, n: usize| {
        let mut c = std::process::Command::new("curl");
        c.args(["-s", "-f", "-w", "%{size_download}\n"]);
        for _ in 0..n {
            c.args(["-o", "/dev/null", url]);
        }
        let o = c.output().expect("curl");
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.trim().parse::<u64>().unwrap())
            .sum::<u64>()
    };
    let rounds = 20;
    let started = std::time::Instant::now();
    let bytes = curl(&url, rounds);
    let secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let o = std::process::Command::new("curl")
                    .args(["-s", "-f", "-w", "%{size_download}\n"])
                    .args((0..5).flat_map(|_| ["-o".to_string(), "/dev/null".into(), url.clone()]))
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| l.trim().parse::<u64>().unwrap())
                    .sum::<u64>()
            })
        })
        .collect();
    let par: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let par_secs = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.0.id())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_default()
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    println!(
        "figure: mirror served {rounds} x 64 MiB sequentially at {:.0} MiB/s; 4 clients x 5 at {:.0} MiB/s; RSS {} KiB, peak {} KiB (debug build)",
        bytes as f64 / secs / 1048576.0,
        par as f64 / par_secs / 1048576.0,
        field("VmRSS:"),
        field("VmHWM:")
    );
    drop(server);
}
