//! The x86-64 Linux signal frame (`struct rt_sigframe`), byte for byte, so
//! that glibc and musl handlers (`SA_SIGINFO` with `siginfo_t *` and
//! `ucontext_t *`) and their `sa_restorer` (`rt_sigreturn`) work unchanged.
//!
//! Layout (`arch/x86/include/asm/sigframe.h`, `uapi/asm/sigcontext.h`,
//! `uapi/asm/ucontext.h`, `uapi/asm-generic/siginfo.h`), from the frame
//! start, which is the handler's RSP at entry:
//!
//! | offset | size | field                                               |
//! |-------:|-----:|-----------------------------------------------------|
//! |      0 |    8 | `pretcode`: the `sa_restorer` address (return addr) |
//! |      8 |  304 | `struct ucontext`                                   |
//! |      8 |    8 | - `uc_flags`                                        |
//! |     16 |    8 | - `uc_link` (always 0)                              |
//! |     24 |   24 | - `uc_stack` (`stack_t`)                            |
//! |     48 |  256 | - `uc_mcontext` (`struct sigcontext_64`)            |
//! |    304 |    8 | - `uc_sigmask`                                      |
//! |    312 |  128 | `struct siginfo`                                    |
//! |    440 |  512 | FPU state: legacy FXSAVE image (`fpstate` points here) |
//!
//! [`frame_address`] places the frame so that the frame start is 8 modulo
//! 64: RSP at handler entry is then 8 modulo 16, as right after a `call`
//! (`pretcode` plays the return address), and the FPU area at offset 440 is
//! 64-byte aligned (FXSAVE needs 16).
//!
//! The FPU area is the 512-byte legacy FXSAVE image only: `uc_flags` has no
//! `UC_FP_XSTATE`, so user space does not look for an XSAVE extension after
//! it. **PKRU is never part of the frame**: the legacy image has no PKRU
//! component, and `rt_sigreturn` must never take PKRU from anything a
//! process can write; the kernel's return gate loads the PKRU kept in its
//! own process record. Before restoring the image with FXRSTOR, pass it
//! through [`sanitize_fxsave`].
//!
//! Neighbours: the kernel's signal delivery writes [`SignalFrame::to_bytes`]
//! to the user stack and `rt_sigreturn` reads it back with
//! [`SignalFrame::from_bytes`]; [`KernelSigaction`](crate::KernelSigaction)
//! supplies the handler and restorer.

use alloc::vec::Vec;

/// `uc_flags`: the frame has an XSAVE extension (never set here).
pub const UC_FP_XSTATE: u64 = 0x1;
/// `uc_flags`: `uc_mcontext.ss` holds the saved SS.
pub const UC_SIGCONTEXT_SS: u64 = 0x2;
/// `uc_flags`: `rt_sigreturn` restores SS exactly as saved.
pub const UC_STRICT_RESTORE_SS: u64 = 0x4;
/// The `uc_flags` Linux sets on a 64-bit frame without XSAVE state.
pub const UC_FLAGS_DEFAULT: u64 = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;

/// `si_code`: sent by `kill`.
pub const SI_USER: i32 = 0;
/// `si_code`: sent by the kernel.
pub const SI_KERNEL: i32 = 0x80;
/// `si_code`: sent by `sigqueue`.
pub const SI_QUEUE: i32 = -1;
/// `si_code`: sent by `tkill`/`tgkill`.
pub const SI_TKILL: i32 = -6;
/// SIGSEGV `si_code`: address not mapped.
pub const SEGV_MAPERR: i32 = 1;
/// SIGSEGV `si_code`: no permission for the mapped address.
pub const SEGV_ACCERR: i32 = 2;
/// SIGSEGV `si_code`: protection-key violation (`si_pkey` holds the key).
pub const SEGV_PKUERR: i32 = 4;
/// SIGBUS `si_code`: nonexistent physical address.
pub const BUS_ADRERR: i32 = 2;
/// SIGILL `si_code`: illegal opcode.
pub const ILL_ILLOPN: i32 = 2;
/// SIGFPE `si_code`: integer divide by zero.
pub const FPE_INTDIV: i32 = 1;
/// SIGTRAP `si_code`: breakpoint.
pub const TRAP_BRKPT: i32 = 1;
/// SIGCHLD `si_code`: the child exited (`si_status` = exit code).
pub const CLD_EXITED: i32 = 1;
/// SIGCHLD `si_code`: killed by a signal (`si_status` = signal).
pub const CLD_KILLED: i32 = 2;
/// SIGCHLD `si_code`: killed by a signal, dumped core.
pub const CLD_DUMPED: i32 = 3;
/// SIGCHLD `si_code`: traced child trapped.
pub const CLD_TRAPPED: i32 = 4;
/// SIGCHLD `si_code`: stopped (`si_status` = the stop signal).
pub const CLD_STOPPED: i32 = 5;
/// SIGCHLD `si_code`: continued.
pub const CLD_CONTINUED: i32 = 6;

