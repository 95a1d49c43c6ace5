//! Resource limits (`prlimit64`, `getrlimit`, `setrlimit`): one table of
//! every `RLIMIT_*` per process, inherited by `fork`, kept across `execve`.
//!
//! The table only stores and checks limits; what enforces each one lives
//! with the resource (`RLIMIT_NOFILE`: [`crate::FdTable::set_limit`], fed by
//! the kernel's `prlimit64`). Every process runs as root, which holds
//! `CAP_SYS_RESOURCE`: hard limits may rise, but `RLIMIT_NOFILE` never
//! above [`NR_OPEN`] (`EPERM`, as Linux's `fs.nr_open`).

use syscall::{Errno, RLIM_INFINITY, Resource, Rlimit};

use crate::fd::{DEFAULT_NOFILE, NR_OPEN};

/// Default `RLIMIT_NOFILE` hard limit (Linux's `INR_OPEN_MAX`).
pub const DEFAULT_NOFILE_MAX: u64 = 4096;

/// Default `RLIMIT_STACK` soft limit: 8 MiB.
pub const DEFAULT_STACK: u64 = 8 * 1024 * 1024;

/// Default `RLIMIT_NPROC` and `RLIMIT_SIGPENDING` (Linux derives them from
/// memory; any value of that order will do).
pub const DEFAULT_NPROC: u64 = 4096;

/// Most processes the kernel keeps at once, whatever the limits say (its
/// copy-on-write counts hold up to 65535 extra mappings of one frame).
pub const MAX_PROCESSES: u64 = 32768;

/// Bytes of RAM per process in the first process's `RLIMIT_NPROC`: fewer
/// than any process costs (a kernel stack and page tables alone take more),
/// so memory, not the limit, stops a fork bomb of root's at the defaults,
/// and a lowered limit stops it sooner (docs/limits.md).
pub const NPROC_RAM_PER_PROCESS: u64 = 16 * 1024;

/// The first process's `RLIMIT_NPROC` for `ram_bytes` of RAM (16384 at
/// 256 MiB), within `[DEFAULT_NPROC, MAX_PROCESSES]`.
pub const fn nproc_for_memory(ram_bytes: u64) -> u64 {
    let n = ram_bytes / NPROC_RAM_PER_PROCESS;
    if n < DEFAULT_NPROC {
        DEFAULT_NPROC
    } else if n > MAX_PROCESSES {
        MAX_PROCESSES
    } else {
        n
    }
}

/// The limits of one process; inherited by `fork`, kept across `execve`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResourceLimits {
    limits: [Rlimit; Resource::COUNT],
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self::new()
    }
}

impl ResourceLimits {
    /// Linux's defaults for the first process (`RLIMIT_NOFILE` 1024/4096).
    pub const fn new() -> Self {
        let mut limits = [Rlimit::INFINITY; Resource::COUNT];
        limits[Resource::Stack.index()] = Rlimit::new(DEFAULT_STACK, RLIM_INFINITY);
        limits[Resource::Core.index()] = Rlimit::new(0, RLIM_INFINITY);
        limits[Resource::Nproc.index()] = Rlimit::new(DEFAULT_NPROC, DEFAULT_NPROC);
        limits[Resource::Nofile.index()] = Rlimit::new(DEFAULT_NOFILE as u64, DEFAULT_NOFILE_MAX);
        limits[Resource::Memlock.index()] = Rlimit::new(8 * 1024 * 1024, 8 * 1024 * 1024);
        limits[Resource::Sigpending.index()] = Rlimit::new(DEFAULT_NPROC, DEFAULT_NPROC);
        limits[Resource::Msgqueue.index()] = Rlimit::new(819_200, 819_200);
        limits[Resource::Nice.index()] = Rlimit::new(0, 0);
        limits[Resource::Rtprio.index()] = Rlimit::new(0, 0);
        ResourceLimits { limits }
    }

    /// The first process's limits in a machine with `ram_bytes` of RAM:
    /// [`ResourceLimits::new`] with `RLIMIT_NPROC` from [`nproc_for_memory`].
    pub const fn for_memory(ram_bytes: u64) -> Self {
        let mut limits = Self::new();
        let nproc = nproc_for_memory(ram_bytes);
        limits.limits[Resource::Nproc.index()] = Rlimit::new(nproc, nproc);
        limits
    }

