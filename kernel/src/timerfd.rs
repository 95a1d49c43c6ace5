//! timerfd files in the kernel: each file's [`process::Timer`] (the pure
//! rules) read against the clock it counts on, and the list of every live
//! timer, which the scheduler checks at each switch ([`wake_due`]) so that
//! readers, poll, select and epoll wake when one expires, and which a
//! change of the wall clock walks ([`clock_was_set`]).
//!
//! A waiter blocks on `BlockOn::Pipe(id)` with the timer's [`id`], as an
//! eventfd's does: a wake-up of it also wakes poll/select/epoll waiters.
//! Resolution is the scheduler's: the 100 Hz tick, as for nanosleep.
//! Neighbours: `syscalls/timers.rs` (the three calls), `fs::FileKind::TimerFd`,
//! `time::set_realtime_ns` (calls [`clock_was_set`]).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use process::{Timer, TimerClock, TimerRead, TimerSpec};
use spin::Mutex;

use crate::proc::{BlockOn, sched};
use crate::time;

/// A timerfd's timer, shared by every descriptor of its open file.
pub type TimerRef = Arc<Mutex<Timer>>;

/// Every live timer (a dead one is dropped when met).
static TIMERS: Mutex<Vec<Weak<Mutex<Timer>>>> = Mutex::new(Vec::new());

/// No expiration before this, CLOCK_MONOTONIC ns (`u64::MAX`: none armed).
/// It may be early (then [`wake_due`] looks and recomputes it), never late.
static NEXT_DUE_NS: AtomicU64 = AtomicU64::new(u64::MAX);

/// A new disarmed timer on `clock`.
pub fn create(clock: TimerClock) -> TimerRef {
    let timer = Arc::new(Mutex::new(Timer::new(clock)));
    let mut timers = TIMERS.lock();
    timers.retain(|t| t.strong_count() > 0);
    timers.push(Arc::downgrade(&timer));
    timer
}

/// What waiters on `timer` block on (`BlockOn::Pipe` of this id).
pub fn id(timer: &TimerRef) -> usize {
    Arc::as_ptr(timer) as usize
}

/// The time on `clock` now, ns.
pub fn now_ns(clock: TimerClock) -> u64 {
    match clock {
        TimerClock::Realtime => time::realtime_ns(),
        // The VM never suspends: boot time is monotonic time.
        TimerClock::Monotonic | TimerClock::Boottime => time::monotonic_ns(),
    }
}

/// When `timer` expires next on CLOCK_MONOTONIC, if armed.
fn due_monotonic_ns(timer: &Timer) -> Option<u64> {
    let next = timer.next_ns()?;
    Some(match timer.base() {
        TimerClock::Realtime => next.saturating_sub(time::realtime_offset_ns()),
        TimerClock::Monotonic | TimerClock::Boottime => next,
    })
}

/// timerfd_settime: the old setting. `flags` are checked already.
pub fn set(timer: &TimerRef, spec: TimerSpec, flags: u32) -> TimerSpec {
    let mut t = timer.lock();
    let old_now = now_ns(t.base());
    let now = now_ns(Timer::base_for(t.clock(), flags));
    let old = t.set(spec, flags, now, old_now);
    if let Some(due) = due_monotonic_ns(&t) {
        NEXT_DUE_NS.fetch_min(due, Ordering::Relaxed);
    }
    old
}

/// timerfd_gettime.
pub fn get(timer: &TimerRef) -> TimerSpec {
    let mut t = timer.lock();
    let now = now_ns(t.base());
    t.get(now)
}

/// A read's answer now.
pub fn read(timer: &TimerRef) -> TimerRead {
    let mut t = timer.lock();
    let now = now_ns(t.base());
    t.read(now)
}

/// Whether a read would complete now (POLLIN).
pub fn readable(timer: &TimerRef) -> bool {
    let mut t = timer.lock();
    let now = now_ns(t.base());
    t.readable(now)
}

/// The scheduler's hook, at every switch: wakes the waiters of every timer
/// that expired. Costs one atomic load while nothing is armed and one
/// clock read until the earliest expiration.
pub fn wake_due() {
    let earliest = NEXT_DUE_NS.load(Ordering::Relaxed);
    if earliest == u64::MAX || time::monotonic_ns() < earliest {
        return;
    }
    let mut next_due = u64::MAX;
    let mut timers = TIMERS.lock();
    timers.retain(|weak| {
        let Some(timer) = weak.upgrade() else { return false };
        let mut t = timer.lock();
        let now = now_ns(t.base());
        if t.next_ns().is_some_and(|next| next <= now) {
            t.advance(now);
            sched::wake_all(BlockOn::Pipe(id(&timer)));
        }
        if let Some(due) = due_monotonic_ns(&t) {
            next_due = next_due.min(due);
        }
        true
    });
    // A timer armed meanwhile lowered the value: keep the lower one.
    let _ = NEXT_DUE_NS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seen| {
        Some(if seen == earliest { next_due } else { seen.min(next_due) })
    });
}

/// The wall clock was set (clock_settime, settimeofday): TFD_TIMER_CANCEL_ON_SET
/// timers turn readable (ECANCELED), and absolute CLOCK_REALTIME timers may
/// now be due sooner or later.
pub fn clock_was_set() {
    let timers = TIMERS.lock();
    for timer in timers.iter().filter_map(Weak::upgrade) {
        let mut t = timer.lock();
        if t.cancels_on_set() {
            t.clock_was_set();
            sched::wake_all(BlockOn::Pipe(id(&timer)));
        }
        if let Some(due) = due_monotonic_ns(&t) {
            NEXT_DUE_NS.fetch_min(due, Ordering::Relaxed);
        }
    }
}
