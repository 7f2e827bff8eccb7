//! A real containerd (Debian `containerd` + `ctr`) started by a test with its own root, state,
//! socket and `certs.d`, in the foreground; stopped with SIGTERM when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Containerd {
    child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

impl Containerd {
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("ctrd").tempdir_in("/tmp")?;
        let p = dir.path();
        std::fs::create_dir_all(p.join("certs.d"))?;
        let socket = p.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\n[grpc]\n  address = \"{}\"\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"{}\"\n",
            p.join("root").display(),
            p.join("state").display(),
            socket.display(),
            p.join("certs.d").display()
        );
        std::fs::write(p.join("config.toml"), config)?;
        let log = std::fs::File::create(p.join("containerd.log"))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(p.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("containerd (Debian package containerd): {e}"))?;
        let c = Containerd { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !c.ctr(&["version"]).status.success() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "containerd did not answer on {}: {}",
                c.socket.display(),
                c.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(c)
    }

    /// containerd's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    pub fn hosts_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// Points `registry` at `mirror` (`http://127.0.0.1:PORT`) in `certs.d/<registry>/hosts.toml`.
    pub fn mirror(&self, registry: &str, upstream: &str, mirror: &str) -> anyhow::Result<()> {
        let d = self.hosts_dir().join(registry);
        std::fs::create_dir_all(&d)?;
        std::fs::write(
            d.join("hosts.toml"),
            format!("server = \"{upstream}\"\n\n[host.\"{mirror}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
        )?;
        Ok(())
    }

    /// Runs `ctr` against this containerd in namespace k8s.io.
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_in("k8s.io", args)
    }

    /// Runs `ctr` against this containerd in `namespace`.
    pub fn ctr_in(&self, namespace: &str, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["-n", namespace])
            .args(args)
            .output()
            .expect("ctr (Debian package containerd)")
    }

    /// `ctr images pull --hosts-dir certs.d --platform P NAME`.
    pub fn pull(&self, name: &str, platform: &str) -> Output {
        let hosts = self.hosts_dir();
        self.ctr(&[
            "images",
            "pull",
            "--hosts-dir",
            path_str(&hosts),
            "--platform",
            platform,
            name,
        ])
    }

    /// Image names containerd holds.
    pub fn images(&self) -> Vec<String> {
        lines(&self.ctr(&["images", "ls", "-q"]))
    }

    /// Content digests containerd holds.
    pub fn content(&self) -> Vec<String> {
        lines(&self.ctr(&["content", "ls", "-q"]))
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // SIGTERM and wait, so the root can be removed cleanly.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}
