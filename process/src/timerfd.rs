//! The state behind a timerfd (timerfd_create(2)): when it expires next,
//! how many expirations a read takes, what timerfd_gettime reports, and
//! when a change of the wall clock cancels it. The kernel supplies the time
//! ("now" on the timer's base clock) and the waking.
//!
//! The rules are Linux's (fs/timerfd.c with hrtimer_forward):
//! - a timer set to expire at `E` with interval `I` has expired `n` times
//!   at `now >= E`: `n = 1 + (now - E) / I` (just 1 for a one-shot timer),
//!   and next expires at `E + n * I`; a read takes all expirations so far
//!   (the overruns included) and waits while there are none;
//! - an absolute time already past expires at once, its overruns counted;
//! - setting the timer discards the expirations not read yet; a zero value
//!   disarms it;
//! - timerfd_gettime reports the time left (0 once a one-shot timer
//!   expired) and the interval;
//! - a relative CLOCK_REALTIME timer runs on CLOCK_MONOTONIC (POSIX: setting
//!   the clock does not move it), an absolute one on CLOCK_REALTIME;
//! - with TFD_TIMER_CANCEL_ON_SET (absolute, CLOCK_REALTIME only), setting
//!   the wall clock makes the file readable and the next read fail with
//!   ECANCELED, dropping the expirations counted so far.
#![warn(clippy::arithmetic_side_effects)]

/// `TFD_TIMER_ABSTIME`: the value is an absolute time on the timer's clock.
pub const TFD_TIMER_ABSTIME: u32 = 1;
/// `TFD_TIMER_CANCEL_ON_SET`: a change of the wall clock cancels the timer.
pub const TFD_TIMER_CANCEL_ON_SET: u32 = 2;

/// The clocks a timerfd may run on (`CLOCK_REALTIME`, `CLOCK_MONOTONIC`,
/// `CLOCK_BOOTTIME`, and the two `_ALARM` ones, which are the first and the
/// last here: a VM does not suspend, so there is nothing to wake from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerClock {
    Realtime,
    Monotonic,
    Boottime,
}

/// A clock id timerfd_create accepts: the clock and whether it is an
/// `_ALARM` one (those need CAP_WAKE_ALARM). `None`: EINVAL.
pub fn timer_clock(clockid: i32) -> Option<(TimerClock, bool)> {
    match clockid {
        0 => Some((TimerClock::Realtime, false)),
        1 => Some((TimerClock::Monotonic, false)),
        7 => Some((TimerClock::Boottime, false)),
        8 => Some((TimerClock::Realtime, true)),
        9 => Some((TimerClock::Boottime, true)),
        _ => None,
    }
}

/// What a read finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerRead {
    /// This many expirations since the last read (never 0).
    Expirations(u64),
    /// None yet: wait (EAGAIN when non-blocking).
    WouldBlock,
    /// The wall clock was set under a TFD_TIMER_CANCEL_ON_SET timer: ECANCELED.
    Canceled,
}

/// A timer's setting as timerfd_settime and timerfd_gettime carry it:
/// the time to the next expiration (0: disarmed) and the interval, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerSpec {
    pub value_ns: u64,
    pub interval_ns: u64,
}

/// A timerfd's timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// The clock the file was created on.
    clock: TimerClock,
    /// The clock the current setting counts on (see the module rules).
    base: TimerClock,
    /// The next expiration, ns on `base`; `None`: disarmed (or a one-shot
    /// timer that expired).
    next_ns: Option<u64>,
    interval_ns: u64,
    /// Expirations not read yet.
    ticks: u64,
    /// The last setting asked for TFD_TIMER_CANCEL_ON_SET (and may use it).
    cancel_on_set: bool,
    /// The wall clock was set since: the next read is ECANCELED.
    canceled: bool,
    /// The flags of the last setting (/proc/PID/fdinfo's "settime flags").
    flags: u32,
}

