//! A counting TCP proxy on loopback: forwards every connection to one upstream address and
//! counts connections and bytes each way, so tests and the benchmark can see what a poll costs
//! on the wire (TLS records included) and whether connections are reused. [`CountingProxy::cut`]
//! drops every open connection, as a NAT or a restarted middlebox would.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What went through the proxy so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCount {
    pub connections: u64,
    /// Client to server.
    pub bytes_up: u64,
    /// Server to client.
    pub bytes_down: u64,
    /// Connections whose server-to-client direction has ended (the server closed it, or `cut`).
    pub ended: u64,
}

impl WireCount {
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
    /// Both sockets of every connection still open (for `cut`).
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
    /// While set, new connections are closed at once, unforwarded and uncounted (an outage).
    refusing: std::sync::atomic::AtomicBool,
    /// Number of ended connections, with a condition to wait on.
    ended: Mutex<u64>,
    ended_changed: std::sync::Condvar,
}

/// A running proxy (threads end with the process).
pub struct CountingProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if c.refusing.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                c.connections.fetch_add(1, Ordering::SeqCst);
                if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
                    c.open
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((a, b));
                }
                pipe(&client, &server, c.clone(), true);
                pipe(&server, &client, c.clone(), false);
            }
        });
        Ok(CountingProxy { addr, counters })
    }

    /// A proxy in front of the `host:port` of `url` (`scheme://host:port/...`).
    pub fn for_url(url: &str) -> std::io::Result<Self> {
        use std::net::ToSocketAddrs;
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let hostport = rest.split('/').next().unwrap_or(rest);
        let addr = hostport.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the upstream")
        })?;
        Self::start(addr)
    }

    /// `url` with its port replaced by the proxy's (same host name, so TLS names still match).
    pub fn url_through(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
        format!("{scheme}://{host}:{}/{path}", self.addr.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection open now, both ways (the client sees its connection end, the
    /// server its client go away); later connections are forwarded as before.
    pub fn cut(&self) {
        let open =
            std::mem::take(&mut *self.counters.open.lock().unwrap_or_else(|p| p.into_inner()));
        for (client, server) in open {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    /// While `refusing`, closes new connections as soon as they are accepted (the upstream
    /// looks down); open ones are left alone.
    pub fn set_refusing(&self, refusing: bool) {
        self.counters.refusing.store(refusing, Ordering::SeqCst);
    }

    pub fn count(&self) -> WireCount {
        WireCount {
            connections: self.counters.connections.load(Ordering::SeqCst),
            bytes_up: self.counters.up.load(Ordering::SeqCst),
            bytes_down: self.counters.down.load(Ordering::SeqCst),
            ended: *self
                .counters
                .ended
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Blocks until `n` connections have ended (see [`WireCount::ended`]) or `deadline` passed;
    /// returns whether they had.
    pub fn wait_ended(&self, n: u64, deadline: std::time::Duration) -> bool {
        let guard = self
            .counters
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .counters
            .ended_changed
            .wait_timeout_while(guard, deadline, |ended| *ended < n)
            .unwrap_or_else(|p| p.into_inner());
        *guard >= n
    }
}

fn pipe(from: &TcpStream, to: &TcpStream, counters: Arc<Counters>, up: bool) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let counter = if up { &counters.up } else { &counters.down };
            counter.fetch_add(n as u64, Ordering::SeqCst);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        if !up {
            *counters.ended.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            counters.ended_changed.notify_all();
        }
    });
}