    /// The current limit of `resource`.
    pub fn get(&self, resource: Resource) -> Rlimit {
        self.limits[resource.index()]
    }

    /// `prlimit64`: returns the old limit and sets `new` if given. `EINVAL`
    /// if the new soft limit exceeds the new hard one; `EPERM` if a new
    /// `RLIMIT_NOFILE` hard limit exceeds [`NR_OPEN`]. Raising a hard limit
    /// is allowed: every process is root (`CAP_SYS_RESOURCE`).
    pub fn prlimit(&mut self, resource: Resource, new: Option<Rlimit>) -> Result<Rlimit, Errno> {
        let slot = &mut self.limits[resource.index()];
        let old = *slot;
        if let Some(new) = new {
            if new.rlim_cur > new.rlim_max {
                return Err(Errno::EINVAL);
            }
            if resource == Resource::Nofile && new.rlim_max > NR_OPEN as u64 {
                return Err(Errno::EPERM);
            }
            *slot = new;
        }
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let limits = ResourceLimits::new();
        assert_eq!(limits.get(Resource::Stack), Rlimit::new(8 << 20, RLIM_INFINITY));
        assert_eq!(limits.get(Resource::Nofile), Rlimit::new(1024, 4096));
        assert_eq!(limits.get(Resource::Core), Rlimit::new(0, RLIM_INFINITY));
        assert_eq!(limits.get(Resource::As), Rlimit::INFINITY);
        assert_eq!(limits.get(Resource::Cpu), Rlimit::INFINITY);
        assert_eq!(limits.get(Resource::Nproc).rlim_cur, DEFAULT_NPROC);
        assert_eq!(ResourceLimits::default(), limits);
    }

    #[test]
    fn nproc_follows_memory() {
        assert_eq!(nproc_for_memory(256 << 20), 16384);
        assert_eq!(nproc_for_memory(16 << 20), DEFAULT_NPROC, "never below the old default");
        assert_eq!(nproc_for_memory(64 << 30), MAX_PROCESSES, "never above what the kernel keeps");
        let limits = ResourceLimits::for_memory(256 << 20);
        assert_eq!(limits.get(Resource::Nproc), Rlimit::new(16384, 16384));
        assert_eq!(limits.get(Resource::As), Rlimit::INFINITY);
        assert_eq!(limits.get(Resource::Stack), ResourceLimits::new().get(Resource::Stack), "the rest as new()");
    }

    #[test]
    fn prlimit() {
        let mut limits = ResourceLimits::new();
        assert_eq!(limits.prlimit(Resource::Nofile, None), Ok(Rlimit::new(1024, 4096)));
        assert_eq!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(256, 1024))), Ok(Rlimit::new(1024, 4096)));
        assert_eq!(limits.get(Resource::Nofile), Rlimit::new(256, 1024));
        assert_eq!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(2048, 1024))), Err(Errno::EINVAL));
        assert_eq!(limits.get(Resource::Nofile), Rlimit::new(256, 1024), "unchanged after errors");
        // Root may raise a hard limit, RLIMIT_NOFILE up to NR_OPEN only.
        assert!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(512, 2048))).is_ok());
        assert!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(1 << 20, 1 << 20))).is_ok());
        assert_eq!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(1, (1 << 20) + 1))), Err(Errno::EPERM));
        assert_eq!(limits.prlimit(Resource::Nofile, Some(Rlimit::INFINITY)), Err(Errno::EPERM));
        assert_eq!(limits.get(Resource::Nofile), Rlimit::new(1 << 20, 1 << 20));
        assert!(limits.prlimit(Resource::Stack, Some(Rlimit::new(1 << 20, 16 << 20))).is_ok());
        assert_eq!(
            limits.prlimit(Resource::Stack, Some(Rlimit::new(16 << 20, RLIM_INFINITY))),
            Ok(Rlimit::new(1 << 20, 16 << 20))
        );
        // Infinity is the largest value.
        assert!(limits.prlimit(Resource::Core, Some(Rlimit::INFINITY)).is_ok());
        assert_eq!(limits.prlimit(Resource::Core, Some(Rlimit::new(RLIM_INFINITY, 0))), Err(Errno::EINVAL));
        // Forks inherit the table.
        assert_eq!(limits.clone().get(Resource::Nofile), Rlimit::new(1 << 20, 1 << 20));
    }
}
