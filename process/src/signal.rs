//! Signal state: a process's dispositions (`rt_sigaction`) and the signals
//! pending on the whole process, and each thread's blocked mask
//! (`rt_sigprocmask`) and the signals sent to it alone (`tgkill`).
//!
//! Signal `n` is bit `n - 1` of a mask, as in the kernel `sigset_t`.

use syscall::{Errno, KernelSigaction, SIG_DFL, SIG_IGN, Signal, SigprocmaskHow};

/// The bits of SIGKILL and SIGSTOP, which can never be blocked, caught or
/// ignored.
pub const UNBLOCKABLE: u64 = Signal::SIGKILL.mask_bit() | Signal::SIGSTOP.mask_bit();

/// Dispositions and process-directed pending signals of one process (what
/// its threads share). `Clone` is what `fork` does (the child's pending
/// set is then cleared by [`SignalState::forked`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignalState {
    /// `actions[n - 1]` is the action of signal `n`.
    actions: [KernelSigaction; Signal::MAX as usize],
    pending: u64,
}

/// One thread's blocked mask and the signals pending on it alone.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct ThreadSignals {
    mask: u64,
    pending: u64,
}

impl ThreadSignals {
    pub const fn new() -> Self {
        ThreadSignals { mask: 0, pending: 0 }
    }

    /// A new thread's or a fork child's: the same mask, nothing pending.
    pub fn inherited(&self) -> Self {
        ThreadSignals { mask: self.mask, pending: 0 }
    }

    /// `rt_sigprocmask`: returns the old mask and, if `set` is given,
    /// blocks, unblocks or sets it; SIGKILL and SIGSTOP stay unblocked.
    pub fn sigprocmask(&mut self, how: SigprocmaskHow, set: Option<u64>) -> u64 {
        let old = self.mask;
        if let Some(set) = set {
            let mask = match how {
                SigprocmaskHow::Block => old | set,
                SigprocmaskHow::Unblock => old & !set,
                SigprocmaskHow::SetMask => set,
            };
            self.mask = mask & !UNBLOCKABLE;
        }
        old
    }

    /// The blocked mask.
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Replaces the blocked mask (`rt_sigreturn`, `rt_sigsuspend`, signal
    /// delivery), SIGKILL and SIGSTOP removed; returns the old one.
    pub fn set_mask(&mut self, mask: u64) -> u64 {
        core::mem::replace(&mut self.mask, mask & !UNBLOCKABLE)
    }

    /// The signals sent to this thread alone.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Whether this thread would take `signal` now (it does not block it).
    pub fn accepts(&self, signal: Signal) -> bool {
        self.mask & signal.mask_bit() == 0
    }
}

impl Default for SignalState {
    fn default() -> Self {
        Self::new()
    }
}

impl SignalState {
    /// Every signal at `SIG_DFL`, nothing pending.
    pub const fn new() -> Self {
        SignalState { actions: [KernelSigaction::DEFAULT; Signal::MAX as usize], pending: 0 }
    }

    /// The state a `fork` child starts with: same dispositions, nothing pending.
    pub fn forked(&self) -> Self {
        SignalState { pending: 0, ..self.clone() }
    }

    fn index(sig: u32) -> Result<usize, Errno> {
        match Signal::new(sig) {
            Some(signal) => Ok(signal.number() as usize - 1),
            None => Err(Errno::EINVAL),
        }
    }

    /// `rt_sigaction`: returns the old action and installs `new` if given.
    /// `EINVAL` for signal 0 or above 64, and for changing SIGKILL or
    /// SIGSTOP (reading them is fine). SIGKILL and SIGSTOP are removed from
    /// the new handler mask, as Linux does. Setting a signal to ignored
    /// discards it where it is pending on the process; the caller discards
    /// it from its threads with [`SignalState::discard_ignored`].
    pub fn sigaction(&mut self, sig: u32, new: Option<KernelSigaction>) -> Result<KernelSigaction, Errno> {
        let index = Self::index(sig)?;
        let old = self.actions[index];
        if let Some(mut new) = new {
            if UNBLOCKABLE & (1 << index) != 0 {
                return Err(Errno::EINVAL);
            }
            new.mask &= !UNBLOCKABLE;
            self.actions[index] = new;
            // POSIX: setting a signal to ignored discards it if pending.
            if self.is_ignored(sig) {
                self.pending &= !(1 << index);
            }
        }
        Ok(old)
    }

