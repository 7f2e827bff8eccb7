//! The Git side of the hostile servers: a `git://` daemon in front of the real one that can
//! flood or trickle, and `git http-backend` run as CGI behind [`super::HostileHttp`].

use super::{Reply, Seen};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `git://` server in front of a real `git daemon`: it passes connections through until an
/// attack is set, then answers every connection with it (after reading the request line, and
/// for protocol v2 the command that follows the capability advertisement).
pub struct HostileGitDaemon {
    pub port: u16,
    attack: Arc<Mutex<Option<GitAnswer>>>,
}

/// What a hostile `git://` server answers.
#[derive(Clone, Copy, Debug)]
pub enum GitAnswer {
    /// A protocol-v0 ref advertisement of `n` refs.
    V0Refs(usize),
    /// A protocol-v2 capability advertisement, then an `ls-refs` answer of `n` refs.
    V2LsRefs(usize),
    /// A protocol-v0 advertisement of one ref, one byte every 200 ms.
    Trickle,
}

fn pkt(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(format!("{:04x}{line}", line.len() + 4).as_bytes());
}

/// Writes `n` refs as pkt-lines in chunks (never all in memory), `first` ending the first line.
pub fn write_refs(w: &mut dyn Write, n: usize, first: &str) -> std::io::Result<()> {
    let mut chunk = Vec::with_capacity(1 << 20);
    for i in 0..n {
        let suffix = if i == 0 { first } else { "" };
        pkt(
            &mut chunk,
            &format!("{:040x} refs/heads/b{i}{suffix}\n", i + 1),
        );
        if chunk.len() > (1 << 20) - 128 {
            w.write_all(&chunk)?;
            chunk.clear();
        }
    }
    chunk.extend_from_slice(b"0000");
    w.write_all(&chunk)
}

fn read_pkt(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let n = usize::from_str_radix(std::str::from_utf8(&len).unwrap_or("0"), 16).unwrap_or(0);
    if n < 4 {
        return Ok(None);
    }
    let mut data = vec![0; n - 4];
    r.read_exact(&mut data)?;
    Ok(Some(data))
}

impl HostileGitDaemon {
    /// In front of the real daemon on `upstream`.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let attack: Arc<Mutex<Option<GitAnswer>>> = Arc::new(Mutex::new(None));
        let a = attack.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { continue };
                let current = *a.lock().unwrap();
                std::thread::spawn(move || {
                    let _ = match current {
                        Some(answer) => Self::answer(sock, answer),
                        None => Self::pass(sock, upstream),
                    };
                });
            }
        });
        HostileGitDaemon { port, attack }
    }

    pub fn set(&self, answer: Option<GitAnswer>) {
        *self.attack.lock().unwrap() = answer;
    }

    fn pass(sock: TcpStream, upstream: u16) -> std::io::Result<()> {
        let up = TcpStream::connect(("127.0.0.1", upstream))?;
        let (mut a, mut b) = (sock.try_clone()?, up.try_clone()?);
        let t = std::thread::spawn(move || {
            let _ = std::io::copy(&mut a, &mut b);
            let _ = b.shutdown(std::net::Shutdown::Write);
        });
        let (mut up, mut sock) = (up, sock);
        let _ = std::io::copy(&mut up, &mut sock);
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = t.join();
        Ok(())
    }

    fn answer(mut sock: TcpStream, answer: GitAnswer) -> std::io::Result<()> {
        sock.set_read_timeout(Some(Duration::from_secs(30)))?;
        read_pkt(&mut sock)?; // git-upload-pack /repo\0host=..\0\0version=2\0
        match answer {
            GitAnswer::V0Refs(n) => {
                let mut w = std::io::BufWriter::new(&mut sock);
                write_refs(&mut w, n, "\0multi_ack side-band-64k ofs-delta shallow")?;
                w.flush()
            }
            GitAnswer::Trickle => {
                let mut refs = Vec::new();
                write_refs(&mut refs, 1, "\0multi_ack side-band-64k ofs-delta shallow")?;
                for byte in refs {
                    sock.write_all(&[byte])?;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Ok(())
            }
            GitAnswer::V2LsRefs(n) => {
                let mut caps = Vec::new();
                for l in ["version 2\n", "ls-refs\n", "fetch=shallow\n"] {
                    pkt(&mut caps, l);
                }
                caps.extend_from_slice(b"0000");
                sock.write_all(&caps)?;
                // The ls-refs command: its capabilities to the delimiter, its arguments to
                // the flush.
                while read_pkt(&mut sock)?.is_some() {}
                while read_pkt(&mut sock)?.is_some() {}
                let mut w = std::io::BufWriter::new(&mut sock);
                write_refs(&mut w, n, "")?;
                w.flush()
            }
        }
    }

    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/fleet.git", self.port)
    }
}

/// Answers a smart-HTTP request by running the real `git http-backend` (CGI) over the
/// repositories under `root` (the URL path is `/<repo>/...`).
pub fn git_cgi(root: &std::path::Path, req: &Seen) -> Reply {
    let exec = Command::new("git")
        .arg("--exec-path")
        .output()
        .unwrap()
        .stdout;
    let backend = PathBuf::from(String::from_utf8_lossy(&exec).trim()).join("git-http-backend");
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let mut cmd = Command::new(backend);
    cmd.env_clear()
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env(
            "CONTENT_TYPE",
            req.header("Content-Type").unwrap_or_default(),
        )
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env(
            "GIT_PROTOCOL",
            req.header("Git-Protocol").unwrap_or_default(),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = req.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output().unwrap().stdout;
    let _ = writer.join();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))
        .unwrap_or((out.len(), 0));
    let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
    let mut reply = Reply::new(200, "text/plain", out[split.0 + split.1..].to_vec());
    reply.headers.clear();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("Status") {
                reply.status = v.trim()[..3].parse().unwrap_or(500);
            } else {
                reply.headers.push((k.trim().into(), v.trim().into()));
            }
        }
    }
    reply
}
