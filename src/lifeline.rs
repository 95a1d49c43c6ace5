//! Children that die with isola: QEMU, and the servers `isola bench http`
//! starts, must not outlive the `isola` that started them, however it ends
//! (Ctrl-C, SIGTERM, even SIGKILL, which runs no destructor and no handler).
//!
//! [`die_with_parent`] asks the kernel for that with `prctl(PR_SET_PDEATHSIG,
//! SIGKILL)` in the child, between fork and exec
//! (`std::os::unix::process::CommandExt::pre_exec`). This is the CLI's only
//! `unsafe` code (`pre_exec` and two libc calls); the crate root denies
//! `unsafe_code` everywhere else. It is an exception to the house rule
//! (unsafe only in `kernel/src/arch` and `pkru`'s gate), taken knowingly:
//! std offers no safe way to run code between fork and exec, and the QEMU
//! of these machines has no `-run-with exit-with-parent` (it answers
//! "invalid option"), which would have made the QEMU side safe code.
//!
//! The death signal is tied to the **thread** that spawned the child, not
//! to the process: spawn such children from a thread that lives as long as
//! they should (isola spawns QEMU and the bench servers from its main
//! thread).

#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Make the child that `cmd` spawns receive SIGKILL as soon as the thread
/// that spawned it (in practice: isola) is gone.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // Taken before the fork: the child compares it with its parent after
    // prctl, to catch a parent that died in between (then no signal comes).
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    let hook = move || -> io::Result<()> {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and
        // touches no memory; it is async-signal-safe, as the child of a
        // fork requires.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: getppid has no preconditions and is async-signal-safe.
        if unsafe { libc::getppid() } != parent {
            // isola died before prctl took effect: do not start at all.
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec; it only calls
    // prctl and getppid (async-signal-safe), allocates nothing (the errors
    // are raw OS codes) and touches no lock or state shared with the parent.
    unsafe { cmd.pre_exec(hook) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn the_child_still_runs_normally() {
        let out = die_with_parent(Command::new("sh").args(["-c", "echo ok; exit 4"]))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(out.stdout, b"ok\n");
    }

    #[test]
    fn the_child_dies_with_the_thread_that_spawned_it() {
        use std::os::unix::process::ExitStatusExt;
        use std::time::{Duration, Instant};
        let spawner = std::thread::spawn(|| {
            die_with_parent(Command::new("sleep").arg("30"))
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        });
        // The thread has ended: the kernel sends the child SIGKILL.
        let mut child = spawner.join().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("the child survived the thread that spawned it");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    }
}
