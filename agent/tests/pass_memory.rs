//! The agent drops a pass's state when the pass ends: the heap bytes it holds after syncing
//! 1000 objects (and after a no-change pass over them) are back near what it held after a
//! 10-object pass, while during the pass it held megabytes more. Measured in-process with a
//! counting global allocator; kube-sim runs in a child process (this test binary run again,
//! `harness = false`) so that only the agent's allocations are counted. SQLite's page cache is
//! C memory, outside this count (the daemon releases it after a pass; `ferry-bench` measures
//! the process as a whole).

use ferry_agent::config::AgentConfig;
use ferry_agent::kube::KubeClient;
use ferry_agent::reconcile::{Agent, Outcome};
use ferry_agent::store::blobs::BlobCache;
use ferry_agent::store::Store;
use ferry_bundle::manifest::{FileEntry, Manifest, Timestamp};
use ferry_bundle::{digest, keys, sign, SigningKey};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

/// Counts live heap bytes and the highest count since the last reset.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn added(n: isize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            added(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        added(-(layout.size() as isize));
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            added(layout.size() as isize);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            added(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CHILD: &str = "FERRY_PASS_MEMORY_SIM";

fn main() {
    if let Some(kubeconfig) = std::env::var_os(CHILD) {
        return run_sim(Path::new(&kubeconfig));
    }
    retained_state_does_not_grow_with_the_bundle();
    println!("pass_memory: ok");
}

/// Child mode: kube-sim until stdin closes.
fn run_sim(kubeconfig: &Path) {
    use ferry_tests::kube_sim::{KubeSim, SimConfig, SimOptions};
    let sim = KubeSim::start(SimOptions {
        port: 0,
        config: SimConfig {
            ready_delay: Duration::from_millis(0),
            crd_delay: Duration::from_millis(0),
            ..SimConfig::default()
        },
    })
    .expect("kube-sim");
    sim.write_kubeconfig(kubeconfig, false).expect("kubeconfig");
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// `n` objects: 4 Namespaces and ConfigMaps in files of 50.
fn objects(n: usize, revision: u64) -> Vec<(String, String)> {
    let mut files = vec![(
        "00-namespaces.yaml".to_string(),
        (0..4)
            .map(|i| format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: mem-{i}\n"))
            .collect::<String>(),
    )];
    let configmaps: Vec<String> = (0..n - 4)
        .map(|k| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{k}\n  namespace: mem-{}\ndata:\n  revision: \"{revision}\"\n  payload: \"{}\"\n",
                k % 4,
                "x".repeat(200)
            )
        })
        .collect();
    for (i, chunk) in configmaps.chunks(50).enumerate() {
        files.push((format!("10-configmaps-{i:03}.yaml"), chunk.concat()));
    }
    files
}

/// Signs a bundle named `app` into `drop/app-<revision>/`.
fn publish(drop: &Path, key: &SigningKey, revision: u64, files: &[(String, String)]) {
    let out = drop.join(format!("app-{revision}"));
    std::fs::create_dir_all(&out).expect("bundle dir");
    let mut entries = Vec::new();
    for (path, data) in files {
        std::fs::write(out.join(path), data).expect("file");
        entries.push(FileEntry {
            path: path.clone(),
            size: data.len() as u64,
            sha256: digest::sha256_hex(data.as_bytes()),
        });
    }
    let m = Manifest::new(
        "app",
        revision,
        Timestamp::now(),
        Duration::from_secs(86400),
        entries,
    );
    let yaml = m.to_yaml();
    std::fs::write(out.join("bundle.yaml"), &yaml).expect("manifest");
    let sig = sign::sign(yaml.as_bytes(), &sign::trusted_comment(&m), key).expect("sign");
    std::fs::write(out.join("bundle.yaml.minisig"), sig).expect("signature");
}

/// Live bytes now, and the peak since the last call (then reset to now).
fn sample() -> (isize, isize) {
    let live = LIVE.load(Ordering::Relaxed);
    (live, PEAK.swap(live, Ordering::Relaxed))
}

fn retained_state_does_not_grow_with_the_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut sim = Command::new(std::env::current_exe().expect("test binary"))
        .env(CHILD, &kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("kube-sim child");
    let mut ready = String::new();
    std::io::BufReader::new(sim.stdout.take().expect("child stdout"))
        .read_line(&mut ready)
        .expect("child ready");
    assert_eq!(ready.trim(), "ready", "kube-sim child did not start");

    let (_, key) = keys::generate(&dir.path().join("publisher"), None, false).expect("keygen");
    let key = SigningKey::load(&key, None).expect("key");
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir_all(&keys_dir).expect("keys dir");
    std::fs::rename(
        dir.path().join("publisher.pub"),
        keys_dir.join("publisher.pub"),
    )
    .expect("public key");
    let drop = dir.path().join("drop");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let config_path = dir.path().join("agent.yaml");
    let text = format!(
        "device: {{id: edge-1}}\nstateDir: {}\nkubeconfig: {}\nkeys: {}\nstatusObject: {{enabled: false}}\nsyncs:\n  - name: app\n    source: {{type: directory, path: {}}}\n    timeout: 1m\n",
        state.display(),
        kubeconfig.display(),
        keys_dir.display(),
        drop.display()
    );
    std::fs::write(&config_path, text).expect("config");
    let config = AgentConfig::load(&config_path).expect("config loads");
    let agent = Agent::new(
        config,
        Store::open(&state.join("state.db")).expect("store"),
        BlobCache::open(&state.join("blobs")).expect("blobs"),
        KubeClient::from_kubeconfig(&kubeconfig).expect("client"),
    );
    let pass = |what: &str| {
        let outcome = agent.sync_once("app").expect(what);
        agent.store.release_memory().expect("release");
        outcome
    };

    // A small revision first: connections, discovery and caches exist after it.
    publish(&drop, &key, 1, &objects(10, 1));
    assert!(matches!(
        pass("small pass"),
        Outcome::Applied { revision: 1, .. }
    ));
    let (after_small, _) = sample();

    // 1000 objects: applied, then checked again without changes.
    publish(&drop, &key, 2, &objects(1000, 2));
    assert!(matches!(
        pass("large pass"),
        Outcome::Applied { revision: 2, .. }
    ));
    let (after_large, peak_large) = sample();
    assert!(matches!(pass("no-change pass"), Outcome::UpToDate { .. }));
    let (after_check, peak_check) = sample();

    let mib = |b: isize| b as f64 / 1048576.0;
    eprintln!(
        "live heap: {:.2} MiB after 10 objects; 1000 objects: peak {:.2}, after {:.2}; no-change pass: peak {:.2}, after {:.2}",
        mib(after_small),
        mib(peak_large),
        mib(after_large),
        mib(peak_check),
        mib(after_check)
    );
    // During the passes the agent held its desired set, lists and responses...
    let pass_state = peak_large - after_small;
    assert!(
        pass_state > 1 << 20,
        "the 1000-object pass held {pass_state} bytes at most"
    );
    // ...and after them keeps a small fraction of that, however many objects it synced.
    for (what, after) in [("apply", after_large), ("no-change", after_check)] {
        let kept = after - after_small;
        assert!(
            kept < pass_state / 8,
            "after the {what} pass the agent keeps {kept} bytes more than after a 10-object pass (the pass held up to {pass_state})"
        );
    }

    drop_child(sim);
}

fn drop_child(mut sim: std::process::Child) {
    drop(sim.stdin.take());
    let _ = sim.wait();
}