impl Timer {
    /// A disarmed timer on `clock`.
    pub const fn new(clock: TimerClock) -> Timer {
        Timer {
            clock,
            base: clock,
            next_ns: None,
            interval_ns: 0,
            ticks: 0,
            cancel_on_set: false,
            canceled: false,
            flags: 0,
        }
    }

    /// The clock the file was created on.
    pub const fn clock(&self) -> TimerClock {
        self.clock
    }

    /// The clock the current setting counts on: what `now` means for the
    /// calls below.
    pub const fn base(&self) -> TimerClock {
        self.base
    }

    /// The next expiration on [`Timer::base`], if armed: when a waiter
    /// must be woken.
    pub const fn next_ns(&self) -> Option<u64> {
        self.next_ns
    }

    /// The flags of the last setting.
    pub const fn flags(&self) -> u32 {
        self.flags
    }

    /// Expirations counted and not read (fdinfo's "ticks").
    pub const fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Whether a change of the wall clock cancels this timer.
    pub const fn cancels_on_set(&self) -> bool {
        self.cancel_on_set
    }

    /// The clock the setting `flags` would count on: a relative
    /// CLOCK_REALTIME timer runs on CLOCK_MONOTONIC.
    pub const fn base_for(clock: TimerClock, flags: u32) -> TimerClock {
        match clock {
            TimerClock::Realtime if flags & TFD_TIMER_ABSTIME == 0 => TimerClock::Monotonic,
            other => other,
        }
    }

    /// Counts the expirations up to `now` (on [`Timer::base`]) and moves
    /// the next one past `now` (hrtimer_forward).
    pub fn advance(&mut self, now_ns: u64) {
        let Some(next) = self.next_ns else { return };
        if now_ns < next {
            return;
        }
        if self.interval_ns == 0 {
            self.ticks = self.ticks.saturating_add(1);
            self.next_ns = None;
            return;
        }
        let late = now_ns.saturating_sub(next);
        let count = late.checked_div(self.interval_ns).unwrap_or(0).saturating_add(1);
        self.ticks = self.ticks.saturating_add(count);
        // Past u64::MAX ns (584 years) the timer never expires again.
        self.next_ns = count.checked_mul(self.interval_ns).and_then(|step| next.checked_add(step));
    }

    /// The setting now: time left and interval (timerfd_gettime).
    pub fn get(&mut self, now_ns: u64) -> TimerSpec {
        self.advance(now_ns);
        TimerSpec {
            value_ns: self.next_ns.map_or(0, |next| next.saturating_sub(now_ns)),
            interval_ns: self.interval_ns,
        }
    }

    /// timerfd_settime: `spec` with `flags` (TFD_TIMER_ABSTIME,
    /// TFD_TIMER_CANCEL_ON_SET, already checked), `now_ns` read on
    /// [`Timer::base_for`]`(clock, flags)`, `old_now_ns` on the current
    /// [`Timer::base`]. Returns the old setting; pending expirations and a
    /// pending cancellation are dropped.
    pub fn set(&mut self, spec: TimerSpec, flags: u32, now_ns: u64, old_now_ns: u64) -> TimerSpec {
        let old = self.get(old_now_ns);
        self.base = Timer::base_for(self.clock, flags);
        self.flags = flags;
        self.ticks = 0;
        self.canceled = false;
        self.cancel_on_set =
            self.clock == TimerClock::Realtime && flags & TFD_TIMER_ABSTIME != 0 && flags & TFD_TIMER_CANCEL_ON_SET != 0;
        self.interval_ns = spec.interval_ns;
        self.next_ns = match spec.value_ns {
            0 => None,
            value if flags & TFD_TIMER_ABSTIME != 0 => Some(value),
            value => Some(now_ns.saturating_add(value)),
        };
        old
    }

    /// The wall clock was set: a TFD_TIMER_CANCEL_ON_SET timer becomes
    /// readable, its next read ECANCELED.
    pub fn clock_was_set(&mut self) {
        if self.cancel_on_set && !self.canceled {
            self.canceled = true;
            self.ticks = self.ticks.saturating_add(1);
        }
    }

