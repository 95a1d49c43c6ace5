//! Frame-pointer backtraces (the kernel is built with frame pointers). Every
//! frame is checked against the active page tables before it is read, so a
//! broken chain ends the trace instead of faulting inside the fault reporter.

use paging::VirtAddr;

use super::paging::translate_current;

/// Most frames a backtrace prints.
pub const MAX_FRAMES: usize = 32;

/// Calls `visit` with each return address found from the frame at `rbp` up.
pub fn walk(mut rbp: u64, mut visit: impl FnMut(u64)) {
    for _ in 0..MAX_FRAMES {
        if rbp == 0 || !rbp.is_multiple_of(8) || rbp < 0xffff_8000_0000_0000 {
            return;
        }
        // [rbp] = caller's rbp, [rbp + 8] = return address; both in one page (aligned).
        let readable = translate_current(VirtAddr::new(rbp)).is_some()
            && translate_current(VirtAddr::new(rbp + 8)).is_some();
        if !readable {
            return;
        }
        // SAFETY: both words are mapped (checked above) and reading them has no side effects.
        let (next, ret) = unsafe { ((rbp as *const u64).read_volatile(), ((rbp + 8) as *const u64).read_volatile()) };
        if ret == 0 {
            return;
        }
        visit(ret);
        if next <= rbp {
            return;
        }
        rbp = next;
    }
}
