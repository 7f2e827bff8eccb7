//! Address resolution for the Kubernetes client: an API server named by IP address (k3s
//! writes `https://127.0.0.1:6443` into its kubeconfig) needs no lookup. ureq's default
//! resolver runs on every request, pooled connection or not, and with a timeout set (the
//! client's 30 s) it spawns a thread for each lookup: one thread per request, 1000 for a
//! 1000-object sync. Host names still go to ureq's resolver, unchanged.

use std::net::{IpAddr, SocketAddr};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// An agent with ureq's connector and [`IpFirst`] as its resolver.
pub fn agent(config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(config, DefaultConnector::new(), IpFirst::default())
}

/// IP-address hosts answered at once; names resolved by ureq's [`DefaultResolver`].
#[derive(Debug, Default)]
pub struct IpFirst(DefaultResolver);

/// The address of `host` (`127.0.0.1`, `[::1]`) when it is an IP address.
fn ip_of(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

impl Resolver for IpFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let default_port = match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        };
        match uri.host().and_then(ip_of) {
            Some(ip) => {
                let mut out = self.empty();
                out.push(SocketAddr::new(ip, uri.port_u16().unwrap_or(default_port)));
                Ok(out)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_hosts_need_no_lookup_and_names_still_resolve() {
        let r = IpFirst::default();
        let config = ureq::config::Config::default();
        let resolve = |u: &str| {
            let uri: ureq::http::Uri = u.parse().unwrap();
            r.resolve(&uri, &config, NextTimeout::default())
                .map(|a| a.iter().copied().collect::<Vec<_>>())
        };
        let want = |s: &str| vec![s.parse::<SocketAddr>().unwrap()];
        assert_eq!(
            resolve("https://127.0.0.1:6443/api").unwrap(),
            want("127.0.0.1:6443")
        );
        assert_eq!(resolve("https://[::1]:8443/").unwrap(), want("[::1]:8443"));
        assert_eq!(resolve("https://10.0.0.1/").unwrap(), want("10.0.0.1:443"));
        assert!(resolve("https://localhost:6443/")
            .unwrap()
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 6443));
    }
}
