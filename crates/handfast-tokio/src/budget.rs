//! The pre-authentication budget. Connections that have not yet authenticated have a budget of
//! their own, apart from sessions, so strangers can never hold the slots of authenticated
//! peers; and when it is full, the *oldest* unauthenticated connection is dropped to make room,
//! never the new one: an honest handshake takes milliseconds, a silent stranger holds on until
//! its deadline. One source address may hold only its share, and past it loses its own oldest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Unauthenticated connections held at once, overall and per source address. Admit each
/// connection as it is accepted, hold the [`Ticket`] through its handshake, and drop the
/// connection when [`Ticket::evicted`] resolves.
pub struct Budget {
    max: usize,
    per_source: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Every held connection by age (admission order): its source and its eviction signal.
    by_age: BTreeMap<u64, (IpAddr, oneshot::Sender<Eviction>)>,
    by_source: HashMap<IpAddr, BTreeSet<u64>>,
}

/// Why a connection was dropped before it authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// The overall budget (of this many connections) was full.
    Full(usize),
    /// Its source address held its whole share (of this many).
    SourceFull(usize),
}

impl std::fmt::Display for Eviction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(n) => write!(
                f,
                "dropped before authentication: the oldest of {n} unauthenticated connections (max_handshakes)"
            ),
            Self::SourceFull(n) => write!(
                f,
                "dropped before authentication: the oldest of {n} unauthenticated connections from its address (max_handshakes_per_source)"
            ),
        }
    }
}

/// A held place in the budget; released when dropped.
pub struct Ticket {
    budget: Arc<Budget>,
    id: u64,
    evicted: oneshot::Receiver<Eviction>,
}

impl Budget {
    /// A budget of `max` connections, at most `per_source` of them from one address (both at
    /// least 1).
    pub fn new(max: usize, per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            per_source: per_source.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Admits a new connection from `source`, evicting the oldest held one of that source if
    /// it is at its share, or else the oldest overall if the budget is full.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Ticket {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        let from_source = inner.by_source.get(&source).map_or(0, BTreeSet::len);
        let victim = if from_source >= self.per_source {
            inner
                .by_source
                .get(&source)
                .and_then(|ids| ids.first().copied())
                .map(|id| (id, Eviction::SourceFull(self.per_source)))
        } else if inner.by_age.len() >= self.max {
            inner
                .by_age
                .keys()
                .next()
                .copied()
                .map(|id| (id, Eviction::Full(self.max)))
        } else {
            None
        };
        if let Some((id, why)) = victim
            && let Some(signal) = inner.remove(id)
        {
            let _ = signal.send(why);
        }
        let id = inner.next;
        inner.next += 1;
        inner.by_age.insert(id, (source, tx));
        inner.by_source.entry(source).or_default().insert(id);
        drop(inner);
        Ticket {
            budget: self.clone(),
            id,
            evicted: rx,
        }
    }

    /// Drops the oldest held connection to free its resources (when `accept` fails for want
    /// of file descriptors, say, strangers must not keep callers out). Returns whether there
    /// was one.
    pub fn evict_oldest(&self) -> bool {
        let mut inner = self.lock();
        let Some(id) = inner.by_age.keys().next().copied() else {
            return false;
        };
        if let Some(signal) = inner.remove(id) {
            let _ = signal.send(Eviction::Full(self.max));
        }
        true
    }

    /// Connections held now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.lock().by_age.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The lock is held only for map updates that cannot panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What to do after `accept` failed: resource exhaustion (out of file descriptors or memory)
/// calls for freeing a held connection and pausing; anything else (a connection aborted before
/// it was accepted) is that connection's problem, and accepting goes on at once.
pub fn accept_error_is_exhaustion(e: &std::io::Error) -> bool {
    // ENOMEM, ENFILE and EMFILE are 12, 23 and 24 on Linux and the BSDs alike; ENOBUFS is not.
    const ENOBUFS: i32 = if cfg!(target_os = "linux") { 105 } else { 55 };
    matches!(e.raw_os_error(), Some(code) if [12, 23, 24, ENOBUFS].contains(&code))
        || e.kind() == std::io::ErrorKind::OutOfMemory
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<oneshot::Sender<Eviction>> {
        let (source, signal) = self.by_age.remove(&id)?;
        if let Some(ids) = self.by_source.get_mut(&source) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_source.remove(&source);
            }
        }
        Some(signal)
    }
}

impl Ticket {
    /// Resolves when this connection is evicted to make room.
    pub async fn evicted(&mut self) -> Eviction {
        match (&mut self.evicted).await {
            Ok(why) => why,
            // The sender lives in the budget until this ticket is dropped or evicted, so a
            // closed channel means eviction whose reason was lost.
            Err(_) => Eviction::Full(self.budget.max),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = self.budget.lock().remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[tokio::test]
    async fn the_oldest_goes_first_and_a_source_loses_its_own() {
        let budget = Budget::new(3, 2);
        let mut a = budget.admit(ip(2));
        let mut b = budget.admit(ip(2));
        // Source 2 is at its share: its oldest (a) goes, not c and not anyone else's.
        let mut c = budget.admit(ip(2));
        assert_eq!(a.evicted().await, Eviction::SourceFull(2));
        assert_eq!(budget.held(), 2);
        let d = budget.admit(ip(3));
        assert_eq!(budget.held(), 3);
        // Full: the oldest overall (b) goes.
        let e = budget.admit(ip(4));
        assert_eq!(b.evicted().await, Eviction::Full(3));
        assert_eq!(budget.held(), 3);
        // A finished handshake gives its place back without evicting anyone.
        drop(d);
        assert_eq!(budget.held(), 2);
        let _f = budget.admit(ip(5));
        assert_eq!(budget.held(), 3);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(10), c.evicted())
                .await
                .is_err(),
            "c was not evicted"
        );
        // Out of descriptors: the oldest (c) is dropped on demand.
        assert!(budget.evict_oldest());
        assert_eq!(c.evicted().await, Eviction::Full(3));
        assert_eq!(budget.held(), 2);
        drop((e, _f));
        assert!(!budget.evict_oldest());
    }
}
