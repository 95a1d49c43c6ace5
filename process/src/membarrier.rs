//! membarrier(2)'s commands and the registrations a process's memory
//! holds (Linux keeps them on the mm: a fork child inherits them, execve
//! starts without). The kernel does the barrier itself; with one CPU it
//! is a fence on the calling CPU, since no other CPU runs anything.
//!
//! Supported: QUERY, GLOBAL, GLOBAL_EXPEDITED and its registration,
//! PRIVATE_EXPEDITED and PRIVATE_EXPEDITED_SYNC_CORE with theirs (EPERM
//! before registering, as Linux), GET_REGISTRATIONS. The RSEQ commands are
//! EINVAL, as on a Linux built without rseq (Isola has no rseq).

pub const MEMBARRIER_CMD_QUERY: i32 = 0;
pub const MEMBARRIER_CMD_GLOBAL: i32 = 1 << 0;
pub const MEMBARRIER_CMD_GLOBAL_EXPEDITED: i32 = 1 << 1;
pub const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: i32 = 1 << 2;
pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED: i32 = 1 << 3;
pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: i32 = 1 << 4;
pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 5;
pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 6;
pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 7;
pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 8;
pub const MEMBARRIER_CMD_GET_REGISTRATIONS: i32 = 1 << 9;
/// The only flag, of PRIVATE_EXPEDITED_RSEQ alone.
pub const MEMBARRIER_CMD_FLAG_CPU: u32 = 1;

/// What QUERY answers: every command served here.
pub const SUPPORTED: i32 = MEMBARRIER_CMD_GLOBAL
    | MEMBARRIER_CMD_GLOBAL_EXPEDITED
    | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
    | MEMBARRIER_CMD_PRIVATE_EXPEDITED
    | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
    | MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
    | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
    | MEMBARRIER_CMD_GET_REGISTRATIONS;

/// A process memory's registrations: the REGISTER_* command bits it ran
/// (what GET_REGISTRATIONS reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registrations(i32);

/// What a membarrier call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value; no barrier (QUERY, GET_REGISTRATIONS, a registration).
    Answer(i32),
    /// Run a memory barrier, then return 0.
    Barrier,
}

/// Why a call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Unknown command or flags: EINVAL.
    Invalid,
    /// A private expedited barrier before its registration: EPERM.
    NotRegistered,
}

impl Registrations {
    pub const NONE: Registrations = Registrations(0);

    /// membarrier(cmd, flags) on a memory with these registrations (a
    /// registration is added here).
    pub fn call(&mut self, cmd: i32, flags: u32) -> Result<Outcome, Refused> {
        let flags_ok = if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ { flags & !MEMBARRIER_CMD_FLAG_CPU == 0 } else { flags == 0 };
        if !flags_ok {
            return Err(Refused::Invalid);
        }
        let needs = |registration: i32, have: Registrations| {
            if have.0 & registration != 0 { Ok(Outcome::Barrier) } else { Err(Refused::NotRegistered) }
        };
        match cmd {
            MEMBARRIER_CMD_QUERY => Ok(Outcome::Answer(SUPPORTED)),
            MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_GLOBAL_EXPEDITED => Ok(Outcome::Barrier),
            MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
            | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
            | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
                self.0 |= cmd;
                Ok(Outcome::Answer(0))
            }
            MEMBARRIER_CMD_PRIVATE_EXPEDITED => needs(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, *self),
            MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE => needs(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, *self),
            MEMBARRIER_CMD_GET_REGISTRATIONS => Ok(Outcome::Answer(self.0)),
            _ => Err(Refused::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists_what_is_served() {
        let mut r = Registrations::NONE;
        assert_eq!(r.call(MEMBARRIER_CMD_QUERY, 0), Ok(Outcome::Answer(0x27f)));
        assert_eq!(r.call(MEMBARRIER_CMD_QUERY, 1), Err(Refused::Invalid));
        assert_eq!(r.call(MEMBARRIER_CMD_GLOBAL, 0), Ok(Outcome::Barrier));
        assert_eq!(r.call(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0), Ok(Outcome::Barrier), "no registration needed to send");
    }

    #[test]
    fn private_needs_registration() {
        let mut r = Registrations::NONE;
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0), Err(Refused::NotRegistered));
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0), Err(Refused::NotRegistered));
        assert_eq!(r.call(MEMBARRIER_CMD_GET_REGISTRATIONS, 0), Ok(Outcome::Answer(0)));
        assert_eq!(r.call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0), Ok(Outcome::Answer(0)));
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0), Ok(Outcome::Barrier));
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0), Err(Refused::NotRegistered), "its own registration");
        assert_eq!(r.call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0), Ok(Outcome::Answer(0)));
        assert_eq!(r.call(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0), Ok(Outcome::Answer(0)));
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0), Ok(Outcome::Barrier));
        assert_eq!(r.call(MEMBARRIER_CMD_GET_REGISTRATIONS, 0), Ok(Outcome::Answer(0x54)), "what Linux 6.18 reports");
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 1), Err(Refused::Invalid));
    }

    #[test]
    fn unknown_and_rseq_are_invalid() {
        let mut r = Registrations::NONE;
        for cmd in [3, 1 << 10, -1, i32::MIN, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ] {
            assert_eq!(r.call(cmd, 0), Err(Refused::Invalid), "{cmd}");
        }
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU), Err(Refused::Invalid));
        assert_eq!(r.call(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 2), Err(Refused::Invalid));
        assert_eq!(r, Registrations::NONE);
    }
}
