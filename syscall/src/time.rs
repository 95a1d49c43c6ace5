//! Times from user space, decoded once at the border: validation with
//! Linux's errno and saturating conversion to kernel nanoseconds.
//!
//! Every time a process hands the kernel (a `timespec`, a `timeval`, a
//! millisecond count, `alarm`'s seconds) goes through here, so that no
//! handler multiplies or adds a user value itself. Rules, as Linux has them:
//! - an invalid value (negative seconds, sub-second field out of range) is
//!   `EINVAL` (`EDOM` for a socket timeout);
//! - a valid but huge value saturates at [`MAX_DURATION_NS`] (Linux's
//!   `KTIME_MAX`, `i64::MAX` ns, about 292 years): a sleep that long is a
//!   sleep forever, an alarm that far never fires while anyone watches;
//! - a deadline is `now + duration`, saturating at `u64::MAX`.
//!
//! Neighbours: [`crate::layout`] holds the [`Timespec`]/[`Timeval`] byte
//! layouts; the kernel's handlers (`nanosleep`, `poll`, `select`, `epoll_wait`,
//! `alarm`, `setitimer`, socket timeouts) call these functions.
#![warn(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::{Errno, Timespec, Timeval};

/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Nanoseconds per microsecond.
pub const NANOS_PER_MICRO: u64 = 1_000;
/// Nanoseconds per millisecond.
pub const NANOS_PER_MILLI: u64 = 1_000_000;
/// Longest duration the kernel keeps, in nanoseconds: Linux's `KTIME_MAX`.
/// Longer valid durations saturate to it.
pub const MAX_DURATION_NS: u64 = i64::MAX as u64;

/// Seconds and a sub-second part in nanoseconds (both already range-checked)
/// to nanoseconds, saturating at [`MAX_DURATION_NS`].
const fn saturating_ns(secs: u64, sub_ns: u64) -> u64 {
    let ns = secs.saturating_mul(NANOS_PER_SEC).saturating_add(sub_ns);
    if ns > MAX_DURATION_NS { MAX_DURATION_NS } else { ns }
}

/// Whole seconds to nanoseconds, saturating at [`MAX_DURATION_NS`].
pub const fn secs_to_ns(secs: u64) -> u64 {
    saturating_ns(secs, 0)
}

impl Timespec {
    /// The duration this names, in nanoseconds (`nanosleep`, `ppoll`,
    /// `pselect6`, `epoll_pwait2`, `clock_nanosleep`): `EINVAL` if `tv_sec`
    /// is negative or `tv_nsec` is outside `0..1e9`; saturates at
    /// [`MAX_DURATION_NS`].
    pub const fn duration_ns(&self) -> Result<u64, Errno> {
        if !self.is_valid() {
            return Err(Errno::EINVAL);
        }
        Ok(saturating_ns(self.tv_sec as u64, self.tv_nsec as u64))
    }
}

impl Timeval {
    /// Is `tv_usec` in `0..1e6` and `tv_sec` non-negative (Linux's `timeval_valid`)?
    pub const fn is_valid(&self) -> bool {
        self.tv_sec >= 0 && self.tv_usec >= 0 && self.tv_usec < 1_000_000
    }

    /// The duration this names, in nanoseconds (`setitimer`): `EINVAL` if
    /// invalid (see [`Timeval::is_valid`]); saturates at [`MAX_DURATION_NS`].
    pub const fn duration_ns(&self) -> Result<u64, Errno> {
        if !self.is_valid() {
            return Err(Errno::EINVAL);
        }
        Ok(saturating_ns(self.tv_sec as u64, (self.tv_usec as u64).saturating_mul(NANOS_PER_MICRO)))
    }

    /// `select`'s timeout: Linux first folds whole seconds out of `tv_usec`
    /// (so `tv_usec = 2_500_000` is 2.5 s more, C division truncating toward
    /// zero), then rejects what is still negative (`EINVAL`). The fold wraps
    /// as Linux's (built with `-fno-strict-overflow`) does: `tv_sec` near
    /// `i64::MAX` plus a huge `tv_usec` turns negative and is `EINVAL` there too.
    pub const fn select_timeout_ns(&self) -> Result<u64, Errno> {
        let usec_per_sec = 1_000_000;
        let secs = self.tv_sec.wrapping_add(self.tv_usec / usec_per_sec);
        let usec = self.tv_usec % usec_per_sec;
        if secs < 0 || usec < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(saturating_ns(secs as u64, (usec as u64).saturating_mul(NANOS_PER_MICRO)))
    }