    /// Drops from `thread`'s pending set the signals now ignored.
    pub fn discard_ignored(&self, thread: &mut ThreadSignals) {
        let mut bits = thread.pending;
        while bits != 0 {
            let index = bits.trailing_zeros();
            bits &= bits - 1;
            if self.is_ignored(index + 1) {
                thread.pending &= !(1 << index);
            }
        }
    }

    /// The action of `sig` (`SIG_DFL` for an invalid number).
    pub fn action(&self, sig: u32) -> KernelSigaction {
        Self::index(sig).map(|index| self.actions[index]).unwrap_or_default()
    }

    /// `execve`: caught signals go back to `SIG_DFL`, ignored ones stay
    /// ignored; flags, restorers and handler masks are cleared. The blocked
    /// mask and pending signals are kept.
    pub fn reset_for_exec(&mut self) {
        for action in &mut self.actions {
            let handler = if action.handler == SIG_IGN { SIG_IGN } else { SIG_DFL };
            *action = KernelSigaction { handler, ..KernelSigaction::DEFAULT };
        }
    }

    /// Is `sig` ignored: `SIG_IGN`, or `SIG_DFL` with a default of ignore
    /// (SIGCHLD, SIGURG, SIGWINCH)? Such a signal is discarded when sent.
    pub fn is_ignored(&self, sig: u32) -> bool {
        let Some(signal) = Signal::new(sig) else { return false };
        match self.action(sig).handler {
            SIG_IGN => true,
            SIG_DFL => signal.default_action() == syscall::DefaultAction::Ignore,
            _ => false,
        }
    }

    /// Marks `signal` pending on the process (a second one of the same
    /// number merges). Ignored signals are discarded; returns whether it
    /// became pending.
    pub fn post(&mut self, signal: Signal) -> bool {
        if self.is_ignored(signal.number()) {
            return false;
        }
        self.pending |= signal.mask_bit();
        true
    }

    /// Marks `signal` pending on `thread` alone (tgkill, a fault); ignored
    /// signals are discarded as by [`SignalState::post`].
    pub fn post_to_thread(&self, thread: &mut ThreadSignals, signal: Signal) -> bool {
        if self.is_ignored(signal.number()) {
            return false;
        }
        thread.pending |= signal.mask_bit();
        true
    }

    /// The set pending on the process.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Is a signal pending on the process or on `thread` that `thread`
    /// does not block (it must handle one before returning to user space,
    /// and a blocking call of it is interrupted)?
    pub fn has_deliverable(&self, thread: &ThreadSignals) -> bool {
        (self.pending | thread.pending) & !thread.mask != 0
    }

    /// `sigtimedwait`: takes the lowest-numbered signal of `set` pending on
    /// `thread`, or else on the process, blocked or not (no handler runs;
    /// the action is untouched). Returns it and whether it was the thread's.
    pub fn take_pending_in(&mut self, thread: &mut ThreadSignals, set: u64) -> Option<(Signal, bool)> {
        for (pending, own) in [(&mut thread.pending, true), (&mut self.pending, false)] {
            let ready = *pending & set;
            if ready != 0 {
                let index = ready.trailing_zeros();
                *pending &= !(1 << index);
                return Signal::new(index + 1).map(|s| (s, own));
            }
        }
        None
    }

