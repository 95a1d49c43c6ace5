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
