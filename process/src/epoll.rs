//! An epoll instance's interest list: which files it watches for which
//! events, with the `epoll_ctl` errors of Linux and the ready list that
//! `epoll_wait` returns. Readiness itself comes from the kernel.
//!
//! Edge-triggered entries (EPOLLET) report a file only when something
//! happened to it since their last report: the kernel gives each file's
//! readiness with a generation that changes at every event (bytes in or
//! out, an end closed, a connection), where Linux reports at every wake-up
//! of the file's wait queue. A file the kernel cannot follow that closely
//! gets a new generation at every look, which is level triggering (a
//! superset: a program written for edge triggering reads until EAGAIN).
//! EPOLLONESHOT disables an entry after one report until EPOLL_CTL_MOD
//! re-arms it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use syscall::Errno;
use syscall::net::{EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EpollEvent};

/// EPOLLWAKEUP (taken, changes nothing here).
const EPOLLWAKEUP: u32 = 1 << 29;
/// The events an EPOLLEXCLUSIVE entry may ask for (Linux's EPOLLEXCLUSIVE_OK_BITS).
const EXCLUSIVE_OK: u32 = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interest {
    events: u32,
    data: u64,
    armed: bool,
    /// EPOLLET: the file's generation at the last report.
    reported: Option<u64>,
}

/// A watched file's events now and its generation (see the module note).
pub type Readiness = (u32, u64);

impl Interest {
    fn new(event: EpollEvent) -> Interest {
        Interest { events: event.events, data: event.data, armed: true, reported: None }
    }

    /// What to report of `now`: the wanted events, unless edge-triggered
    /// and nothing happened since the last report.
    fn due(&self, (events, generation): Readiness) -> u32 {
        let got = events & (self.events | EPOLLERR | EPOLLHUP);
        if !self.armed || (self.events & EPOLLET != 0 && self.reported == Some(generation)) { 0 } else { got }
    }
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
        if event.events & EPOLLEXCLUSIVE != 0 && event.events & !EXCLUSIVE_OK != 0 {
            return Err(Errno::EINVAL);
        }
        if self.entries.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        self.entries.insert(key, Interest::new(event));
        Ok(())
    }

    /// EPOLL_CTL_MOD: EINVAL for EPOLLEXCLUSIVE, asked now or given at
    /// EPOLL_CTL_ADD (Linux allows it only there).
    pub fn modify(&mut self, key: &K, event: EpollEvent) -> Result<(), Errno> {
        if event.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        let entry = self.entries.get_mut(key).ok_or(Errno::ENOENT)?;
        if entry.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        *entry = Interest::new(event);
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
    pub fn any_ready(&self, mut revents: impl FnMut(&K, u32) -> Option<Readiness>) -> bool {
        self.entries.iter().any(|(key, interest)| {
            let wanted = interest.events | EPOLLERR | EPOLLHUP;
            interest.armed && revents(key, wanted).is_some_and(|now| interest.due(now) != 0)
        })
    }

    /// The events that hold now, at most `max`: `revents(key, wanted)` gives
    /// a file's current events, or `None` when the file is gone (its entry
    /// is dropped, as Linux drops it when the last descriptor closes).
    /// Errors and hang-ups are always reported.
    pub fn ready(&mut self, max: usize, mut revents: impl FnMut(&K, u32) -> Option<Readiness>) -> Vec<EpollEvent> {
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
            let got = interest.due(now);
            if got != 0 {
                interest.reported = Some(now.1);
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
            1 => Some((EPOLLOUT, 0)),
            2 => Some((EPOLLOUT | EPOLLHUP, 0)),
            _ => None,
        });
        assert_eq!(got, [ev(EPOLLOUT | EPOLLHUP, 20)]);
        assert_eq!(i.len(), 2);
        assert_eq!(i.ready(1, |_, _| Some((EPOLLIN | EPOLLOUT, 0))).len(), 1);
        assert!(i.any_ready(|_, _| Some((EPOLLIN, 0))));
        assert!(!i.any_ready(|_, _| Some((0, 0))));
    }

    #[test]
    fn oneshot_fires_once_until_modified() {
        let mut i = Interests::default();
        i.add(1, ev(EPOLLIN | EPOLLONESHOT, 7)).unwrap();
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN, 0))).len(), 1);
        assert!(i.ready(8, |_, _| Some((EPOLLIN, 0))).is_empty());
        i.modify(&1, ev(EPOLLIN | EPOLLONESHOT, 8)).unwrap();
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN, 0))), [ev(EPOLLIN, 8)]);
    }

    #[test]
    fn edge_triggered_reports_each_new_event_once() {
        let mut i = Interests::default();
        i.add(1, ev(EPOLLIN | EPOLLOUT | EPOLLET, 5)).unwrap();
        // Ready when added: reported once.
        assert_eq!(i.ready(8, |_, _| Some((EPOLLOUT, 1))), [ev(EPOLLOUT, 5)]);
        // Still writable, nothing happened: nothing (an idle keep-alive
        // connection must not wake its server at every epoll_wait).
        assert!(i.ready(8, |_, _| Some((EPOLLOUT, 1))).is_empty());
        assert!(!i.any_ready(|_, _| Some((EPOLLOUT, 1))));
        // Data came: reported, with everything that holds.
        assert!(i.any_ready(|_, _| Some((EPOLLIN | EPOLLOUT, 2))));
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN | EPOLLOUT, 2))), [ev(EPOLLIN | EPOLLOUT, 5)]);
        // Not drained, nothing new: nothing; more data: again.
        assert!(i.ready(8, |_, _| Some((EPOLLIN | EPOLLOUT, 2))).is_empty());
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN | EPOLLOUT, 3))).len(), 1);
        // An event with nothing wanted ready reports nothing and keeps the edge.
        assert!(i.ready(8, |_, _| Some((0, 4))).is_empty());
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN, 4))).len(), 1);
        // EPOLL_CTL_MOD re-arms: what holds is reported again.
        i.modify(&1, ev(EPOLLIN | EPOLLET, 6)).unwrap();
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN, 4))), [ev(EPOLLIN, 6)]);
        // Level-triggered entries report whatever holds, every time.
        i.add(2, ev(EPOLLIN, 7)).unwrap();
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN, 4))), [ev(EPOLLIN, 7)]);
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN, 4))), [ev(EPOLLIN, 7)]);
    }

    #[test]
    fn exclusive_entries_follow_linux_rules() {
        let mut i = Interests::default();
        assert_eq!(i.add(1, ev(EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 1)), Err(Errno::EINVAL));
        assert_eq!(i.add(1, ev(EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, 1)), Ok(()));
        assert_eq!(i.modify(&1, ev(EPOLLIN, 2)), Err(Errno::EINVAL));
        i.add(2, ev(EPOLLIN, 3)).unwrap();
        assert_eq!(i.modify(&2, ev(EPOLLIN | EPOLLEXCLUSIVE, 3)), Err(Errno::EINVAL));
        assert_eq!(i.ready(8, |_, _| Some((EPOLLIN, 1))).len(), 2);
    }
}
