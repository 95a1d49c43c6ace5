//! Resource limits (`prlimit64`, `getrlimit`, `setrlimit`).

use syscall::{Errno, RLIM_INFINITY, Resource, Rlimit};

use crate::fd::MAX_FDS;

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
    /// Linux's defaults for the first process, except `RLIMIT_NOFILE`
    /// 1024/1024 to match [`MAX_FDS`].
    pub const fn new() -> Self {
        let mut limits = [Rlimit::INFINITY; Resource::COUNT];
        limits[Resource::Stack.index()] = Rlimit::new(DEFAULT_STACK, RLIM_INFINITY);
        limits[Resource::Core.index()] = Rlimit::new(0, RLIM_INFINITY);
        limits[Resource::Nproc.index()] = Rlimit::new(DEFAULT_NPROC, DEFAULT_NPROC);
        limits[Resource::Nofile.index()] = Rlimit::new(MAX_FDS as u64, MAX_FDS as u64);
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
    /// if the new soft limit exceeds the new hard one; `EPERM` if the hard
    /// limit would rise (no process holds `CAP_SYS_RESOURCE`).
    pub fn prlimit(&mut self, resource: Resource, new: Option<Rlimit>) -> Result<Rlimit, Errno> {
        let slot = &mut self.limits[resource.index()];
        let old = *slot;
        if let Some(new) = new {
            if new.rlim_cur > new.rlim_max {
                return Err(Errno::EINVAL);
            }
            if new.rlim_max > old.rlim_max {
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
        assert_eq!(limits.get(Resource::Nofile), Rlimit::new(1024, 1024));
        assert_eq!(limits.get(Resource::Core), Rlimit::new(0, RLIM_INFINITY));
        assert_eq!(limits.get(Resource::As), Rlimit::INFINITY);
        assert_eq!(limits.get(Resource::Cpu), Rlimit::INFINITY);
        assert_eq!(limits.get(Resource::Nproc).rlim_cur, DEFAULT_NPROC);
        assert_eq!(ResourceLimits::default(), limits);
    }

    #[test]
    fn prlimit() {
        let mut limits = ResourceLimits::new();
        assert_eq!(limits.prlimit(Resource::Nofile, None), Ok(Rlimit::new(1024, 1024)));
        assert_eq!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(256, 1024))), Ok(Rlimit::new(1024, 1024)));
        assert_eq!(limits.get(Resource::Nofile), Rlimit::new(256, 1024));
        assert_eq!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(2048, 1024))), Err(Errno::EINVAL));
        assert_eq!(limits.prlimit(Resource::Nofile, Some(Rlimit::new(512, 2048))), Err(Errno::EPERM));
        assert_eq!(limits.get(Resource::Nofile), Rlimit::new(256, 1024), "unchanged after errors");
        // Lowering the hard limit is allowed and cannot be undone.
        assert!(limits.prlimit(Resource::Stack, Some(Rlimit::new(1 << 20, 16 << 20))).is_ok());
        assert_eq!(limits.prlimit(Resource::Stack, Some(Rlimit::new(1 << 20, 32 << 20))), Err(Errno::EPERM));
        assert_eq!(
            limits.prlimit(Resource::Stack, Some(Rlimit::new(16 << 20, 16 << 20))),
            Ok(Rlimit::new(1 << 20, 16 << 20))
        );
        // Infinity is the largest value.
        assert!(limits.prlimit(Resource::Core, Some(Rlimit::INFINITY)).is_ok());
        assert_eq!(limits.prlimit(Resource::Core, Some(Rlimit::new(RLIM_INFINITY, 0))), Err(Errno::EINVAL));
    }
}
