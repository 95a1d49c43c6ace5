//! fork, vfork and fork-like clone: a new process with a new key whose
//! address space aliases the parent's pages copy-on-write, a copy of the
//! file table (sharing the open file descriptions), the signal dispositions,
//! the working directory, and one thread: a copy of the calling one, with
//! its registers and rax = 0.

use alloc::boxed::Box;

use pkru::KeySet;
use pkru::gate::SyscallFrame;
use process::Pid;
use syscall::Errno;

use super::Process;
use crate::arch::paging::AddressSpace;

/// Frames processes must still be able to take for a fork to start, and
/// once its records are made (256 KiB).
const FORK_HEADROOM_FRAMES: usize = 64;

/// Kernel heap a fork's records may take, with room to spare (the process
/// and thread records, table entries, the fd table and region lists).
const FORK_HEAP_BYTES: usize = 64 << 10;

/// Whether a fork may start: the headroom is there, and stays there if
/// the child's records make the heap grow. The heap grows by at least
/// 1 MiB at a time and may take frames processes would have used; a fork
/// that let it grow into the headroom would leave the next copy-on-write
/// fault (the parent's stack, the child's first write) to the OOM killer.
fn room_to_fork() -> bool {
    let room = || {
        let available = crate::mm::frame::user_available();
        available >= FORK_HEADROOM_FRAMES
            && (crate::mm::heap_free_bytes() >= FORK_HEAP_BYTES
                || available >= FORK_HEADROOM_FRAMES + crate::mm::heap_growth_frames(FORK_HEAP_BYTES))
    };
    // The kernel stacks kept for reuse give their frames back first.
    room() || (crate::mm::drop_cached_stacks() && room())
}

/// The child of `parent`, ready to run: it returns from the fork with rax = 0
/// and `child_stack` as its stack if non-zero (clone). With `vfork` the child
/// runs in the parent's memory and domain (the parent waits, holding a stand-in)
/// until it execs or exits; otherwise it gets a new key and a copy-on-write
/// copy of the parent's memory.
pub fn fork(parent: &mut Process, frame: &SyscallFrame, pid: Pid, child_stack: u64, vfork: bool) -> Result<Box<Process>, Errno> {
    // Leave room for the copy-on-write faults that follow every fork (the
    // parent's stack, the child's first writes): a fork bomb then ends in
    // ENOMEM for the forker rather than in the OOM killer.
    if !vfork && !room_to_fork() {
        return Err(Errno::ENOMEM);
    }
    let (key, memory, pkru) = if vfork {
        let key = parent.memory.key;
        let memory = core::mem::replace(&mut parent.memory, super::memory::Memory::lent(key));
        (key, memory, parent.pkru)
    } else {
        // The child's pages live in its own tables only: any key not used there works.
        let key = super::KEYS.lock().allocate(KeySet::EMPTY).map_err(|_| Errno::EAGAIN)?;
        let release_key = |e: Errno| {
            let _ = super::KEYS.lock().release(key);
            e
        };
        let space =
            crate::mm::with_kernel_space(|kernel| AddressSpace::new_user(kernel)).map_err(|_| release_key(Errno::ENOMEM))?;
        let memory = parent.memory.fork(space, key).map_err(release_key)?;
        // The child is a member of the parent's shared domains.
        let pkru = memory.membership.pkru(key);
        (key, memory, pkru)
    };
    let kernel_stack = match crate::mm::allocate_stack(super::exec::KERNEL_STACK_PAGES) {
        Ok(stack) => stack,
        Err(_) => {
            if vfork {
                parent.memory = memory;
            } else {
                let mut memory = memory;
                memory.release();
                memory.space.free_root();
                let _ = super::KEYS.lock().release(key);
            }
            return Err(Errno::ENOMEM);
        }
    };
    let mut child_frame = *frame;
    child_frame.rax = 0;
    if child_stack != 0 {
        child_frame.rsp = child_stack;
    }
    child_frame.rcx = child_frame.rip;
    child_frame.r11 = child_frame.rflags;
    let caller = parent.thread_mut();
    caller.fpu.save();
    let mut thread = super::Thread::new(pid, kernel_stack, &child_frame, caller.fpu.duplicate());
    thread.fs_base = caller.fs_base;
    thread.sigaltstack = caller.sigaltstack;
    thread.signals = caller.signals.inherited();
    // The records just made may have grown the kernel heap into the frames
    // processes use: checked again, so that the headroom holds after the
    // fork too (the children of a fork bomb exit without the OOM killer).
    if !vfork && crate::mm::frame::user_available() < FORK_HEADROOM_FRAMES {
        let thread = *thread;
        crate::mm::free_stack(thread.kernel_stack);
        let mut memory = memory;
        memory.release();
        memory.space.free_root();
        let _ = super::KEYS.lock().release(key);
        return Err(Errno::ENOMEM);
    }
    Ok(Box::new(Process {
        pid,
        name: parent.name.clone(),
        exe: parent.exe.clone(),
        cmdline: parent.cmdline.clone(),
        args_area: parent.args_area,
        pkru,
        memory,
        files: parent.files.clone(),
        cwd: parent.cwd,
        signals: parent.signals.forked(),
        limits: parent.limits.clone(),
        umask: parent.umask,
        groups: parent.groups.clone(),
        identity_generation: parent.identity_generation,
        creds: parent.creds,
        cpu: ::process::CpuClock::new(),
        children_usage: ::process::Rusage::default(),
        maxrss_before_exec_kib: 0,
        threads: alloc::vec![thread],
        exit_status: None,
        vfork_parent: vfork.then_some(parent.pid),
        alarm_at: None,
        alarm_interval: 0,
    }))
}
