//! Waiters on futex words that several processes share (a word in
//! MAP_SHARED memory, named by a key the kernel gives it: the same for
//! every process mapping it). One process waits on at most one word at a
//! time (one thread per process); waiters are woken in the order they
//! came. Private futexes never reach this table: only their own process
//! could wake them.

use alloc::vec::Vec;

use crate::Pid;

/// One process waiting on a shared word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub pid: Pid,
    pub key: u64,
    /// FUTEX_WAIT_BITSET's mask (all ones for FUTEX_WAIT).
    pub bitset: u32,
    /// What the waiter blocks until (the kernel wakes it by this).
    pub deadline_ns: u64,
}

/// Every waiter on a shared word, oldest first.
#[derive(Debug, Default)]
pub struct FutexWaiters {
    waiters: Vec<Waiter>,
}

impl FutexWaiters {
    pub const fn new() -> Self {
        FutexWaiters { waiters: Vec::new() }
    }

    /// `waiter.pid` waits on `waiter.key` (replacing anything older of it).
    pub fn wait(&mut self, waiter: Waiter) {
        self.remove(waiter.pid);
        self.waiters.push(waiter);
    }

    /// What `pid` waits on, if it still does (not woken yet).
    pub fn waiting(&self, pid: Pid) -> Option<Waiter> {
        self.waiters.iter().copied().find(|w| w.pid == pid)
    }

    /// `pid` stops waiting (timeout, signal, exit).
    pub fn remove(&mut self, pid: Pid) {
        self.waiters.retain(|w| w.pid != pid);
    }

    /// Takes out up to `count` waiters on `key` whose bitset meets
    /// `bitset`, oldest first: the ones to wake.
    pub fn wake(&mut self, key: u64, bitset: u32, count: usize) -> Vec<Waiter> {
        let mut woken = Vec::new();
        self.waiters.retain(|w| {
            if woken.len() < count && w.key == key && w.bitset & bitset != 0 {
                woken.push(*w);
                false
            } else {
                true
            }
        });
        woken
    }

    /// FUTEX_REQUEUE: wakes up to `wake` waiters on `from`, then moves up to
    /// `requeue` of the others to `to`. Returns the woken and the number moved.
    pub fn requeue(&mut self, from: u64, to: u64, wake: usize, requeue: usize) -> (Vec<Waiter>, usize) {
        let woken = self.wake(from, u32::MAX, wake);
        let mut moved = 0;
        for w in self.waiters.iter_mut().filter(|w| w.key == from) {
            if moved == requeue {
                break;
            }
            w.key = to;
            moved += 1;
        }
        (woken, moved)
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(pid: u32, key: u64) -> Waiter {
        Waiter { pid: Pid::new(pid), key, bitset: u32::MAX, deadline_ns: u64::MAX }
    }

    #[test]
    fn wake_takes_the_oldest_on_the_key() {
        let mut t = FutexWaiters::new();
        t.wait(waiter(2, 0x1000));
        t.wait(waiter(3, 0x2000));
        t.wait(waiter(4, 0x1000));
        t.wait(waiter(5, 0x1000));
        let woken: Vec<u32> = t.wake(0x1000, u32::MAX, 2).iter().map(|w| w.pid.as_u32()).collect();
        assert_eq!(woken, [2, 4]);
        assert_eq!(t.waiting(Pid::new(2)), None, "woken: no longer waiting");
        assert!(t.waiting(Pid::new(5)).is_some());
        assert_eq!(t.wake(0x3000, u32::MAX, 10), []);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn bitsets_and_one_wait_per_process() {
        let mut t = FutexWaiters::new();
        t.wait(Waiter { bitset: 0b01, ..waiter(2, 8) });
        t.wait(Waiter { bitset: 0b10, ..waiter(3, 8) });
        assert_eq!(t.wake(8, 0b10, 5).len(), 1);
        assert!(t.waiting(Pid::new(2)).is_some());
        // A new wait of the same process replaces its old one.
        t.wait(waiter(2, 16));
        assert_eq!(t.len(), 1);
        assert_eq!(t.waiting(Pid::new(2)).map(|w| w.key), Some(16));
        t.remove(Pid::new(2));
        assert!(t.is_empty());
    }

    #[test]
    fn requeue_wakes_then_moves() {
        let mut t = FutexWaiters::new();
        for pid in 2..7 {
            t.wait(waiter(pid, 1));
        }
        let (woken, moved) = t.requeue(1, 2, 1, 2);
        assert_eq!(woken.len(), 1);
        assert_eq!(moved, 2);
        assert_eq!(t.wake(2, u32::MAX, 10).len(), 2);
        assert_eq!(t.wake(1, u32::MAX, 10).len(), 2);
    }
}