    /// A socket timeout (`SO_RCVTIMEO`, `SO_SNDTIMEO`): `EDOM` if `tv_usec`
    /// is outside `0..1e6`; a negative `tv_sec` means no timeout at all
    /// (`None`), as does zero; saturates at [`MAX_DURATION_NS`].
    pub const fn socket_timeout_ns(&self) -> Result<Option<u64>, Errno> {
        if self.tv_usec < 0 || self.tv_usec >= 1_000_000 {
            return Err(Errno::EDOM);
        }
        if self.tv_sec < 0 || (self.tv_sec == 0 && self.tv_usec == 0) {
            return Ok(None);
        }
        Ok(Some(saturating_ns(self.tv_sec as u64, (self.tv_usec as u64).saturating_mul(NANOS_PER_MICRO))))
    }
}

/// The latest second a wall clock may be set to: Linux's
/// `TIME_SETTOD_SEC_MAX`, `KTIME_SEC_MAX` less 30 years of uptime.
pub const SETTOD_SEC_MAX: i64 = (MAX_DURATION_NS / NANOS_PER_SEC) as i64 - 30 * 365 * 86_400;

impl Timespec {
    /// The time `clock_settime` sets, in ns since the epoch: `EINVAL` if
    /// invalid or at or past [`SETTOD_SEC_MAX`] (Linux's `timespec64_valid_settod`).
    pub const fn settod_ns(&self) -> Result<u64, Errno> {
        if !self.is_valid() || self.tv_sec >= SETTOD_SEC_MAX {
            return Err(Errno::EINVAL);
        }
        Ok(saturating_ns(self.tv_sec as u64, self.tv_nsec as u64))
    }
}

impl Timeval {
    /// The time `settimeofday` sets, in ns since the epoch: `EINVAL` as
    /// [`Timespec::settod_ns`].
    pub const fn settod_ns(&self) -> Result<u64, Errno> {
        if !self.is_valid() || self.tv_sec >= SETTOD_SEC_MAX {
            return Err(Errno::EINVAL);
        }
        Ok(saturating_ns(self.tv_sec as u64, (self.tv_usec as u64).saturating_mul(NANOS_PER_MICRO)))
    }
}

/// Whether settimeofday may set a time zone `minuteswest` minutes west of
/// Greenwich: within 15 hours either way, as Linux checks (else `EINVAL`).
pub const fn valid_timezone(minuteswest: i32) -> bool {
    minuteswest >= -15 * 60 && minuteswest <= 15 * 60
}

/// `poll`'s and `epoll_wait`'s `int timeout` in milliseconds: negative is
/// no timeout (`None`), else the duration in nanoseconds (never overflows:
/// `i32::MAX` ms is under 25 days).
pub const fn timeout_ms_to_ns(timeout_ms: i32) -> Option<u64> {
    if timeout_ms < 0 { None } else { Some((timeout_ms as u64).saturating_mul(NANOS_PER_MILLI)) }
}

/// The deadline `duration_ns` after `now_ns`, saturating at `u64::MAX`.
pub const fn deadline_ns(now_ns: u64, duration_ns: u64) -> u64 {
    now_ns.saturating_add(duration_ns)
}

/// Nanoseconds left before `deadline_ns` at `now_ns` (0 once it passed).
pub const fn remaining_ns(deadline_ns: u64, now_ns: u64) -> u64 {
    deadline_ns.saturating_sub(now_ns)
}

/// `alarm`'s answer: the seconds left on the previous alarm, rounded to the
/// nearest second, but never 0 for an alarm still pending (Linux's
/// `alarm_setitimer`). 0 when none was pending.
pub const fn alarm_remaining_secs(remaining_ns: u64) -> u64 {
    let secs = remaining_ns / NANOS_PER_SEC;
    let usec = (remaining_ns % NANOS_PER_SEC) / NANOS_PER_MICRO;
    if (secs == 0 && usec != 0) || usec >= 500_000 { secs.saturating_add(1) } else { secs }
}

/// What `getitimer` reports as the time left on an armed timer: what is
/// left, but at least one microsecond, so that an armed timer never reads
/// as disarmed (Linux's `itimer_get_remtime`).
pub const fn itimer_remaining_ns(remaining_ns: u64) -> u64 {
    if remaining_ns < NANOS_PER_MICRO { NANOS_PER_MICRO } else { remaining_ns }
}

/// `tv_nsec` of utimensat: set this time to now.
pub const UTIME_NOW: i64 = (1 << 30) - 1;
/// `tv_nsec` of utimensat: leave this time alone.
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

/// One file time a utimensat-family call sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileTime {
    /// `UTIME_OMIT`: left as it is.
    Omit,
    /// `UTIME_NOW` (or no array): the clock's now.
    Now,
    /// A given time: any seconds, nanoseconds below 1e9.
    At { secs: i64, nsecs: u32 },
}