/// `stack_t.ss_flags`: the process is running on the alternate stack.
pub const SS_ONSTACK: i32 = 1;
/// `stack_t.ss_flags`: the alternate stack is disabled.
pub const SS_DISABLE: i32 = 2;
/// `stack_t.ss_flags`: disarm the alternate stack while a handler runs on it.
pub const SS_AUTODISARM: i32 = 1 << 31;
/// Smallest alternate stack `sigaltstack` accepts (x86-64 `MINSIGSTKSZ`).
pub const MINSIGSTKSZ: u64 = 2048;

/// Bytes below the user RSP that user code may use without moving RSP.
pub const RED_ZONE: u64 = 128;

/// `stack_t` (24 bytes): `ss_sp` u64, `ss_flags` i32 and 4 bytes of
/// padding, `ss_size` u64. `uc_stack` of the frame and `sigaltstack`'s
/// argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct StackT {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

impl StackT {
    pub const SIZE: usize = 24;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        put(&mut out, 0, &self.sp.to_le_bytes());
        put(&mut out, 8, &self.flags.to_le_bytes());
        put(&mut out, 16, &self.size.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        StackT { sp: u64_at(bytes, 0), flags: u32_at(bytes, 8) as i32, size: u64_at(bytes, 16) }
    }

    /// Does `addr` lie inside this stack (`sp <= addr < sp + size`)?
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.sp && addr - self.sp < self.size
    }
}

/// `struct sigcontext_64` (256 bytes, `uc_mcontext`): the interrupted
/// registers. In glibc's `gregs[]` order: `REG_R8` = 0 .. `REG_RIP` = 16,
/// `REG_EFL`, `REG_CSGSFS` (cs, gs, fs, ss packed in one u64), `REG_ERR`,
/// `REG_TRAPNO`, `REG_OLDMASK`, `REG_CR2`; then the `fpstate` pointer and 8
/// reserved u64 (written as zeros, ignored on read).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    /// Absolute address of the FPU area (frame start +
    /// [`SignalFrame::FPU_OFFSET`]); 0 means "no FPU state" (Linux then
    /// resets the FPU on `rt_sigreturn`).
    pub fpstate: u64,
}

impl SigContext {
    pub const SIZE: usize = 256;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let regs = [
            self.r8, self.r9, self.r10, self.r11, self.r12, self.r13, self.r14, self.r15, self.rdi, self.rsi, self.rbp,
            self.rbx, self.rdx, self.rax, self.rcx, self.rsp, self.rip, self.eflags,
        ];
        for (i, reg) in regs.iter().enumerate() {
            put(&mut out, i * 8, &reg.to_le_bytes());
        }
        put(&mut out, 144, &self.cs.to_le_bytes());
        put(&mut out, 146, &self.gs.to_le_bytes());
        put(&mut out, 148, &self.fs.to_le_bytes());
        put(&mut out, 150, &self.ss.to_le_bytes());
        let tail = [self.err, self.trapno, self.oldmask, self.cr2, self.fpstate];
        for (i, value) in tail.iter().enumerate() {
            put(&mut out, 152 + i * 8, &value.to_le_bytes());
        }
        // 192..256: reserved1[8], zero.
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let r = |i: usize| u64_at(bytes, i * 8);
        SigContext {
            r8: r(0),
            r9: r(1),
            r10: r(2),
            r11: r(3),
            r12: r(4),
            r13: r(5),
            r14: r(6),
            r15: r(7),
            rdi: r(8),
            rsi: r(9),
            rbp: r(10),
            rbx: r(11),
            rdx: r(12),
            rax: r(13),
            rcx: r(14),
            rsp: r(15),
            rip: r(16),
            eflags: r(17),
            cs: u16_at(bytes, 144),
            gs: u16_at(bytes, 146),
            fs: u16_at(bytes, 148),
            ss: u16_at(bytes, 150),
            err: r(19),
            trapno: r(20),
            oldmask: r(21),
            cr2: r(22),
            fpstate: r(23),
        }
    }
}

