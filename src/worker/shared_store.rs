//! A connection a worker's threads share (the main loop's, and the executors' writes'
//! when they have their own: [`super::ExecutorContext::writes`]). Its lock can be waited for
//! until a deadline (a result write must give up when its lease runs out) without spinning:
//! whether it is held is a flag under a mutex, and every release wakes the parked waiters
//! through a condition variable; a waiter wakes at a release or at its deadline.

use crate::store::Store;
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The worker's shared connection.
pub type SharedStore = Shared<Store>;

/// A value shared between threads, locked with [`Shared::lock`] or, bounded,
/// [`Shared::lock_before`]. A thread that panicked while holding it leaves the value as it was
/// (the next holder uses it; a broken connection is reopened as usual).
pub struct Shared<T> {
    store: Mutex<T>,
    held: Mutex<bool>,
    released: Condvar,
}

/// The value, held until this is dropped.
pub struct StoreGuard<'a, T = Store> {
    owner: &'a Shared<T>,
    store: Option<MutexGuard<'a, T>>,
}

impl<T> Shared<T> {
    pub fn new(store: T) -> Shared<T> {
        Shared {
            store: Mutex::new(store),
            held: Mutex::new(false),
            released: Condvar::new(),
        }
    }

    /// The store, waited for as long as it takes.
    pub fn lock(&self) -> StoreGuard<'_, T> {
        self.wait(None)
            .expect("without a deadline the wait ends only with the lock")
    }

    /// The store, waited for until `deadline` at most (None: the deadline passed while another
    /// thread held it). Without a deadline, waits as long as it takes.
    pub fn lock_before(&self, deadline: Option<Instant>) -> Option<StoreGuard<'_, T>> {
        self.wait(deadline)
    }

    fn wait(&self, deadline: Option<Instant>) -> Option<StoreGuard<'_, T>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        while *held {
            held = match deadline {
                None => self
                    .released
                    .wait(held)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    let (held, _) = self
                        .released
                        .wait_timeout(held, left)
                        .unwrap_or_else(PoisonError::into_inner);
                    held
                }
            };
        }
        *held = true;
        drop(held);
        // Only the holder of the flag locks the store: this never waits for long (at most for
        // the previous holder's guard to finish dropping).
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        Some(StoreGuard {
            owner: self,
            store: Some(store),
        })
    }
}

impl<T> Drop for StoreGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.store.take());
        let mut held = self
            .owner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *held = false;
        drop(held);
        // Every waiter, not one: one whose deadline passes as it wakes would leave the others
        // parked beside a free lock.
        self.owner.released.notify_all();
    }
}

impl<T> Deref for StoreGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.store.as_deref().expect("taken only when dropped")
    }
}

impl<T> DerefMut for StoreGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.store.as_deref_mut().expect("taken only when dropped")
    }
}

#[cfg(test)]
mod tests {
    use super::Shared;
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    #[test]
    fn a_bounded_wait_gives_up_at_its_deadline_and_takes_a_free_lock_after_it() {
        let shared = Shared::new(0u32);
        let held = shared.lock();
        let past = Instant::now();
        assert!(shared.lock_before(Some(past)).is_none());
        let began = Instant::now();
        assert!(shared
            .lock_before(Some(began + Duration::from_millis(50)))
            .is_none());
        assert!(began.elapsed() >= Duration::from_millis(50));
        drop(held);
        // Free: taken even though the deadline has passed (as the write it guards decides).
        assert!(shared.lock_before(Some(past)).is_some());
    }

    #[test]
    fn waiters_wake_at_the_release_and_each_gets_the_lock_in_turn() {
        let shared = Arc::new(Shared::new(0u32));
        let held = shared.lock();
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (shared, tx) = (Arc::clone(&shared), tx.clone());
                std::thread::spawn(move || {
                    let far = Instant::now() + Duration::from_secs(60);
                    // Half wait without a deadline, half with one far away.
                    let mut g = if i % 2 == 0 {
                        shared.lock()
                    } else {
                        shared.lock_before(Some(far)).expect("released in time")
                    };
                    *g += 1;
                    tx.send(*g).unwrap();
                })
            })
            .collect();
        // A waiter whose deadline passes meanwhile leaves the others waiting for the lock.
        assert!(shared
            .lock_before(Some(Instant::now() + Duration::from_millis(20)))
            .is_none());
        assert!(rx.try_recv().is_err(), "no waiter may hold it yet");
        drop(held);
        let mut seen: Vec<u32> = (0..4)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, [1, 2, 3, 4]);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*shared.lock(), 4);
    }
}
