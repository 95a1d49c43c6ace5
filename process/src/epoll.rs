//! An epoll instance's interest list: which files it watches for which
//! events, with the `epoll_ctl` errors of Linux and the ready list that
//! `epoll_wait` returns. Readiness itself comes from the kernel.
//!
//! Edge-triggered entries (EPOLLET) are reported like level-triggered ones:
//! a program written for edge triggering reads until EAGAIN, so the extra
//! reports cost a wake-up, never a lost event. EPOLLONESHOT disables an
//! entry after one report until EPOLL_CTL_MOD re-arms it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use syscall::Errno;
use syscall::net::{EPOLLERR, EPOLLHUP, EPOLLONESHOT, EpollEvent};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interest {
    events: u32,
    data: u64,
    armed: bool,
}

/// The interest list, keyed by whatever names a watched file (the kernel
/// uses descriptor number and open-file identity, as Linux does).
#[derive(Debug)]
pub struct Interests<K: Ord + Clone> {
    entries: BTreeMap<K, Interest>,
}

impl<K: Ord + Clone> Default for Interests<K> {
    fn default() -> Self {
        Interests { entries: BTreeMap::new() }
    }
}

impl<K: Ord + Clone> Interests<K> {
    pub fn add(&mut self, key: K, event: EpollEvent) -> Result<(), Errno> {
        if self.entries.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        self.entries.insert(key, Interest { events: event.events, data: event.data, armed: true });
        Ok(())
    }

    pub fn modify(&mut self, key: &K, event: EpollEvent) -> Result<(), Errno> {
        let entry = self.entries.get_mut(key).ok_or(Errno::ENOENT)?;
        *entry = Interest { events: event.events, data: event.data, armed: true };
        Ok(())
    }

    pub fn delete(&mut self, key: &K) -> Result<(), Errno> {
        self.entries.remove(key).map(|_| ()).ok_or(Errno::ENOENT)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any armed entry has an event now (poll on the epoll file
    /// itself); consumes nothing.
    pub fn any_ready(&self, mut revents: impl FnMut(&K, u32) -> Option<u32>) -> bool {
        self.entries.iter().any(|(key, interest)| {
            let wanted = interest.events | EPOLLERR | EPOLLHUP;
            interest.armed && revents(key, wanted).is_some_and(|now| now & wanted != 0)
        })
    }

    /// The events that hold now, at most `max`: `revents(key, wanted)` gives
    /// a file's current events, or `None` when the file is gone (its entry
    /// is dropped, as Linux drops it when the last descriptor closes).
    /// Errors and hang-ups are always reported.
    pub fn ready(&mut self, max: usize, mut revents: impl FnMut(&K, u32) -> Option<u32>) -> Vec<EpollEvent> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (key, interest) in self.entries.iter_mut() {
            if out.len() >= max {
                break;
            }
            if !interest.armed {
                continue;
            }
            let wanted = interest.events | EPOLLERR | EPOLLHUP;
            let Some(now) = revents(key, wanted) else {
                gone.push(key.clone());
                continue;
            };
            let got = now & wanted;
            if got != 0 {
                out.push(EpollEvent { events: got, data: interest.data });
                if interest.events & EPOLLONESHOT != 0 {
                    interest.armed = false;
                }
            }
        }
        for key in gone {
            self.entries.remove(&key);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syscall::net::{EPOLLIN, EPOLLOUT};

    fn ev(events: u32, data: u64) -> EpollEvent {
        EpollEvent { events, data }
    }

    #[test]
    fn ctl_errors_follow_linux() {
        let mut i = Interests::default();
        assert_eq!(i.add(3, ev(EPOLLIN, 1)), Ok(()));
        assert_eq!(i.add(3, ev(EPOLLIN, 1)), Err(Errno::EEXIST));
        assert_eq!(i.modify(&4, ev(EPOLLIN, 1)), Err(Errno::ENOENT));
        assert_eq!(i.delete(&4), Err(Errno::ENOENT));
        assert_eq!(i.delete(&3), Ok(()));
        assert!(i.is_empty());
    }

    #[test]
    fn ready_masks_reports_errors_and_drops_gone_files() {
        let mut i = Interests::default();
        i.add(1, ev(EPOLLIN, 10)).unwrap();
        i.add(2, ev(EPOLLOUT, 20)).unwrap();
        i.add(3, ev(EPOLLIN, 30)).unwrap();
        let got = i.ready(8, |k, _| match k {
            1 => Some(EPOLLOUT),
            2 => Some(EPOLLOUT | EPOLLHUP),
            _ => None,
        });
        assert_eq!(got, [ev(EPOLLOUT | EPOLLHUP, 20)]);
        assert_eq!(i.len(), 2);
        assert_eq!(i.ready(1, |_, _| Some(EPOLLIN | EPOLLOUT)).len(), 1);
        assert!(i.any_ready(|_, _| Some(EPOLLIN)));
        assert!(!i.any_ready(|_, _| Some(0)));
    }

    #[test]
    fn oneshot_fires_once_until_modified() {
        let mut i = Interests::default();
        i.add(1, ev(EPOLLIN | EPOLLONESHOT, 7)).unwrap();
        assert_eq!(i.ready(8, |_, _| Some(EPOLLIN)).len(), 1);
        assert!(i.ready(8, |_, _| Some(EPOLLIN)).is_empty());
        i.modify(&1, ev(EPOLLIN | EPOLLONESHOT, 8)).unwrap();
        assert_eq!(i.ready(8, |_, _| Some(EPOLLIN)), [ev(EPOLLIN, 8)]);
    }
}