/// `struct siginfo` (128 bytes): `si_signo`, `si_errno`, `si_code`, 4
/// bytes of padding, then the 112-byte union (`fields[0]` is byte 16 of the
/// siginfo).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub fields: [u8; 112],
}

impl Default for SigInfo {
    fn default() -> Self {
        SigInfo { signo: 0, errno: 0, code: 0, fields: [0; 112] }
    }
}

impl SigInfo {
    pub const SIZE: usize = 128;
    /// Offset of the union (`fields`) in the siginfo.
    pub const FIELDS_OFFSET: usize = 16;

    /// Writes `bytes` at `offset` of the siginfo (16 or more: the union).
    fn set(&mut self, offset: usize, bytes: &[u8]) {
        put(&mut self.fields, offset - Self::FIELDS_OFFSET, bytes);
    }

    /// A signal sent by `kill` (`SI_USER`): `si_pid` at 16, `si_uid` at 20.
    pub fn kill(signo: i32, pid: i32, uid: u32) -> SigInfo {
        let mut info = SigInfo { signo, code: SI_USER, ..SigInfo::default() };
        info.set(16, &pid.to_le_bytes());
        info.set(20, &uid.to_le_bytes());
        info
    }

    /// A fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP): `si_addr` at 16;
    /// with a `pkey` (SIGSEGV with `SEGV_PKUERR`), `si_pkey` at 32.
    pub fn fault(signo: i32, code: i32, addr: u64, pkey: Option<u32>) -> SigInfo {
        let mut info = SigInfo { signo, code, ..SigInfo::default() };
        info.set(16, &addr.to_le_bytes());
        if let Some(pkey) = pkey {
            info.set(32, &pkey.to_le_bytes());
        }
        info
    }

    /// SIGCHLD about a child (`code` one of `CLD_*`): `si_pid` at 16,
    /// `si_uid` at 20, `si_status` at 24 (the exit code for `CLD_EXITED`,
    /// else the signal); `si_utime`/`si_stime` (32, 40) are 0.
    pub fn child(pid: i32, uid: u32, code: i32, status: i32) -> SigInfo {
        let mut info = SigInfo { signo: crate::Signal::SIGCHLD.number() as i32, code, ..SigInfo::default() };
        info.set(16, &pid.to_le_bytes());
        info.set(20, &uid.to_le_bytes());
        info.set(24, &status.to_le_bytes());
        info
    }

    /// A signal-driven I/O event (F_SETSIG): `si_band` (the poll events)
    /// at 16, `si_fd` at 24.
    pub fn io(signo: i32, code: i32, band: i64, fd: i32) -> SigInfo {
        let mut info = SigInfo { signo, code, ..SigInfo::default() };
        info.set(16, &band.to_le_bytes());
        info.set(24, &fd.to_le_bytes());
        info
    }

    /// `si_pid` (kill, child); meaningless for a fault.
    pub fn pid(&self) -> i32 {
        u32_at(&self.fields, 0) as i32
    }

    /// `si_uid` (kill, child).
    pub fn uid(&self) -> u32 {
        u32_at(&self.fields, 4)
    }

    /// `si_status` (child).
    pub fn status(&self) -> i32 {
        u32_at(&self.fields, 8) as i32
    }

    /// `si_addr` (fault).
    pub fn addr(&self) -> u64 {
        u64_at(&self.fields, 0)
    }

