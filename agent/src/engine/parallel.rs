//! Bounded fan-out (executor helper): a function over a slice on at most `workers` scoped
//! threads (each request on a pooled connection of its own), results in the slice's order.
//! After the first error no further item is started; items in flight finish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `f` over `items`, `workers` at a time (1: in order on this thread). Returns the
/// results of the items that ran, by index, in index order: all of them unless one failed.
pub fn map_bounded<T, R, E, F>(items: &[T], workers: usize, f: F) -> Vec<(usize, Result<R, E>)>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync,
{
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let r = f(item);
            let failed = r.is_err();
            out.push((i, r));
            if failed {
                break;
            }
        }
        return out;
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                let failed = r.is_err();
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, r));
                if failed {
                    next.store(items.len(), Ordering::SeqCst);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn results_come_back_in_order_and_every_item_runs_once() {
        let items: Vec<u32> = (0..100).collect();
        for workers in [1, 4, 200] {
            let seen = Mutex::new(BTreeSet::new());
            let out = map_bounded(&items, workers, |x| {
                assert!(seen.lock().unwrap().insert(*x), "{x} ran twice");
                Ok::<_, ()>(x * 2)
            });
            let got: Vec<(usize, u32)> = out.into_iter().map(|(i, r)| (i, r.unwrap())).collect();
            let want: Vec<(usize, u32)> = (0..100).map(|i| (i as usize, i * 2)).collect();
            assert_eq!(got, want, "{workers} workers");
        }
    }

    #[test]
    fn no_item_starts_after_an_error() {
        let items: Vec<u32> = (0..1000).collect();
        for workers in [1, 4] {
            let out = map_bounded(&items, workers, |x| if *x == 10 { Err(*x) } else { Ok(*x) });
            assert!(out.iter().any(|(_, r)| r == &Err(10)), "{workers}");
            // At most the items in flight when 10 failed ran after it.
            assert!(
                out.len() <= 11 + workers,
                "{workers} workers: {} ran",
                out.len()
            );
        }
        assert!(map_bounded(&[] as &[u32], 4, |x| Ok::<_, ()>(*x)).is_empty());
    }
}