/// What `utimensat`, `futimesat`, `utimes` or `utime` asks: the access time
/// and the modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileTimes {
    pub atime: FileTime,
    pub mtime: FileTime,
}

impl FileTimes {
    /// No array: both now.
    pub const NOW: FileTimes = FileTimes { atime: FileTime::Now, mtime: FileTime::Now };

    /// utimensat's `struct timespec[2]`: each `tv_nsec` is `UTIME_NOW`,
    /// `UTIME_OMIT` or in `0..1e9` (`EINVAL` otherwise); any `tv_sec` is a
    /// time, before the epoch included.
    pub const fn from_timespecs(times: &[Timespec; 2]) -> Result<FileTimes, Errno> {
        const fn one(t: &Timespec) -> Result<FileTime, Errno> {
            match t.tv_nsec {
                UTIME_NOW => Ok(FileTime::Now),
                UTIME_OMIT => Ok(FileTime::Omit),
                0..=999_999_999 => Ok(FileTime::At { secs: t.tv_sec, nsecs: t.tv_nsec as u32 }),
                _ => Err(Errno::EINVAL),
            }
        }
        match (one(&times[0]), one(&times[1])) {
            (Ok(atime), Ok(mtime)) => Ok(FileTimes { atime, mtime }),
            _ => Err(Errno::EINVAL),
        }
    }

    /// utimes' and futimesat's `struct timeval[2]`: `tv_usec` in `0..1e6`
    /// (`EINVAL` otherwise), any `tv_sec`.
    pub const fn from_timevals(times: &[Timeval; 2]) -> Result<FileTimes, Errno> {
        const fn one(t: &Timeval) -> Result<FileTime, Errno> {
            if t.tv_usec < 0 || t.tv_usec >= 1_000_000 {
                return Err(Errno::EINVAL);
            }
            Ok(FileTime::At { secs: t.tv_sec, nsecs: (t.tv_usec as u32).saturating_mul(1000) })
        }
        match (one(&times[0]), one(&times[1])) {
            (Ok(atime), Ok(mtime)) => Ok(FileTimes { atime, mtime }),
            _ => Err(Errno::EINVAL),
        }
    }

    /// utime's `struct utimbuf` (`actime`, `modtime`): whole seconds.
    pub const fn from_utimbuf(actime: i64, modtime: i64) -> FileTimes {
        FileTimes { atime: FileTime::At { secs: actime, nsecs: 0 }, mtime: FileTime::At { secs: modtime, nsecs: 0 } }
    }

