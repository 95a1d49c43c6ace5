//! The counter behind an eventfd (eventfd(2)): what a read takes, what a
//! write adds, and when either must wait.

/// The largest value the counter holds: writes that would pass it wait.
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

/// An eventfd's counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounter {
    count: u64,
    /// EFD_SEMAPHORE: a read takes 1 instead of everything.
    semaphore: bool,
}

/// Why an eventfd operation could not complete now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventWait {
    /// The read finds 0, the write would pass [`EVENTFD_MAX`]: wait (EAGAIN
    /// when non-blocking).
    WouldBlock,
    /// Writing `u64::MAX`: EINVAL.
    Invalid,
}

impl EventCounter {
    /// A counter starting at `initial` (eventfd's `initval`, 32 bits).
    pub fn new(initial: u32, semaphore: bool) -> EventCounter {
        EventCounter { count: u64::from(initial), semaphore }
    }

    /// The current value (what /proc/PID/fdinfo shows as eventfd-count).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// A read: the whole value (reset to 0), or 1 in semaphore mode.
    pub fn read(&mut self) -> Result<u64, EventWait> {
        if self.count == 0 {
            return Err(EventWait::WouldBlock);
        }
        let taken = if self.semaphore { 1 } else { self.count };
        self.count -= taken;
        Ok(taken)
    }

    /// A write of `value`: added unless the sum would pass [`EVENTFD_MAX`].
    pub fn write(&mut self, value: u64) -> Result<(), EventWait> {
        if value == u64::MAX {
            return Err(EventWait::Invalid);
        }
        if value > EVENTFD_MAX - self.count {
            return Err(EventWait::WouldBlock);
        }
        self.count += value;
        Ok(())
    }

    /// Whether a read would complete now.
    pub fn readable(&self) -> bool {
        self.count > 0
    }

    /// Whether a write of 1 would complete now (POLLOUT).
    pub fn writable(&self) -> bool {
        self.count < EVENTFD_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_take_everything_or_one() {
        let mut counter = EventCounter::new(3, false);
        assert_eq!(counter.read(), Ok(3));
        assert_eq!(counter.read(), Err(EventWait::WouldBlock));
        let mut semaphore = EventCounter::new(2, true);
        assert_eq!(semaphore.read(), Ok(1));
        assert_eq!(semaphore.read(), Ok(1));
        assert_eq!(semaphore.read(), Err(EventWait::WouldBlock));
    }

    #[test]
    fn writes_add_up_to_the_limit() {
        let mut counter = EventCounter::new(0, false);
        assert!(!counter.readable() && counter.writable());
        assert_eq!(counter.write(5), Ok(()));
        assert_eq!(counter.write(7), Ok(()));
        assert_eq!(counter.count(), 12);
        assert_eq!(counter.write(u64::MAX), Err(EventWait::Invalid));
        assert_eq!(counter.write(EVENTFD_MAX - 12), Ok(()));
        assert!(!counter.writable());
        assert_eq!(counter.write(1), Err(EventWait::WouldBlock));
        assert_eq!(counter.write(0), Ok(()), "adding 0 always fits");
        assert_eq!(counter.read(), Ok(EVENTFD_MAX));
    }
}
