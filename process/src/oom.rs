//! The out-of-memory killer's choice: when a page fault cannot get a frame,
//! the process holding the most memory dies (Linux's `oom_badness` without
//! its tuning knobs), never pid 1 while another candidate exists, and never
//! a process merely because it was the one that faulted.
//!
//! The kernel gathers the candidates (live processes with their resident
//! frames), kills the choice with SIGKILL, and lets the faulting process
//! retry once the victim's memory is back.

use crate::Pid;

/// A live process the killer may pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub pid: Pid,
    /// Frames mapped in its address space (its resident set).
    pub frames: u64,
    /// Already killed and not yet gone: its memory is on its way back.
    pub dying: bool,
}

/// What the killer should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Kill this process.
    Kill(Pid),
    /// A victim is already dying: wait for its memory instead of killing another.
    Wait,
    /// Nobody to kill (no candidate at all).
    Nobody,
}

/// Chooses among `candidates`: the one with the most frames (on a tie the
/// older, lower pid, as Linux's first-found maximum), pid 1 only when it is
/// the only one. If a dying candidate exists, waits for it instead.
pub fn choose(candidates: impl IntoIterator<Item = Candidate>) -> Verdict {
    let mut best: Option<Candidate> = None;
    let mut init = None;
    for candidate in candidates {
        if candidate.dying {
            return Verdict::Wait;
        }
        if candidate.pid == Pid::INIT {
            init = Some(candidate.pid);
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => candidate.frames > b.frames || (candidate.frames == b.frames && candidate.pid < b.pid),
        };
        if better {
            best = Some(candidate);
        }
    }
    match (best, init) {
        (Some(b), _) => Verdict::Kill(b.pid),
        (None, Some(init)) => Verdict::Kill(init),
        (None, None) => Verdict::Nobody,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(pid: u32, frames: u64) -> Candidate {
        Candidate { pid: Pid::new(pid), frames, dying: false }
    }

    #[test]
    fn the_biggest_dies_not_the_one_that_faulted() {
        // Whoever faulted is not an input: only sizes count.
        assert_eq!(choose([c(1, 10), c(2, 5), c(3, 500), c(4, 7)]), Verdict::Kill(Pid::new(3)));
    }

    #[test]
    fn pid_1_only_when_alone() {
        assert_eq!(choose([c(1, 10_000), c(2, 1)]), Verdict::Kill(Pid::new(2)));
        assert_eq!(choose([c(1, 10_000)]), Verdict::Kill(Pid::INIT));
        assert_eq!(choose([]), Verdict::Nobody);
    }

    #[test]
    fn ties_go_to_the_older() {
        assert_eq!(choose([c(9, 50), c(4, 50), c(7, 50)]), Verdict::Kill(Pid::new(4)));
    }

    #[test]
    fn a_dying_victim_is_waited_for() {
        let dying = Candidate { pid: Pid::new(5), frames: 1, dying: true };
        assert_eq!(choose([c(2, 100), dying, c(3, 200)]), Verdict::Wait);
    }
}