    /// `si_pkey` (SIGSEGV with `SEGV_PKUERR`).
    pub fn pkey(&self) -> u32 {
        u32_at(&self.fields, 16)
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        put(&mut out, 0, &self.signo.to_le_bytes());
        put(&mut out, 4, &self.errno.to_le_bytes());
        put(&mut out, 8, &self.code.to_le_bytes());
        put(&mut out, Self::FIELDS_OFFSET, &self.fields);
        out
    }

    /// Reads a siginfo (`rt_sigqueueinfo`, `waitid` tests).
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut fields = [0; 112];
        fields.copy_from_slice(&bytes[Self::FIELDS_OFFSET..]);
        SigInfo {
            signo: u32_at(bytes, 0) as i32,
            errno: u32_at(bytes, 4) as i32,
            code: u32_at(bytes, 8) as i32,
            fields,
        }
    }
}

/// Size of the legacy FXSAVE image.
pub const FXSAVE_SIZE: usize = 512;
/// Offset of MXCSR in the FXSAVE image.
pub const FXSAVE_MXCSR_OFFSET: usize = 24;
/// Offset of MXCSR_MASK in the FXSAVE image.
pub const FXSAVE_MXCSR_MASK_OFFSET: usize = 28;
/// The MXCSR mask to assume when the CPU reports 0 (Intel SDM 11.6.6).
pub const MXCSR_MASK_DEFAULT: u32 = 0xffbf;

/// Bytes from the frame start (`pretcode`) to the end of the FPU area.
pub const FRAME_SIZE: usize = SignalFrame::FPU_OFFSET + FXSAVE_SIZE;

/// Alignment of the FPU area, in absolute addresses, for a frame placed by
/// [`frame_address`].
pub const FPU_ALIGN: u64 = 64;

/// Where to put a signal frame for a process whose RSP is `user_rsp`: below
/// the 128-byte red zone, with room for [`FRAME_SIZE`] bytes, at an address
/// that is 8 modulo 64. So at handler entry (RSP = frame start) RSP % 16 ==
/// 8, as after a `call`, and the FPU area is 64-byte aligned.
///
/// For the alternate stack, pass its top plus [`RED_ZONE`] (there is no red
/// zone to skip on a fresh stack). Returns the frame start; the caller
/// checks that `[start, start + FRAME_SIZE)` is writable user memory (a
/// `user_rsp` too low wraps, and the write then fails).
pub fn frame_address(user_rsp: u64) -> u64 {
    let top = user_rsp.wrapping_sub(RED_ZONE).wrapping_sub(FRAME_SIZE as u64);
    // Largest start <= top with start % 64 == 8.
    (top.wrapping_sub(8) & !(FPU_ALIGN - 1)).wrapping_add(8)
}

/// The whole `rt_sigframe`, as the kernel writes it to the user stack.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SignalFrame {
    /// `pretcode`: `sa_restorer`, where the handler's `ret` goes.
    pub restorer: u64,
    /// `uc_flags` ([`UC_FLAGS_DEFAULT`] as Linux; never [`UC_FP_XSTATE`]).
    pub uc_flags: u64,
    /// `uc_stack`: the `sigaltstack` settings ([`StackT::to_bytes`]).
    pub uc_stack: [u8; 24],
    /// `uc_mcontext`; `context.fpstate` should be frame start + [`SignalFrame::FPU_OFFSET`].
    pub context: SigContext,
    /// `uc_sigmask`: the mask to restore at `rt_sigreturn`.
    pub sigmask: u64,
    /// The siginfo (the handler's second argument).
    pub info: SigInfo,
    /// The legacy FXSAVE image (no PKRU in it, ever).
    pub fpu: [u8; 512],
}

impl SignalFrame {
    /// Offset of `struct ucontext` (the handler's RDX).
    pub const UCONTEXT_OFFSET: usize = 8;
    /// Size of `struct ucontext`.
    pub const UCONTEXT_SIZE: usize = 8 + 8 + StackT::SIZE + SigContext::SIZE + 8;
    /// Offset of `uc_stack`.
    pub const STACK_OFFSET: usize = Self::UCONTEXT_OFFSET + 16;
    /// Offset of `uc_mcontext`.
    pub const MCONTEXT_OFFSET: usize = Self::STACK_OFFSET + StackT::SIZE;
    /// Offset of `uc_sigmask`.
    pub const SIGMASK_OFFSET: usize = Self::MCONTEXT_OFFSET + SigContext::SIZE;
    /// Offset of the siginfo (the handler's RSI).
    pub const SIGINFO_OFFSET: usize = Self::UCONTEXT_OFFSET + Self::UCONTEXT_SIZE;
    /// Offset of the FPU area (16-byte aligned when the frame start is 8
    /// modulo 16; 64-byte aligned at an address from [`frame_address`]).
    pub const FPU_OFFSET: usize = Self::SIGINFO_OFFSET + SigInfo::SIZE;

