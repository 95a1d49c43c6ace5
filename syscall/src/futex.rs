//! The `futex` operation word: which command, and its private and
//! CLOCK_REALTIME flags, decoded as Linux's `do_futex` does (unknown
//! commands and CLOCK_REALTIME on a command that takes no absolute time are
//! ENOSYS).

use crate::Errno;

/// The futex is private to the process (`FUTEX_PRIVATE_FLAG`).
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
/// An absolute timeout is on CLOCK_REALTIME (`FUTEX_CLOCK_REALTIME`).
pub const FUTEX_CLOCK_REALTIME: u32 = 256;
/// `FUTEX_BITSET_MATCH_ANY`: the bitset of plain WAIT and WAKE.
pub const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// A futex command (`op & FUTEX_CMD_MASK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutexCmd {
    /// 0: sleep while the word holds `val`, relative timeout.
    Wait,
    /// 1: wake up to `val` waiters.
    Wake,
    /// 3: wake up to `val`, move the rest to `uaddr2`.
    Requeue,
    /// 4: as Requeue, if the word still holds `val3` (else EAGAIN).
    CmpRequeue,
    /// 9: Wait with a bitset and an absolute timeout.
    WaitBitset,
    /// 10: Wake with a bitset.
    WakeBitset,
    /// 5: change a second word, wake on both by a comparison.
    WakeOp,
    /// 6: take a priority-inheritance lock (absolute CLOCK_REALTIME timeout).
    LockPi,
    /// 7: release a PI lock to its oldest waiter.
    UnlockPi,
    /// 8: LockPi without waiting.
    TrylockPi,
    /// 11: wait on a condition word to be requeued onto a PI lock.
    WaitRequeuePi,
    /// 12: CmpRequeue onto a PI lock.
    CmpRequeuePi,
    /// 13: LockPi with a CLOCK_MONOTONIC timeout unless CLOCK_REALTIME.
    LockPi2,
}

/// A decoded operation word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FutexOp {
    pub cmd: FutexCmd,
    pub private: bool,
    pub realtime: bool,
}

impl FutexOp {
    /// Decodes `op`. Commands Linux does not know (above 13, or 2, the
    /// removed FUTEX_FD), and CLOCK_REALTIME with a command other than
    /// WAIT_BITSET, WAIT_REQUEUE_PI and LOCK_PI2, are ENOSYS, as in Linux.
    pub fn from_raw(op: u32) -> Result<FutexOp, Errno> {
        let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
        let realtime = op & FUTEX_CLOCK_REALTIME != 0;
        if realtime && !matches!(cmd, 9 | 11 | 13) {
            return Err(Errno::ENOSYS);
        }
        let cmd = match cmd {
            0 => FutexCmd::Wait,
            1 => FutexCmd::Wake,
            3 => FutexCmd::Requeue,
            4 => FutexCmd::CmpRequeue,
            9 => FutexCmd::WaitBitset,
            10 => FutexCmd::WakeBitset,
            5 => FutexCmd::WakeOp,
            6 => FutexCmd::LockPi,
            7 => FutexCmd::UnlockPi,
            8 => FutexCmd::TrylockPi,
            11 => FutexCmd::WaitRequeuePi,
            12 => FutexCmd::CmpRequeuePi,
            13 => FutexCmd::LockPi2,
            _ => return Err(Errno::ENOSYS),
        };
        Ok(FutexOp { cmd, private: op & FUTEX_PRIVATE_FLAG != 0, realtime })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_operations_decode() {
        // pthread_once's wake-all: FUTEX_WAKE | FUTEX_PRIVATE_FLAG.
        assert_eq!(FutexOp::from_raw(129), Ok(FutexOp { cmd: FutexCmd::Wake, private: true, realtime: false }));
        // pthread_cond_timedwait: WAIT_BITSET | PRIVATE | CLOCK_REALTIME.
        assert_eq!(FutexOp::from_raw(9 | 128 | 256), Ok(FutexOp { cmd: FutexCmd::WaitBitset, private: true, realtime: true }));
        assert_eq!(FutexOp::from_raw(0), Ok(FutexOp { cmd: FutexCmd::Wait, private: false, realtime: false }));
        assert_eq!(FutexOp::from_raw(4 | 128).map(|o| o.cmd), Ok(FutexCmd::CmpRequeue));
        assert_eq!(FutexOp::from_raw(5).map(|o| o.cmd), Ok(FutexCmd::WakeOp));
        assert_eq!(FutexOp::from_raw(6 | 128).map(|o| o.cmd), Ok(FutexCmd::LockPi));
        assert_eq!(FutexOp::from_raw(13 | 256).map(|o| (o.cmd, o.realtime)), Ok((FutexCmd::LockPi2, true)));
        // LOCK_PI's clock is CLOCK_REALTIME already: the flag is ENOSYS.
        assert_eq!(FutexOp::from_raw(6 | 256), Err(Errno::ENOSYS));
    }

    #[test]
    fn unknown_commands_and_misplaced_realtime_are_enosys() {
        for op in [2, 14, 15, 127, 0x7fff_ffff, u32::MAX] {
            assert_eq!(FutexOp::from_raw(op), Err(Errno::ENOSYS), "op {op:#x}");
        }
        // CLOCK_REALTIME only with the absolute-time waits.
        assert_eq!(FutexOp::from_raw(256), Err(Errno::ENOSYS));
        assert_eq!(FutexOp::from_raw(1 | 256), Err(Errno::ENOSYS));
        assert!(FutexOp::from_raw(13 | 256).is_ok());
    }
}
