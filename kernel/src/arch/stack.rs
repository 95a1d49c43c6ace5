//! Moving the boot CPU onto a kernel stack with a guard page.

/// Switches to the stack ending at `top` and calls `entry` there, ending the
/// frame-pointer chain. Never returns.
pub fn switch_to(top: u64, entry: extern "C" fn() -> !) -> ! {
    assert!(top.is_multiple_of(16), "kernel stack top must be 16-byte aligned");
    // SAFETY: `top` is the end of a freshly mapped, unused kernel stack; the old
    // stack is abandoned, and `entry` never returns.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            top = in(reg) top,
            entry = in(reg) entry,
            options(noreturn)
        )
    }
}

/// Recurses until the stack runs out (the stack-overflow test kernel).
#[inline(never)]
pub fn overflow(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let mut pad = [depth; 8];
    // Keep the frame and the recursion from being optimized away.
    core::hint::black_box(&mut pad);
    overflow(core::hint::black_box(depth) + 1) + pad[0]
}