    /// The frame's bytes: exactly [`FRAME_SIZE`], fields at Linux offsets,
    /// `uc_link` and the reserved words zero.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = alloc::vec![0; FRAME_SIZE];
        put(&mut out, 0, &self.restorer.to_le_bytes());
        put(&mut out, Self::UCONTEXT_OFFSET, &self.uc_flags.to_le_bytes());
        put(&mut out, Self::STACK_OFFSET, &self.uc_stack);
        put(&mut out, Self::MCONTEXT_OFFSET, &self.context.to_bytes());
        put(&mut out, Self::SIGMASK_OFFSET, &self.sigmask.to_le_bytes());
        put(&mut out, Self::SIGINFO_OFFSET, &self.info.to_bytes());
        put(&mut out, Self::FPU_OFFSET, &self.fpu);
        out
    }

    /// Reads a frame back for `rt_sigreturn`: `bytes` start at the frame
    /// start, which is the RSP at the `rt_sigreturn` syscall minus 8 (the
    /// handler's `ret` popped `pretcode`). `None` if fewer than
    /// [`FRAME_SIZE`] bytes; extra bytes are ignored.
    ///
    /// The FPU image is taken from [`SignalFrame::FPU_OFFSET`], where the
    /// kernel put it; `context.fpstate` is returned as read (Linux follows
    /// that pointer instead, and resets the FPU when it is 0; a kernel that
    /// wants the same reads the image from there). Nothing here is trusted:
    /// the caller sanitizes RFLAGS, segment selectors and RIP, and passes
    /// the image through [`sanitize_fxsave`].
    pub fn from_bytes(bytes: &[u8]) -> Option<SignalFrame> {
        let bytes = bytes.get(..FRAME_SIZE)?;
        let context: &[u8; SigContext::SIZE] =
            bytes[Self::MCONTEXT_OFFSET..Self::MCONTEXT_OFFSET + SigContext::SIZE].try_into().ok()?;
        let info: &[u8; SigInfo::SIZE] =
            bytes[Self::SIGINFO_OFFSET..Self::SIGINFO_OFFSET + SigInfo::SIZE].try_into().ok()?;
        Some(SignalFrame {
            restorer: u64_at(bytes, 0),
            uc_flags: u64_at(bytes, Self::UCONTEXT_OFFSET),
            uc_stack: bytes[Self::STACK_OFFSET..Self::STACK_OFFSET + StackT::SIZE].try_into().ok()?,
            context: SigContext::from_bytes(context),
            sigmask: u64_at(bytes, Self::SIGMASK_OFFSET),
            info: SigInfo::from_bytes(info),
            fpu: bytes[Self::FPU_OFFSET..FRAME_SIZE].try_into().ok()?,
        })
    }
}

/// Makes an FXSAVE image read back from user memory safe for FXRSTOR:
/// clears the MXCSR bits outside `mxcsr_mask` (the CPU's MXCSR_MASK; 0
/// means the default [`MXCSR_MASK_DEFAULT`] = 0xffbf), since FXRSTOR raises
/// #GP on a reserved MXCSR bit. Nothing else in the legacy image can fault.
/// The image has no PKRU: restoring it never changes PKRU.
pub fn sanitize_fxsave(image: &mut [u8; 512], mxcsr_mask: u32) {
    let mask = if mxcsr_mask == 0 { MXCSR_MASK_DEFAULT } else { mxcsr_mask };
    let mxcsr = u32_at(image, FXSAVE_MXCSR_OFFSET) & mask;
    put(image, FXSAVE_MXCSR_OFFSET, &mxcsr.to_le_bytes());
}