    /// Whether a read would complete now (POLLIN).
    pub fn readable(&mut self, now_ns: u64) -> bool {
        self.advance(now_ns);
        self.ticks > 0
    }

    /// A read: the expirations so far, or why there is nothing to take.
    pub fn read(&mut self, now_ns: u64) -> TimerRead {
        self.advance(now_ns);
        if self.canceled {
            self.canceled = false;
            self.ticks = 0;
            return TimerRead::Canceled;
        }
        match core::mem::take(&mut self.ticks) {
            0 => TimerRead::WouldBlock,
            n => TimerRead::Expirations(n),
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn spec(value_ns: u64, interval_ns: u64) -> TimerSpec {
        TimerSpec { value_ns, interval_ns }
    }

    #[test]
    fn clock_ids_as_linux() {
        assert_eq!(timer_clock(0), Some((TimerClock::Realtime, false)));
        assert_eq!(timer_clock(1), Some((TimerClock::Monotonic, false)));
        assert_eq!(timer_clock(7), Some((TimerClock::Boottime, false)));
        assert_eq!(timer_clock(8), Some((TimerClock::Realtime, true)));
        assert_eq!(timer_clock(9), Some((TimerClock::Boottime, true)));
        for bad in [-1, 2, 3, 4, 5, 6, 10, 11, i32::MIN, i32::MAX] {
            assert_eq!(timer_clock(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_shot_expires_once() {
        let mut t = Timer::new(TimerClock::Monotonic);
        assert_eq!(t.read(0), TimerRead::WouldBlock, "a disarmed timer never expires");
        assert_eq!(t.set(spec(10 * MS, 0), 0, 100 * MS, 100 * MS), TimerSpec::default());
        assert_eq!(t.next_ns(), Some(110 * MS));
        assert_eq!(t.get(104 * MS), spec(6 * MS, 0));
        assert!(!t.readable(109 * MS));
        assert_eq!(t.read(109 * MS), TimerRead::WouldBlock);
        assert!(t.readable(110 * MS), "expired at exactly its time");
        assert_eq!(t.read(500 * MS), TimerRead::Expirations(1));
        assert_eq!(t.read(900 * MS), TimerRead::WouldBlock);
        assert_eq!(t.get(900 * MS), spec(0, 0), "an expired one-shot timer reads as disarmed");
        assert_eq!(t.next_ns(), None);
    }

    #[test]
    fn intervals_count_overruns() {
        let mut t = Timer::new(TimerClock::Monotonic);
        t.set(spec(10 * MS, 5 * MS), 0, 0, 0);
        assert_eq!(t.read(9 * MS), TimerRead::WouldBlock);
        // Expirations at 10, 15, 20, 25: four by 27 ms, the next at 30.
        assert_eq!(t.read(27 * MS), TimerRead::Expirations(4));
        assert_eq!(t.next_ns(), Some(30 * MS));
        assert_eq!(t.get(28 * MS), spec(2 * MS, 5 * MS));
        // At exactly 30: one more; gettime keeps what it counted for the read.
        assert_eq!(t.get(30 * MS), spec(5 * MS, 5 * MS));
        assert_eq!(t.ticks(), 1);
        assert_eq!(t.read(34 * MS), TimerRead::Expirations(1));
        assert_eq!(t.read(34 * MS), TimerRead::WouldBlock);
    }

    #[test]
    fn absolute_time_in_the_past_fires_at_once() {
        let mut t = Timer::new(TimerClock::Monotonic);
        t.set(spec(1, 0), TFD_TIMER_ABSTIME, 50 * MS, 50 * MS);
        assert_eq!(t.read(50 * MS), TimerRead::Expirations(1));
        // Periodic from 1 ms with 10 ms: 1, 11, 21, 31, 41 by 50 ms.
        t.set(spec(MS, 10 * MS), TFD_TIMER_ABSTIME, 50 * MS, 50 * MS);
        assert_eq!(t.read(50 * MS), TimerRead::Expirations(5));
        assert_eq!(t.next_ns(), Some(51 * MS));
    }

    #[test]
    fn settime_returns_old_and_drops_pending() {
        let mut t = Timer::new(TimerClock::Monotonic);
        t.set(spec(10 * MS, 10 * MS), 0, 0, 0);
        assert!(t.readable(35 * MS));
        // Old setting at 35: expired at 10, 20, 30, next 40: 5 ms left.
        assert_eq!(t.set(spec(100 * MS, 0), 0, 35 * MS, 35 * MS), spec(5 * MS, 10 * MS));
        assert_eq!(t.read(36 * MS), TimerRead::WouldBlock, "settime discards expirations");
        assert_eq!(t.set(spec(0, 7 * MS), 0, 40 * MS, 40 * MS), spec(95 * MS, 0));
        assert_eq!(t.next_ns(), None, "a zero value disarms, whatever the interval");
        assert_eq!(t.get(1000 * MS), spec(0, 7 * MS), "gettime still reports the interval");
        assert_eq!(t.read(1000 * MS), TimerRead::WouldBlock);
    }

    #[test]
    fn relative_realtime_runs_on_monotonic() {
        assert_eq!(Timer::base_for(TimerClock::Realtime, 0), TimerClock::Monotonic);
        assert_eq!(Timer::base_for(TimerClock::Realtime, TFD_TIMER_ABSTIME), TimerClock::Realtime);
        assert_eq!(Timer::base_for(TimerClock::Boottime, 0), TimerClock::Boottime);
        let mut t = Timer::new(TimerClock::Realtime);
        t.set(spec(MS, 0), 0, 0, 0);
        assert_eq!(t.base(), TimerClock::Monotonic);
        t.set(spec(MS, 0), TFD_TIMER_ABSTIME, 0, 0);
        assert_eq!(t.base(), TimerClock::Realtime);
        assert_eq!(t.clock(), TimerClock::Realtime);
    }

    #[test]
    fn cancel_on_set_only_absolute_realtime() {
        let both = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET;
        let mut t = Timer::new(TimerClock::Realtime);
        t.set(spec(u64::MAX / 2, 0), both, 0, 0);
        assert!(t.cancels_on_set());
        assert!(!t.readable(MS));
        t.clock_was_set();
        t.clock_was_set();
        assert!(t.readable(MS), "the change makes the file readable");
        assert_eq!(t.read(MS), TimerRead::Canceled);
        assert_eq!(t.read(MS), TimerRead::WouldBlock, "ECANCELED once");
        t.clock_was_set();
        t.set(spec(u64::MAX / 2, 0), both, 0, 0);
        assert_eq!(t.read(MS), TimerRead::WouldBlock, "a new setting forgets the cancellation");
        // Relative, or another clock: the flag changes nothing.
        t.set(spec(10 * MS, 0), TFD_TIMER_CANCEL_ON_SET, 0, 0);
        t.clock_was_set();
        assert!(!t.cancels_on_set() && !t.readable(MS));
        let mut m = Timer::new(TimerClock::Monotonic);
        m.set(spec(10 * MS, 0), both, 0, 0);
        m.clock_was_set();
        assert!(!m.readable(MS));
        assert_eq!(m.flags(), both);
    }

    #[test]
    fn huge_values_saturate() {
        let mut t = Timer::new(TimerClock::Monotonic);
        t.set(spec(u64::MAX, u64::MAX), 0, 5, 5);
        assert_eq!(t.next_ns(), Some(u64::MAX));
        assert_eq!(t.read(u64::MAX), TimerRead::Expirations(1));
        assert_eq!(t.next_ns(), None, "the next one would be past the end of time");
        t.set(spec(1, 1), 0, 0, 0);
        assert_eq!(t.read(u64::MAX), TimerRead::Expirations(u64::MAX));
    }
}
