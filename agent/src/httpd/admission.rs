//! Which connections the bounded server keeps: a pure table of the connections it holds, per
//! client, with the phase each is in. A new connection is admitted within two caps (all
//! connections, and connections per client address), and idle connections are the reserve:
//! when a cap is reached, the connection that has waited longest for its request head (of the
//! client holding the most connections) is closed to make room. Connections that are being
//! answered are never closed for another, so a flood of silent connections, from one address
//! or many, cannot keep a neighbour or containerd from being served; a flood of requests is
//! bounded by the caps and by each answer's deadline.

use std::net::IpAddr;

/// Who a connection comes from, for the per-client cap: an IPv4 address, or the /64 of an
/// IPv6 address (one host usually holds a whole /64). IPv4-mapped IPv6 counts as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl ClientKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(u32::from(v4) as u128),
                None => ClientKey((u128::from(v6) >> 64 << 64) | (1 << 32)),
            },
        }
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its request head: may be closed to admit another.
    Head,
    /// Its request arrived and is being answered: kept until done or past its deadline.
    Answering,
}

/// The decision for a new connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit<H> {
    /// Admitted as `id`; `evicted` (an idle connection's handle) must be closed by the caller.
    Yes { id: u64, evicted: Option<H> },
    /// Every slot it could take is answering: refuse it (`503`).
    Full,
}

struct Entry<H> {
    id: u64,
    client: ClientKey,
    phase: Phase,
    handle: H,
}

/// The connections held, oldest first.
pub struct Table<H> {
    max_total: usize,
    max_per_client: usize,
    entries: Vec<Entry<H>>,
    next_id: u64,
}

impl<H> Table<H> {
    /// A table for at most `max_total` connections, `max_per_client` from one client (both at
    /// least 1).
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        Table {
            max_total: max_total.max(1),
            max_per_client: max_per_client.clamp(1, max_total.max(1)),
            entries: Vec::new(),
            next_id: 0,
        }
    }

    fn held_by(&self, client: ClientKey) -> usize {
        self.entries.iter().filter(|e| e.client == client).count()
    }

    /// The oldest idle connection of `client`, or (with `None`) of the client holding most.
    fn victim(&self, client: Option<ClientKey>) -> Option<usize> {
        let idle = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.phase == Phase::Head);
        match client {
            Some(c) => idle.filter(|(_, e)| e.client == c).map(|(i, _)| i).next(),
            // max_by_key keeps the last maximum: compare (count, -index) to prefer the oldest.
            None => idle
                .max_by_key(|(i, e)| (self.held_by(e.client), usize::MAX - i))
                .map(|(i, _)| i),
        }
    }

    /// Admits a connection from `client` (see the module docs).
    pub fn admit(&mut self, client: ClientKey, handle: H) -> Admit<H> {
        let victim = if self.held_by(client) >= self.max_per_client {
            match self.victim(Some(client)) {
                Some(i) => Some(i),
                None => return Admit::Full,
            }
        } else if self.entries.len() >= self.max_total {
            match self.victim(None) {
                Some(i) => Some(i),
                None => return Admit::Full,
            }
        } else {
            None
        };
        let evicted = victim.map(|i| self.entries.remove(i).handle);
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push(Entry {
            id,
            client,
            phase: Phase::Head,
            handle,
        });
        Admit::Yes { id, evicted }
    }

    /// Marks `id` as answering; false if it was closed to make room meanwhile.
    pub fn answering(&mut self, id: u64) -> bool {
        match self.entries.iter_mut().find(|e| e.id == id) {
            Some(e) => {
                e.phase = Phase::Answering;
                true
            }
            None => false,
        }
    }

    /// Forgets `id` (done, or never started); a no-op for an evicted connection.
    pub fn leave(&mut self, id: u64) {
        self.entries.retain(|e| e.id != id);
    }

    /// Connections held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(last: u8) -> ClientKey {
        ClientKey::of(IpAddr::from([10, 0, 0, last]))
    }

    fn id<H>(a: Admit<H>) -> (u64, Option<H>) {
        match a {
            Admit::Yes { id, evicted } => (id, evicted),
            Admit::Full => panic!("refused"),
        }
    }

    #[test]
    fn a_client_at_its_cap_replaces_its_own_oldest_idle_connection() {
        let mut t = Table::new(8, 2);
        let a = key(1);
        assert_eq!(id(t.admit(a, "a0")), (0, None));
        assert_eq!(id(t.admit(a, "a1")), (1, None));
        // A third from the same client: its own oldest idle one goes.
        assert_eq!(id(t.admit(a, "a2")), (2, Some("a0")));
        // Both answering: nothing to replace, refused.
        assert!(t.answering(1) && t.answering(2));
        assert_eq!(t.admit(a, "a3"), Admit::Full);
        // Another client is not affected.
        assert_eq!(id(t.admit(key(2), "b0")), (3, None));
        t.leave(1);
        assert_eq!(id(t.admit(a, "a4")), (4, None));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn a_full_table_closes_the_heaviest_clients_oldest_idle_connection() {
        let mut t = Table::new(4, 3);
        let (a, b, c) = (key(1), key(2), key(3));
        id(t.admit(b, "b0"));
        id(t.admit(a, "a0"));
        id(t.admit(a, "a1"));
        id(t.admit(a, "a2"));
        // Full: a holds most, its oldest idle one makes room for c.
        assert_eq!(id(t.admit(c, "c0")).1, Some("a0"));
        // Only answering connections left to a: b's idle one is next.
        assert!(t.answering(2) && t.answering(3));
        assert!(t.answering(4));
        assert_eq!(id(t.admit(c, "c1")).1, Some("b0"));
        // Everything answering: refused.
        assert!(t.answering(5));
        assert_eq!(t.admit(key(4), "d0"), Admit::Full);
        // An evicted connection that finishes later changes nothing.
        assert!(!t.answering(0));
        t.leave(0);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn ipv6_clients_count_by_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), key(1));
        assert_ne!(ClientKey::of("::1".parse().unwrap()), key(1));
    }
}
