//! SysV IPC's constants (`<linux/ipc.h>`, `<linux/shm.h>`, `<linux/sem.h>`):
//! the shmctl and semctl commands, shmat's flags, the mode bits a segment
//! shows, and Linux's default limits. The structures are in
//! [`crate::layout`] ([`crate::IpcPerm`], [`crate::ShmidDs`], [`crate::SemidDs`]...).

/// Commands common to shmctl and semctl.
pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;

/// shmctl's own commands.
pub const SHM_LOCK: i32 = 11;
pub const SHM_UNLOCK: i32 = 12;
pub const SHM_STAT: i32 = 13;
pub const SHM_INFO: i32 = 14;
pub const SHM_STAT_ANY: i32 = 15;

/// semctl's own commands.
pub const GETPID: i32 = 11;
pub const GETVAL: i32 = 12;
pub const GETALL: i32 = 13;
pub const GETNCNT: i32 = 14;
pub const GETZCNT: i32 = 15;
pub const SETVAL: i32 = 16;
pub const SETALL: i32 = 17;
pub const SEM_STAT: i32 = 18;
pub const SEM_INFO: i32 = 19;
pub const SEM_STAT_ANY: i32 = 20;

/// shmat's flags.
pub const SHM_RDONLY: u64 = 0o10000;
pub const SHM_RND: u64 = 0o20000;
pub const SHM_REMAP: u64 = 0o40000;
pub const SHM_EXEC: u64 = 0o100000;
/// shmat's address alignment under SHM_RND (the page size on x86-64).
pub const SHMLBA: u64 = 4096;

/// A segment's mode bits beyond the permissions: marked for removal
/// (IPC_RMID while attached), and locked (SHM_LOCK).
pub const SHM_DEST: u32 = 0o1000;
pub const SHM_LOCKED: u32 = 0o2000;

/// Linux's default limits (`ipc/shm.c`, `<linux/sem.h>`).
pub const SHMMIN: u64 = 1;
pub const SHMMNI: usize = 4096;
pub const SEMMSL: usize = 32000;
pub const SEMMNI: usize = 32000;
pub const SEMOPM: usize = 500;
pub const SEMMAP: i32 = 1_024_000_000;
pub const SEMUSZ: i32 = 20;
