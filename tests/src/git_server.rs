//! Real Git servers for the Git source tests: a repository to publish into, `git daemon`
//! (git://), and `git http-backend` behind lighttpd over HTTPS, with or without basic auth,
//! speaking protocol v2 or (when the `Git-Protocol` header does not reach it) only v0.

use crate::kube_sim::Pki;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "ferry")
        .env("GIT_AUTHOR_EMAIL", "ferry@example.com")
        .env("GIT_COMMITTER_NAME", "ferry")
        .env("GIT_COMMITTER_EMAIL", "ferry@example.com")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A bare repository `fleet.git` under `root`, fed from a work tree.
pub struct GitRepo {
    pub root: tempfile::TempDir,
    work: PathBuf,
}

impl GitRepo {
    pub fn new() -> anyhow::Result<Self> {
        let root = tempfile::tempdir()?;
        let work = root.path().join("work");
        std::fs::create_dir_all(&work)?;
        git(&work, &["init", "-q", "-b", "main"])?;
        git(root.path(), &["init", "-q", "--bare", "fleet.git"])?;
        git(
            &root.path().join("fleet.git"),
            &["config", "http.receivepack", "false"],
        )?;
        git(
            &work,
            &[
                "remote",
                "add",
                "origin",
                &root.path().join("fleet.git").display().to_string(),
            ],
        )?;
        Ok(GitRepo { root, work })
    }

    /// Path of the bare repository (also usable as a local-path URL).
    pub fn bare(&self) -> PathBuf {
        self.root.path().join("fleet.git")
    }

    /// Replaces `dir` in the repository with the contents of `from`, commits and pushes `main`.
    pub fn commit_dir(&self, dir: &str, from: &Path, message: &str) -> anyhow::Result<String> {
        let target = self.work.join(dir);
        let _ = std::fs::remove_dir_all(&target);
        copy_tree(from, &target)?;
        git(&self.work, &["add", "-A"])?;
        git(&self.work, &["commit", "-q", "-m", message])?;
        git(&self.work, &["push", "-q", "origin", "main"])?;
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Tags HEAD (annotated) and pushes the tag.
    pub fn tag(&self, name: &str) -> anyhow::Result<()> {
        git(&self.work, &["tag", "-a", name, "-m", name])?;
        git(&self.work, &["push", "-q", "origin", name])?;
        Ok(())
    }
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

/// `git daemon` serving every repository under a base path.
pub struct GitDaemon {
    pub port: u16,
    child: Child,
}

impl GitDaemon {
    pub fn start(base: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let exec = git(base, &["--exec-path"])?;
        let child = Command::new(Path::new(&exec).join("git-daemon"))
            .args([
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                "--export-all",
            ])
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        wait_for_port(port)?;
        Ok(GitDaemon { port, child })
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// lighttpd running `git http-backend` over HTTPS (our CA), optionally with basic auth.
pub struct GitHttp {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// Which protocol versions the backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    /// What a client asks for with `Git-Protocol` (v2 for gix and git).
    AsAsked,
    /// Only v0: the backend never sees the `Git-Protocol` header, as behind a proxy that does
    /// not forward it or with git older than 2.18 (no v2 `ls-refs` without a prior GET).
    V0Only,
}

impl GitHttp {
    pub fn start(base: &Path, user: Option<(&str, &str)>) -> anyhow::Result<Self> {
        Self::start_with(base, user, Protocols::AsAsked)
    }

    pub fn start_with(
        base: &Path,
        user: Option<(&str, &str)>,
        protocols: Protocols,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let pki = Pki::generate()?;
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem)?;
        std::fs::write(
            dir.path().join("server.pem"),
            format!("{}{}", pki.server_cert_pem, pki.server_key_pem),
        )?;
        let port = free_port()?;
        // A wrapper logs each request (lighttpd buffers its access log) and runs the backend.
        let real_backend = Path::new(&git(base, &["--exec-path"])?).join("git-http-backend");
        let backend = dir.path().join("git-backend.sh");
        let strip = match protocols {
            Protocols::AsAsked => "",
            Protocols::V0Only => "unset HTTP_GIT_PROTOCOL\n",
        };
        std::fs::write(
            &backend,
            format!("#!/bin/sh\necho \"$REQUEST_METHOD $PATH_INFO?$QUERY_STRING\" >> {}/requests.log\n{strip}exec {}\n", dir.path().display(), real_backend.display()),
        )?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o755))?;
        }
        let mut auth = String::new();
        if let Some((u, p)) = user {
            std::fs::write(dir.path().join("users"), format!("{u}:{p}\n"))?;
            auth = format!(
                "auth.backend = \"plain\"\nauth.backend.plain.userfile = \"{}\"\nauth.require = ( \"/git/\" => ( \"method\" => \"basic\", \"realm\" => \"git\", \"require\" => \"valid-user\" ) )\n",
                dir.path().join("users").display()
            );
        }
        let conf = format!(
            "server.modules = ( \"mod_access\", \"mod_alias\", \"mod_auth\", \"mod_authn_file\", \"mod_setenv\", \"mod_cgi\", \"mod_openssl\", \"mod_accesslog\" )\n\
             server.document-root = \"{root}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
             server.errorlog = \"{dir}/error.log\"\naccesslog.filename = \"{dir}/access.log\"\n\
             ssl.engine = \"enable\"\nssl.pemfile = \"{dir}/server.pem\"\n\
             alias.url = ( \"/git/\" => \"{backend}/\" )\n\
             $HTTP[\"url\"] =~ \"^/git/\" {{\n  cgi.assign = ( \"\" => \"\" )\n  setenv.add-environment = ( \"GIT_PROJECT_ROOT\" => \"{root}\", \"GIT_HTTP_EXPORT_ALL\" => \"\" )\n}}\n{auth}",
            root = base.display(),
            dir = dir.path().display(),
            backend = backend.display(),
        );
        std::fs::write(dir.path().join("lighttpd.conf"), conf)?;
        let child = Command::new("lighttpd")
            .arg("-D")
            .arg("-f")
            .arg(dir.path().join("lighttpd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("lighttpd (Debian packages lighttpd, lighttpd-mod-openssl): {e}")
            })?;
        wait_for_port(port)?;
        Ok(GitHttp { port, child, dir })
    }

    pub fn url(&self, repo: &str) -> String {
        format!("https://127.0.0.1:{}/git/{repo}", self.port)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Requests that reached git-http-backend ("METHOD /repo/path?query"); requests refused
    /// by authentication never reach it.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn clear_requests(&self) {
        let _ = std::fs::write(self.dir.path().join("requests.log"), "");
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
