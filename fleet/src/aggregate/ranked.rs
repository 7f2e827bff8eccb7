//! Counts kept in rank order (pure): a count per key and the keys ordered by count, most first,
//! both updated in O(log n) per change, so "the top N" never scans every key.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// A count per key, ranked.
#[derive(Debug, Clone)]
pub struct Ranked<K: Ord + Hash + Clone> {
    counts: HashMap<K, usize>,
    order: BTreeSet<(Reverse<usize>, K)>,
}

impl<K: Ord + Hash + Clone> Default for Ranked<K> {
    fn default() -> Self {
        Ranked {
            counts: HashMap::new(),
            order: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Ranked<K> {
    /// Adds one (`up`) or takes one away; a key whose count reaches 0 is forgotten.
    pub fn bump(&mut self, key: &K, up: bool) {
        let old = self.counts.get(key).copied().unwrap_or(0);
        let new = if up { old + 1 } else { old.saturating_sub(1) };
        if old > 0 {
            self.order.remove(&(Reverse(old), key.clone()));
        }
        if new > 0 {
            self.order.insert((Reverse(new), key.clone()));
            self.counts.insert(key.clone(), new);
        } else {
            self.counts.remove(key);
        }
    }

    pub fn get(&self, key: &K) -> usize {
        self.counts.get(key).copied().unwrap_or(0)
    }

    /// Keys by count, most first (ties by key).
    pub fn top(&self) -> impl Iterator<Item = (&K, usize)> {
        self.order.iter().map(|(Reverse(n), k)| (k, *n))
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_counts_and_zero_forgets() {
        let mut r: Ranked<&str> = Ranked::default();
        for k in ["a", "b", "b", "c", "c", "c"] {
            r.bump(&k, true);
        }
        assert_eq!(
            r.top().map(|(k, n)| (*k, n)).collect::<Vec<_>>(),
            [("c", 3), ("b", 2), ("a", 1)]
        );
        r.bump(&"a", false);
        r.bump(&"a", false);
        assert_eq!((r.len(), r.get(&"a")), (2, 0));
    }
}