fn put(buf: &mut [u8], offset: usize, bytes: &[u8]) {
    buf[offset..offset + bytes.len()].copy_from_slice(bytes);
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut out = [0; 8];
    out.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(out)
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut out = [0; 4];
    out.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(out)
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_context() -> SigContext {
        SigContext {
            r8: 0x0808,
            r9: 0x0909,
            r10: 0x1010,
            r11: 0x1111,
            r12: 0x1212,
            r13: 0x1313,
            r14: 0x1414,
            r15: 0x1515,
            rdi: 0xd1,
            rsi: 0x51,
            rbp: 0xb0,
            rbx: 0xb1,
            rdx: 0xd2,
            rax: 0xa0,
            rcx: 0xc0,
            rsp: 0x7fff_0000,
            rip: 0x40_1234,
            eflags: 0x246,
            cs: 0x33,
            gs: 0x44,
            fs: 0x55,
            ss: 0x2b,
            err: 4,
            trapno: 14,
            oldmask: 0xdead,
            cr2: 0xbad_add,
            fpstate: 0x7ffe_f1c0,
        }
    }

    fn sample_frame() -> SignalFrame {
        let mut fpu = [0u8; 512];
        for (i, byte) in fpu.iter_mut().enumerate() {
            *byte = i as u8;
        }
        SignalFrame {
            restorer: 0x40_9000,
            uc_flags: UC_FLAGS_DEFAULT,
            uc_stack: StackT { sp: 0x5000, flags: SS_DISABLE, size: 0x2000 }.to_bytes(),
            context: sample_context(),
            sigmask: 1 << 9 | 1 << 1,
            info: SigInfo::fault(11, SEGV_PKUERR, 0xdead_beef, Some(3)),
            fpu,
        }
    }

    fn u64_le(bytes: &[u8], offset: usize) -> u64 {
        u64_at(bytes, offset)
    }

    fn i32_le(bytes: &[u8], offset: usize) -> i32 {
        u32_at(bytes, offset) as i32
    }

    #[test]
    fn sizes_match_linux() {
        assert_eq!(SigContext::SIZE, 256, "sizeof(struct sigcontext)");
        assert_eq!(SignalFrame::UCONTEXT_SIZE, 304, "sizeof(struct ucontext)");
        assert_eq!(SigInfo::SIZE, 128, "sizeof(siginfo_t)");
        assert_eq!(StackT::SIZE, 24, "sizeof(stack_t)");
        assert_eq!(SignalFrame::UCONTEXT_OFFSET, 8);
        assert_eq!(SignalFrame::STACK_OFFSET, 24);
        assert_eq!(SignalFrame::MCONTEXT_OFFSET, 48);
        assert_eq!(SignalFrame::SIGMASK_OFFSET, 8 + 296);
        assert_eq!(SignalFrame::SIGINFO_OFFSET, 312);
        assert_eq!(SignalFrame::FPU_OFFSET, 440);
        assert_eq!(FRAME_SIZE, 952);
        assert_eq!(sample_frame().to_bytes().len(), FRAME_SIZE);
    }

    #[test]
    fn sigcontext_offsets_match_glibc_gregs() {
        let bytes = sample_context().to_bytes();
        // glibc REG_* indices: R8 0 .. R15 7, RDI 8, RSI 9, RBP 10, RBX 11,
        // RDX 12, RAX 13, RCX 14, RSP 15, RIP 16, EFL 17, CSGSFS 18, ERR 19,
        // TRAPNO 20, OLDMASK 21, CR2 22; then fpregs, __reserved1[8].
        let expect = [
            (0, 0x0808),
            (7, 0x1515),
            (8, 0xd1),
            (9, 0x51),
            (10, 0xb0),
            (11, 0xb1),
            (12, 0xd2),
            (13, 0xa0),
            (14, 0xc0),
            (15, 0x7fff_0000),
            (16, 0x40_1234),
            (17, 0x246),
            (18, 0x002b_0055_0044_0033),
            (19, 4),
            (20, 14),
            (21, 0xdead),
            (22, 0xbad_add),
            (23, 0x7ffe_f1c0),
        ];
        for (index, value) in expect {
            assert_eq!(u64_le(&bytes, index * 8), value, "gregs[{index}]");
        }
        assert!(bytes[192..].iter().all(|&b| b == 0), "reserved1 zero");
        assert_eq!(SigContext::from_bytes(&bytes), sample_context());
    }

    #[test]
    fn frame_fields_at_linux_offsets() {
        let frame = sample_frame();
        let bytes = frame.to_bytes();
        assert_eq!(u64_le(&bytes, 0), 0x40_9000, "pretcode");
        assert_eq!(u64_le(&bytes, 8), UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, "uc_flags");
        assert_eq!(u64_le(&bytes, 16), 0, "uc_link");
        assert_eq!(u64_le(&bytes, 24), 0x5000, "ss_sp");
        assert_eq!(i32_le(&bytes, 32), SS_DISABLE, "ss_flags");
        assert_eq!(u64_le(&bytes, 40), 0x2000, "ss_size");
        assert_eq!(u64_le(&bytes, 48), 0x0808, "r8");
        assert_eq!(u64_le(&bytes, 48 + 16 * 8), 0x40_1234, "rip");
        assert_eq!(u64_le(&bytes, 48 + 184), 0x7ffe_f1c0, "fpstate");
        assert_eq!(u64_le(&bytes, 304), 1 << 9 | 1 << 1, "uc_sigmask");
        assert_eq!(i32_le(&bytes, 312), 11, "si_signo");
        assert_eq!(i32_le(&bytes, 312 + 4), 0, "si_errno");
        assert_eq!(i32_le(&bytes, 312 + 8), SEGV_PKUERR, "si_code");
        assert_eq!(u64_le(&bytes, 312 + 16), 0xdead_beef, "si_addr");
        assert_eq!(i32_le(&bytes, 312 + 32), 3, "si_pkey");
        assert_eq!(&bytes[440..], &frame.fpu[..]);
    }

    #[test]
    fn frame_round_trip() {
        let frame = sample_frame();
        let bytes = frame.to_bytes();
        assert_eq!(SignalFrame::from_bytes(&bytes), Some(frame));
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0xff; 16]);
        assert_eq!(SignalFrame::from_bytes(&longer), Some(frame), "extra bytes ignored");
        assert_eq!(SignalFrame::from_bytes(&bytes[..FRAME_SIZE - 1]), None);
        assert_eq!(SignalFrame::from_bytes(&[]), None);
        // The reserved words and uc_link do not survive (they are not fields).
        let mut dirty = bytes.clone();
        dirty[16] = 0xaa;
        dirty[48 + 200] = 0xbb;
        assert_eq!(SignalFrame::from_bytes(&dirty), Some(frame));
    }

    #[test]
    fn siginfo_constructors() {
        let kill = SigInfo::kill(15, 42, 1000).to_bytes();
        assert_eq!((i32_le(&kill, 0), i32_le(&kill, 4), i32_le(&kill, 8)), (15, 0, SI_USER));
        assert_eq!(i32_le(&kill, 16), 42, "si_pid");
        assert_eq!(i32_le(&kill, 20), 1000, "si_uid");
        assert!(kill[24..].iter().all(|&b| b == 0));

        let fault = SigInfo::fault(11, SEGV_MAPERR, 0x1000, None);
        let bytes = fault.to_bytes();
        assert_eq!(i32_le(&bytes, 8), SEGV_MAPERR);
        assert_eq!(u64_le(&bytes, 16), 0x1000, "si_addr");
        assert!(bytes[24..].iter().all(|&b| b == 0), "no pkey");
        assert_eq!((fault.addr(), fault.pkey()), (0x1000, 0));
        let pku = SigInfo::fault(11, SEGV_PKUERR, u64::MAX, Some(15));
        assert_eq!(i32_le(&pku.to_bytes(), 32), 15);
        assert_eq!(pku.pkey(), 15);

        let child = SigInfo::child(7, 0, CLD_KILLED, 9);
        let bytes = child.to_bytes();
        assert_eq!(i32_le(&bytes, 0), 17, "SIGCHLD");
        assert_eq!(i32_le(&bytes, 8), CLD_KILLED);
        assert_eq!((i32_le(&bytes, 16), i32_le(&bytes, 20), i32_le(&bytes, 24)), (7, 0, 9));
        assert_eq!((child.pid(), child.uid(), child.status()), (7, 0, 9));
        assert_eq!(u64_le(&bytes, 32), 0, "si_utime");

        for info in [SigInfo::kill(-1, -2, u32::MAX), fault, pku, child, SigInfo::default()] {
            assert_eq!(SigInfo::from_bytes(&info.to_bytes()), info);
        }
        assert_eq!(SigInfo::kill(2, -5, 0).pid(), -5);
    }

    #[test]
    fn stack_t_layout() {
        let stack = StackT { sp: 0x1000, flags: SS_ONSTACK | SS_AUTODISARM, size: 0x4000 };
        let bytes = stack.to_bytes();
        assert_eq!(u64_le(&bytes, 0), 0x1000);
        assert_eq!(u32_at(&bytes, 8), 0x8000_0001);
        assert_eq!(u32_at(&bytes, 12), 0, "padding");
        assert_eq!(u64_le(&bytes, 16), 0x4000);
        assert_eq!(StackT::from_bytes(&bytes), stack);
        assert!(stack.contains(0x1000) && stack.contains(0x4fff));
        assert!(!stack.contains(0x5000) && !stack.contains(0xfff));
        assert!(!StackT { sp: u64::MAX - 1, flags: 0, size: 1 }.contains(u64::MAX));
    }

    #[test]
    fn frame_address_alignment() {
        for rsp in [0x7fff_ffff_f000u64, 0x7fff_ffff_efff, 0x7fff_ffff_eff8, 0x1_0008, 0x1_0000 + 63, 0x8000_0000_0000] {
            let start = frame_address(rsp);
            assert_eq!(start % 16, 8, "rsp at handler entry is 8 mod 16 ({rsp:#x})");
            assert_eq!((start + SignalFrame::FPU_OFFSET as u64) % 64, 0, "fpu area 64-aligned ({rsp:#x})");
            assert!(start + FRAME_SIZE as u64 <= rsp - RED_ZONE, "red zone skipped ({rsp:#x})");
            assert!(start + FRAME_SIZE as u64 + 64 > rsp - RED_ZONE, "no more than alignment wasted ({rsp:#x})");
        }
        // Every RSP modulo 64 lands on the same kind of address.
        let base = 0x7000_0000u64;
        for delta in 0..128 {
            let start = frame_address(base + delta);
            assert_eq!(start % 64, 8);
            assert!(start + FRAME_SIZE as u64 <= base + delta - RED_ZONE);
        }
        // Alternate stack: pass its top plus RED_ZONE; the frame fits inside.
        let (alt_sp, alt_size) = (0x60_0000u64, MINSIGSTKSZ);
        let start = frame_address(alt_sp + alt_size + RED_ZONE);
        assert!(start >= alt_sp && start + FRAME_SIZE as u64 <= alt_sp + alt_size);
        // A tiny RSP wraps instead of panicking; the user write then fails.
        let _ = frame_address(16);
    }

    #[test]
    fn sanitize_fxsave_clears_reserved_mxcsr_bits() {
        let mut image = [0u8; 512];
        put(&mut image, FXSAVE_MXCSR_OFFSET, &0xffff_ffffu32.to_le_bytes());
        put(&mut image, 0, &0x037fu16.to_le_bytes());
        let before = image;
        sanitize_fxsave(&mut image, 0);
        assert_eq!(u32_at(&image, FXSAVE_MXCSR_OFFSET), 0xffbf, "default mask");
        assert_eq!(image[..24], before[..24], "the rest untouched");
        assert_eq!(image[28..], before[28..]);
        put(&mut image, FXSAVE_MXCSR_OFFSET, &0xffff_ffffu32.to_le_bytes());
        sanitize_fxsave(&mut image, 0xffff);
        assert_eq!(u32_at(&image, FXSAVE_MXCSR_OFFSET), 0xffff, "DAZ allowed by a 0xffff mask");
        put(&mut image, FXSAVE_MXCSR_OFFSET, &0x1f80u32.to_le_bytes());
        sanitize_fxsave(&mut image, 0xffbf);
        assert_eq!(u32_at(&image, FXSAVE_MXCSR_OFFSET), 0x1f80, "the reset value is kept");
    }
}