    /// Takes the lowest-numbered signal `thread` does not block, from its
    /// own pending set first and then the process's (Linux's
    /// `dequeue_signal`), with its action; returns whether it was the
    /// thread's. A handler with `SA_RESETHAND` is reset to `SIG_DFL` as it
    /// is taken; its flags, mask and restorer stay (Linux resets
    /// `sa_handler` only, so `sigaction` still reads `SA_SIGINFO|SA_RESETHAND`
    /// back).
    pub fn take_deliverable(&mut self, thread: &mut ThreadSignals) -> Option<(Signal, KernelSigaction, bool)> {
        let mask = thread.mask;
        let (pending, own) = if thread.pending & !mask != 0 {
            (&mut thread.pending, true)
        } else if self.pending & !mask != 0 {
            (&mut self.pending, false)
        } else {
            return None;
        };
        let index = (*pending & !mask).trailing_zeros() as usize;
        *pending &= !(1 << index);
        let signal = Signal::new(index as u32 + 1)?;
        let action = self.actions[index];
        if action.handler != SIG_DFL && action.handler != SIG_IGN && action.flags & syscall::SA_RESETHAND != 0 {
            self.actions[index].handler = SIG_DFL;
        }
        Some((signal, action, own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(at: u64) -> KernelSigaction {
        KernelSigaction { handler: at, flags: syscall::SA_RESTORER, restorer: 0x9000, mask: 0 }
    }

    #[test]
    fn sigaction_stores_and_returns_old() {
        let mut state = SignalState::new();
        assert_eq!(state.sigaction(15, Some(handler(0x1000))), Ok(KernelSigaction::DEFAULT));
        assert_eq!(state.sigaction(15, None), Ok(handler(0x1000)));
        assert_eq!(state.sigaction(15, Some(handler(0x2000))), Ok(handler(0x1000)));
        assert_eq!(state.action(15), handler(0x2000));
        assert_eq!(state.action(64), KernelSigaction::DEFAULT);
        assert!(state.sigaction(64, Some(handler(0x3000))).is_ok());
        assert_eq!(state.action(0), KernelSigaction::DEFAULT);
        assert_eq!(state.action(65), KernelSigaction::DEFAULT);
    }

    #[test]
    fn sigaction_rejects() {
        let mut state = SignalState::new();
        for sig in [0, 65, 1000] {
            assert_eq!(state.sigaction(sig, None), Err(Errno::EINVAL), "{sig}");
            assert_eq!(state.sigaction(sig, Some(handler(1))), Err(Errno::EINVAL), "{sig}");
        }
        for sig in [9, 19] {
            assert_eq!(state.sigaction(sig, None), Ok(KernelSigaction::DEFAULT), "reading is fine");
            assert_eq!(state.sigaction(sig, Some(handler(0x1000))), Err(Errno::EINVAL));
            assert_eq!(
                state.sigaction(sig, Some(KernelSigaction { handler: SIG_IGN, ..Default::default() })),
                Err(Errno::EINVAL)
            );
        }
        // The handler mask never holds SIGKILL or SIGSTOP.
        state.sigaction(2, Some(KernelSigaction { mask: u64::MAX, ..handler(0x1000) })).unwrap();
        assert_eq!(state.action(2).mask, !UNBLOCKABLE);
    }

    #[test]
    fn sigprocmask() {
        let mut state = ThreadSignals::new();
        let bit = |n: u32| Signal::new(n).unwrap().mask_bit();
        assert_eq!(state.sigprocmask(SigprocmaskHow::Block, Some(bit(2) | bit(15))), 0);
        assert_eq!(state.mask(), bit(2) | bit(15));
        assert_eq!(state.sigprocmask(SigprocmaskHow::Unblock, Some(bit(2))), bit(2) | bit(15));
        assert_eq!(state.mask(), bit(15));
        assert_eq!(state.sigprocmask(SigprocmaskHow::Block, None), bit(15), "query only");
        assert_eq!(state.sigprocmask(SigprocmaskHow::SetMask, None), bit(15));
        assert_eq!(state.sigprocmask(SigprocmaskHow::SetMask, Some(bit(10))), bit(15));
        assert_eq!(state.mask(), bit(10));
        // SIGKILL and SIGSTOP can never be blocked.
        state.sigprocmask(SigprocmaskHow::SetMask, Some(u64::MAX));
        assert_eq!(state.mask(), !UNBLOCKABLE);
        assert_eq!(state.mask() & bit(9), 0);
        assert_eq!(state.mask() & bit(19), 0);
        assert_eq!(state.set_mask(u64::MAX), !UNBLOCKABLE);
        assert_eq!(state.mask(), !UNBLOCKABLE);
    }

    #[test]
    fn exec_resets_handlers_keeps_ignored() {
        let mut state = SignalState::new();
        state.sigaction(2, Some(handler(0x1000))).unwrap();
        state
            .sigaction(13, Some(KernelSigaction { handler: SIG_IGN, flags: syscall::SA_RESTART, restorer: 5, mask: 6 }))
            .unwrap();
        state.reset_for_exec();
        assert_eq!(state.action(2), KernelSigaction::DEFAULT);
        assert_eq!(state.action(13), KernelSigaction { handler: SIG_IGN, ..KernelSigaction::DEFAULT });
    }

    #[test]
    fn pending_and_delivery() {
        let mut state = SignalState::new();
        let mut thread = ThreadSignals::new();
        assert!(!state.post(Signal::SIGCHLD), "default-ignored signal is discarded");
        assert!(!state.post(Signal::SIGWINCH));
        assert!(state.post(Signal::SIGTERM));
        assert!(state.post(Signal::SIGINT));
        assert!(state.post(Signal::SIGINT), "merges");
        assert_eq!(state.pending(), Signal::SIGTERM.mask_bit() | Signal::SIGINT.mask_bit());
        thread.sigprocmask(SigprocmaskHow::Block, Some(Signal::SIGINT.mask_bit()));
        assert!(state.has_deliverable(&thread));
        assert_eq!(state.take_deliverable(&mut thread), Some((Signal::SIGTERM, KernelSigaction::DEFAULT, false)));
        assert!(!state.has_deliverable(&thread));
        assert_eq!(state.take_deliverable(&mut thread), None);
        state.sigaction(2, Some(KernelSigaction { flags: syscall::SA_RESETHAND, ..handler(0x1000) })).unwrap();
        thread.sigprocmask(SigprocmaskHow::SetMask, Some(0));
        let (signal, action, own) = state.take_deliverable(&mut thread).unwrap();
        assert_eq!((signal, own), (Signal::SIGINT, false));
        assert_eq!(action.handler, 0x1000);
        assert_eq!(
            state.action(2),
            KernelSigaction { handler: SIG_DFL, flags: syscall::SA_RESETHAND, ..handler(0x1000) },
            "SA_RESETHAND resets the handler only"
        );
        // Ignoring a pending signal discards it; a caught SIGCHLD is posted.
        thread.sigprocmask(SigprocmaskHow::SetMask, Some(u64::MAX));
        state.post(Signal::SIGUSR1);
        assert!(state.post_to_thread(&mut thread, Signal::SIGUSR1));
        state.sigaction(10, Some(KernelSigaction { handler: SIG_IGN, ..Default::default() })).unwrap();
        state.discard_ignored(&mut thread);
        assert_eq!(state.pending(), 0);
        assert_eq!(thread.pending(), 0);
        state.sigaction(17, Some(handler(0x1000))).unwrap();
        assert!(state.post(Signal::SIGCHLD));
        // SIGKILL gets through any mask.
        state.post(Signal::SIGKILL);
        assert_eq!(state.take_deliverable(&mut thread).map(|(s, _, _)| s), Some(Signal::SIGKILL));
        let child = state.forked();
        assert_eq!(child.pending(), 0);
        assert_eq!(thread.inherited().mask(), thread.mask());
        assert_eq!(child.action(17), handler(0x1000));
    }

    #[test]
    fn a_thread_takes_its_own_signals_first() {
        let mut state = SignalState::new();
        let mut thread = ThreadSignals::new();
        let mut other = ThreadSignals::new();
        state.post(Signal::SIGUSR1);
        state.post_to_thread(&mut thread, Signal::SIGUSR2);
        assert!(state.has_deliverable(&other), "the process's signal is any thread's");
        assert_eq!(state.take_deliverable(&mut thread).map(|(s, _, own)| (s, own)), Some((Signal::SIGUSR2, true)));
        assert_eq!(state.take_deliverable(&mut other).map(|(s, _, own)| (s, own)), Some((Signal::SIGUSR1, false)));
        state.post_to_thread(&mut thread, Signal::SIGTERM);
        assert!(!state.has_deliverable(&other), "another thread's signal is not this one's");
        other.set_mask(u64::MAX);
        state.post(Signal::SIGINT);
        assert!(!state.has_deliverable(&other));
        assert!(!other.accepts(Signal::SIGINT) && thread.accepts(Signal::SIGINT));
    }

    #[test]
    fn take_pending_in_takes_from_the_set_only() {
        let mut state = SignalState::new();
        let mut thread = ThreadSignals::new();
        thread.set_mask(1 << 9); // SIGUSR1 blocked
        state.post(Signal::new(10).unwrap());
        state.post(Signal::new(12).unwrap());
        state.post_to_thread(&mut thread, Signal::new(15).unwrap());
        assert_eq!(state.take_pending_in(&mut thread, 1 << 13), None);
        assert_eq!(state.take_pending_in(&mut thread, (1 << 9) | (1 << 11)).map(|(s, _)| s.number()), Some(10));
        assert_eq!(state.pending(), 1 << 11);
        assert_eq!(state.take_pending_in(&mut thread, (1 << 11) | (1 << 14)).map(|(s, own)| (s.number(), own)), Some((15, true)));
        assert_eq!(state.take_pending_in(&mut thread, 1 << 11).map(|(s, _)| s.number()), Some(12));
        assert_eq!(state.pending(), 0);
    }
}