    /// Both now (no array, or both `UTIME_NOW`): Linux's "touch", allowed
    /// to whoever may write the file as well as to its owner. Anything
    /// else is the owner's (or a privileged caller's) only: `EPERM`.
    pub const fn is_touch(&self) -> bool {
        matches!((self.atime, self.mtime), (FileTime::Now, FileTime::Now))
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn file_times_decode_as_linux_checks_them() {
        let pair = |a: Timespec, m: Timespec| FileTimes::from_timespecs(&[a, m]);
        assert_eq!(pair(ts(0, UTIME_NOW), ts(5, UTIME_NOW)), Ok(FileTimes::NOW));
        assert!(FileTimes::NOW.is_touch());
        let omit_now = pair(ts(0, UTIME_OMIT), ts(0, UTIME_NOW)).unwrap();
        assert_eq!(omit_now, FileTimes { atime: FileTime::Omit, mtime: FileTime::Now });
        assert!(!omit_now.is_touch(), "one omitted is no touch: the owner's");
        assert_eq!(
            pair(ts(-7, 999_999_999), ts(i64::MAX, 0)),
            Ok(FileTimes { atime: FileTime::At { secs: -7, nsecs: 999_999_999 }, mtime: FileTime::At { secs: i64::MAX, nsecs: 0 } })
        );
        assert_eq!(pair(ts(0, 1_000_000_000), ts(0, 0)), Err(Errno::EINVAL));
        assert_eq!(pair(ts(0, 0), ts(0, -1)), Err(Errno::EINVAL));
        assert_eq!(pair(ts(0, 0), ts(0, UTIME_NOW + 1)), Err(Errno::EINVAL));
        let vals = |a: Timeval, m: Timeval| FileTimes::from_timevals(&[a, m]);
        assert_eq!(vals(tv(-1, 999_999), tv(3, 0)), Ok(FileTimes { atime: FileTime::At { secs: -1, nsecs: 999_999_000 }, mtime: FileTime::At { secs: 3, nsecs: 0 } }));
        assert_eq!(vals(tv(0, 1_000_000), tv(0, 0)), Err(Errno::EINVAL));
        assert_eq!(vals(tv(0, 0), tv(0, -1)), Err(Errno::EINVAL));
        assert_eq!(FileTimes::from_utimbuf(1, 2).mtime, FileTime::At { secs: 2, nsecs: 0 });
    }

    fn ts(tv_sec: i64, tv_nsec: i64) -> Timespec {
        Timespec { tv_sec, tv_nsec }
    }

    fn tv(tv_sec: i64, tv_usec: i64) -> Timeval {
        Timeval { tv_sec, tv_usec }
    }

    #[test]
    fn timespec_boundaries() {
        assert_eq!(ts(0, 0).duration_ns(), Ok(0));
        assert_eq!(ts(0, 1).duration_ns(), Ok(1));
        assert_eq!(ts(1, 0).duration_ns(), Ok(NANOS_PER_SEC));
        assert_eq!(ts(0, 999_999_999).duration_ns(), Ok(999_999_999));
        assert_eq!(ts(0, 1_000_000_000).duration_ns(), Err(Errno::EINVAL));
        assert_eq!(ts(0, -1).duration_ns(), Err(Errno::EINVAL));
        assert_eq!(ts(-1, 0).duration_ns(), Err(Errno::EINVAL));
        assert_eq!(ts(i64::MIN, 0).duration_ns(), Err(Errno::EINVAL));
        assert_eq!(ts(0, i64::MAX).duration_ns(), Err(Errno::EINVAL));
        // Largest exact value, then saturation.
        let max_secs = (MAX_DURATION_NS / NANOS_PER_SEC) as i64;
        assert_eq!(ts(max_secs, 0).duration_ns(), Ok(max_secs as u64 * NANOS_PER_SEC));
        assert_eq!(ts(max_secs, 999_999_999).duration_ns(), Ok(MAX_DURATION_NS));
        assert_eq!(ts(max_secs + 1, 0).duration_ns(), Ok(MAX_DURATION_NS));
        assert_eq!(ts(1 << 62, 0).duration_ns(), Ok(MAX_DURATION_NS));
        assert_eq!(ts(i64::MAX, 999_999_999).duration_ns(), Ok(MAX_DURATION_NS));
    }

    #[test]
    fn timeval_boundaries() {
        assert_eq!(tv(0, 0).duration_ns(), Ok(0));
        assert_eq!(tv(0, 1).duration_ns(), Ok(1000));
        assert_eq!(tv(0, 999_999).duration_ns(), Ok(999_999_000));
        assert_eq!(tv(0, 1_000_000).duration_ns(), Err(Errno::EINVAL));
        assert_eq!(tv(0, -1).duration_ns(), Err(Errno::EINVAL));
        assert_eq!(tv(-1, 0).duration_ns(), Err(Errno::EINVAL));
        assert_eq!(tv(2, 500_000).duration_ns(), Ok(2_500_000_000));
        assert_eq!(tv(1 << 62, 0).duration_ns(), Ok(MAX_DURATION_NS));
        assert_eq!(tv(i64::MAX, 999_999).duration_ns(), Ok(MAX_DURATION_NS));
        assert!(tv(0, 999_999).is_valid() && !tv(0, 1_000_000).is_valid());
    }

    #[test]
    fn select_folds_microseconds() {
        assert_eq!(tv(0, 0).select_timeout_ns(), Ok(0));
        assert_eq!(tv(1, 2_500_000).select_timeout_ns(), Ok(3_500_000_000));
        assert_eq!(tv(0, i64::MAX).select_timeout_ns(), Ok(MAX_DURATION_NS));
        assert_eq!(tv(i64::MAX, 0).select_timeout_ns(), Ok(MAX_DURATION_NS));
        assert_eq!(tv(i64::MAX, 999_999).select_timeout_ns(), Ok(MAX_DURATION_NS));
        assert_eq!(tv(i64::MAX, i64::MAX).select_timeout_ns(), Err(Errno::EINVAL), "wraps as Linux");
        // -1 us stays negative after folding; -1 s of usec borrows a second.
        assert_eq!(tv(5, -1).select_timeout_ns(), Err(Errno::EINVAL));
        assert_eq!(tv(5, -1_000_000).select_timeout_ns(), Ok(4 * NANOS_PER_SEC));
        assert_eq!(tv(0, -1_000_000).select_timeout_ns(), Err(Errno::EINVAL));
        assert_eq!(tv(-1, 0).select_timeout_ns(), Err(Errno::EINVAL));
        assert_eq!(tv(i64::MIN, i64::MIN).select_timeout_ns(), Err(Errno::EINVAL));
    }

    #[test]
    fn socket_timeouts() {
        assert_eq!(tv(0, 0).socket_timeout_ns(), Ok(None));
        assert_eq!(tv(-5, 0).socket_timeout_ns(), Ok(None));
        assert_eq!(tv(0, -1).socket_timeout_ns(), Err(Errno::EDOM));
        assert_eq!(tv(0, 1_000_000).socket_timeout_ns(), Err(Errno::EDOM));
        assert_eq!(tv(1, 1).socket_timeout_ns(), Ok(Some(1_000_001_000)));
        assert_eq!(tv(i64::MAX, 0).socket_timeout_ns(), Ok(Some(MAX_DURATION_NS)));
    }

    #[test]
    fn milliseconds_and_seconds() {
        assert_eq!(timeout_ms_to_ns(-1), None);
        assert_eq!(timeout_ms_to_ns(i32::MIN), None);
        assert_eq!(timeout_ms_to_ns(0), Some(0));
        assert_eq!(timeout_ms_to_ns(1), Some(1_000_000));
        assert_eq!(timeout_ms_to_ns(i32::MAX), Some(i32::MAX as u64 * 1_000_000));
        assert_eq!(secs_to_ns(0), 0);
        assert_eq!(secs_to_ns(1), NANOS_PER_SEC);
        assert_eq!(secs_to_ns(u64::from(u32::MAX)), u64::from(u32::MAX) * NANOS_PER_SEC);
        assert_eq!(secs_to_ns(1 << 40), MAX_DURATION_NS);
        assert_eq!(secs_to_ns(u64::MAX), MAX_DURATION_NS);
    }

    #[test]
    fn deadlines_saturate() {
        assert_eq!(deadline_ns(5, 7), 12);
        assert_eq!(deadline_ns(u64::MAX - 1, MAX_DURATION_NS), u64::MAX);
        assert_eq!(deadline_ns(1 << 63, MAX_DURATION_NS), u64::MAX);
        assert_eq!(remaining_ns(10, 4), 6);
        assert_eq!(remaining_ns(4, 10), 0);
    }

    #[test]
    fn alarm_rounding_is_linux() {
        assert_eq!(alarm_remaining_secs(0), 0);
        assert_eq!(alarm_remaining_secs(1), 0, "under a microsecond reads as gone");
        assert_eq!(alarm_remaining_secs(1_000), 1, "a pending alarm is never 0");
        assert_eq!(alarm_remaining_secs(NANOS_PER_SEC), 1);
        assert_eq!(alarm_remaining_secs(NANOS_PER_SEC + 499_999_999), 1);
        assert_eq!(alarm_remaining_secs(NANOS_PER_SEC + 500_000_000), 2);
        assert_eq!(alarm_remaining_secs(MAX_DURATION_NS), MAX_DURATION_NS / NANOS_PER_SEC + 1);
        assert_eq!(alarm_remaining_secs(u64::MAX), u64::MAX / NANOS_PER_SEC + 1);
        assert_eq!(itimer_remaining_ns(0), 1_000);
        assert_eq!(itimer_remaining_ns(999), 1_000);
        assert_eq!(itimer_remaining_ns(5_000), 5_000);
    }

    #[test]
    fn settable_times_are_valid_and_below_linux_s_limit() {
        assert_eq!(ts(1_700_000_000, 5).settod_ns(), Ok(1_700_000_000_000_000_005));
        assert_eq!(tv(3, 7).settod_ns(), Ok(3_000_007_000));
        assert_eq!(ts(SETTOD_SEC_MAX - 1, 0).settod_ns(), Ok((SETTOD_SEC_MAX - 1) as u64 * NANOS_PER_SEC));
        assert_eq!(SETTOD_SEC_MAX, 8_277_292_036);
        for bad in [ts(-1, 0), ts(0, -1), ts(0, 1_000_000_000), ts(SETTOD_SEC_MAX, 0)] {
            assert_eq!(bad.settod_ns(), Err(Errno::EINVAL), "{bad:?}");
        }
        for bad in [tv(-1, 0), tv(0, 1_000_000), tv(SETTOD_SEC_MAX, 0)] {
            assert_eq!(bad.settod_ns(), Err(Errno::EINVAL), "{bad:?}");
        }
    }

    #[test]
    fn time_zones_within_15_hours() {
        assert!(valid_timezone(0) && valid_timezone(900) && valid_timezone(-900));
        assert!(!valid_timezone(901) && !valid_timezone(-901) && !valid_timezone(i32::MIN));
    }
}
