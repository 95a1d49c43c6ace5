//! The process-facing gates of GATE.md: the `syscall` entry, the return to
//! a process, the interrupt and exception entry and exit, and the abort.
//! Built only for the kernel target (`target_os = "none"`): the code refers
//! to symbols the kernel defines:
//!
//! - `isola_entry_area: EntryArea`: per-CPU scratch, mapped U/S=0 (a process
//!   in ring 0 can write it, so nothing read from it is trusted);
//! - `isola_gate_cpu: GateCpu`: per-CPU state in key-0 memory (trusted);
//! - `isola_published_pkru: u64`: the PKRU this CPU is meant to run, on the
//!   key-15 page that processes may read but never write;
//! - `isola_iret_area: [u64; 5]`: per-CPU, U/S=0: where the `strict`
//!   return builds its `iretq` frame;
//! - `isola_syscall_dispatch(*mut SyscallFrame)` (a syscall, on the
//!   process's kernel stack), `isola_trap_entry(*mut TrapFrame)` (a trap
//!   that interrupted the kernel, on the IST stack), `isola_process_trap(
//!   *mut SyscallFrame, *const TrapFrame)` (a trap in process code, on the
//!   process's kernel stack, with the IST frame it came in on) and
//!   `isola_gate_violation() -> !`.
//!
//! Three variants exist of each entry: `_mpk` switches PKRU (isolation level
//! `mpk`: the kernel runs with its own PKRU), `_strict` loads the caller's
//! own PKRU (level `strict`: the process is in ring 3, the kernel's memory
//! is supervisor-only, so the kernel serves a call with the caller's rights
//! on user pages), `_none` does not (no PKU: WRPKRU would raise #UD). The
//! kernel picks one at boot (LSTAR, IDT); the return gate branches on the
//! level (key-0 gate state).
//!
//! What a jump into the middle of any sequence can reach:
//! - the entry WRPKRUs compare against the kernel PKRU as an immediate, and
//!   then take the kernel stack from key-0 memory: the kernel runs its normal
//!   path with trusted state;
//! - the exit WRPKRUs compare against the published value on the key-15
//!   page: a forged EAX aborts (or faults on the compare's own read);
//! - the code after the entry WRPKRUs reads key-0 memory first, so entering
//!   it with a process PKRU faults and kills the process;
//! - the interrupt path decides "from a process or from the kernel" once,
//!   from the key-0 `in_process` word with interrupts off, and the answer
//!   is the code path itself: a nested trap cannot flip it (the outer
//!   entry's choice lives in its own instruction pointer, not in a global);
//! - a trap from a process continues on the process's key-0 kernel stack,
//!   and only after its frame was found on an IST stack (a forged RSP
//!   aborts); it leaves through the return gate, like a syscall;
//! - the kernel-only loads (`isola_gate_load_*`) check, after their
//!   WRPKRU, the value against an immediate or the key-15 page and then that
//!   `in_process` is clear: jumped to by a process, they abort;
//! - the return to kernel code never changes PKRU.

use core::arch::global_asm;
use core::mem::offset_of;

/// The kernel's PKRU, compared as an immediate by the entry gates.
const KERNEL_PKRU_BITS: u32 = crate::Pkru::KERNEL.bits();

/// Per-CPU scratch for the entry and exit gates (mapped U/S=0).
#[repr(C)]
#[derive(Debug, Default)]
pub struct EntryArea {
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub r11: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
    pub spare: u64,
}

/// Per-CPU gate state in key-0 memory: what the gates trust.
#[repr(C)]
#[derive(Debug, Default)]
pub struct GateCpu {
    /// Top of the kernel stack of the process running on this CPU.
    pub kernel_rsp: u64,
    /// The PKRU of the process running on this CPU (low 32 bits).
    pub process_pkru: u64,
    /// 1 while a process runs on this CPU: set by the return gate just
    /// before it loads the process's PKRU, cleared by every entry that finds
    /// it set. An interrupt or exception that finds it set came from a
    /// process (or from code a process jumped to); one that finds it clear
    /// interrupted the kernel. Each entry decides once, from this key-0 word,
    /// and the decision is carried by which code path runs (and on which
    /// stack), never by a flag a nested entry could rewrite.
    pub in_process: u64,
    /// Lowest address a genuine interrupt frame from a process can have (the
    /// bottom of the IST stacks).
    pub ist_low: u64,
    /// Highest address a genuine `TrapFrame` can start at (the top of the IST
    /// stacks less one frame). A process that jumps into the interrupt path
    /// with its own RSP outside `[ist_low, ist_high]` is aborted.
    pub ist_high: u64,
    /// 1 when the isolation level is `mpk` or `strict` (the gates switch PKRU).
    pub pku: u64,
    /// 1 at level `strict`: processes run in ring 3 and the return gate
    /// leaves with `iretq` to the user segments.
    pub strict: u64,
}

/// The user code and stack selectors of level `strict` (GDT slots 6 and 5,
/// RPL 3), as `sysret` would compute them from STAR (base 0x20).
pub const USER_CODE_SELECTOR: u64 = 0x33;
/// See [`USER_CODE_SELECTOR`].
pub const USER_DATA_SELECTOR: u64 = 0x2b;

/// RFLAGS bits a process may set for itself at level `strict` (CF, PF, AF,
/// ZF, SF, TF, DF, OF, AC, ID); IF is always set on the way out, and IOPL,
/// NT, RF, VM, VIF and VIP are always clear (IOPL 3 would let it use `in`,
/// `out` and `cli`; a sigreturn frame could carry any of them).
pub const USER_RFLAGS_MASK: u64 = 0x0000_0000_0024_0dd5;

/// Every register of a process, on its kernel stack (lowest address first):
/// built by the syscall entry (where `rcx` and `r11` hold the return RIP and
/// RFLAGS, as `syscall` leaves them), by a preemption, or for a new process.
/// `rax` holds the number on entry and the result on exit; `rip`, `rflags`
/// and `rsp` are where the process goes back to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SyscallFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rax: u64,
    pub rip: u64,
    pub rflags: u64,
    pub rsp: u64,
}

/// Registers saved by the interrupt and exception entry, on the IST stack
/// (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Bytes of each interrupt stub: stub `v` is at `isola_gate_isr_stubs_* + 16 * v`.
pub const ISR_STUB_SIZE: u64 = 16;

unsafe extern "C" {
    /// Loads the kernel's PKRU (kernel code only: aborts when a process runs).
    pub fn isola_gate_load_kernel_pkru();
    /// Loads the PKRU published on the key-15 page (kernel code only).
    pub fn isola_gate_load_published_pkru();
    /// The `syscall` entry for level `mpk` (LSTAR).
    pub fn isola_gate_syscall_mpk();
    /// The `syscall` entry for level `strict` (LSTAR).
    pub fn isola_gate_syscall_strict();
    /// The `syscall` entry for level `none` (LSTAR).
    pub fn isola_gate_syscall_none();
    /// Returns to the process whose `SyscallFrame` is at RSP, on its kernel stack.
    pub fn isola_gate_return_to_process();
    /// 256 interrupt stubs of `ISR_STUB_SIZE` bytes that switch PKRU.
    pub static isola_gate_isr_stubs_mpk: u8;
    /// 256 interrupt stubs of `ISR_STUB_SIZE` bytes that do not.
    pub static isola_gate_isr_stubs_none: u8;
    /// 256 interrupt stubs of `ISR_STUB_SIZE` bytes for level `strict`.
    pub static isola_gate_isr_stubs_strict: u8;
}

global_asm!(
    r#"
    /* The scratch registers `syscall` leaves, saved in the entry area. */
    .macro isola_gate_save_scratch
    mov qword ptr [rip + isola_entry_area + {ea_rax}], rax
    mov qword ptr [rip + isola_entry_area + {ea_rcx}], rcx
    mov qword ptr [rip + isola_entry_area + {ea_rdx}], rdx
    mov qword ptr [rip + isola_entry_area + {ea_r11}], r11
    mov qword ptr [rip + isola_entry_area + {ea_rsp}], rsp
    .endm

    /* The kernel's PKRU, checked against the same immediate (clobbers EAX,
       ECX, EDX): a jump onto this WRPKRU with another EAX aborts. */
    .macro isola_gate_wrpkru_kernel
    xor ecx, ecx
    xor edx, edx
    mov eax, {kernel_pkru}
    wrpkru
    cmp eax, {kernel_pkru}
    jne isola_gate_abort
    .endm

    /* The running process's PKRU, from key-0 gate state, checked against
       the key-15 published value (level strict; clobbers EAX, ECX, EDX). */
    .macro isola_gate_wrpkru_process
    mov eax, dword ptr [rip + isola_gate_cpu + {gc_process_pkru}]
    xor ecx, ecx
    xor edx, edx
    wrpkru
    cmp eax, dword ptr [rip + isola_published_pkru]
    jne isola_gate_abort
    .endm

    /* Every general register, in TrapFrame order (rax lowest). */
    .macro isola_gate_push_gprs
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rbp
    push rdi
    push rsi
    push rdx
    push rcx
    push rbx
    push rax
    .endm

    /* 256 stubs of 16 bytes: an error code where the CPU pushes none, the vector, then `common`. */
    .macro isola_gate_isr_stubs common
    .set isr_vector, 0
    .rept 256
    .p2align 4
    .if (isr_vector == 8) || ((isr_vector >= 10) && (isr_vector <= 14)) || (isr_vector == 17) || (isr_vector == 21) || (isr_vector == 29) || (isr_vector == 30)
    .else
    push 0
    .endif
    push isr_vector
    jmp \common
    .set isr_vector, isr_vector + 1
    .endr
    .endm

    .pushsection .text.isola_gate, "ax"
    .p2align 4
    /* The image scan accepts WRPKRU only between these two labels and in
       the functions of `pkru::gate`. */
    .global isola_gate_text_start
isola_gate_text_start:

    /* ---- syscall entry: ring 0, RCX = return RIP, R11 = RFLAGS, IF = 0 ---- */
    .global isola_gate_syscall_mpk
isola_gate_syscall_mpk:
    isola_gate_save_scratch
    isola_gate_wrpkru_kernel
    jmp isola_gate_syscall_common

    /* Level strict: the process is in ring 3 and cannot reach kernel code,
       but it could have loaded a PKRU of its own (WRPKRU is unprivileged):
       load the one the kernel keeps for it, so that the kernel serves the
       call with the caller's rights only. Kernel memory is U/S=0 here, so
       reading the gate state does not depend on PKRU. */
    .global isola_gate_syscall_strict
isola_gate_syscall_strict:
    isola_gate_save_scratch
    isola_gate_wrpkru_process
    jmp isola_gate_syscall_common

    .global isola_gate_syscall_none
isola_gate_syscall_none:
    isola_gate_save_scratch

isola_gate_syscall_common:
    cli
    cld
    /* Key-0 memory from here on: with a process PKRU this faults. */
    mov rsp, qword ptr [rip + isola_gate_cpu + {gc_kernel_rsp}]
    mov qword ptr [rip + isola_gate_cpu + {gc_in_process}], 0
    push qword ptr [rip + isola_entry_area + {ea_rsp}]
    push qword ptr [rip + isola_entry_area + {ea_r11}]
    push qword ptr [rip + isola_entry_area + {ea_rcx}]
    push qword ptr [rip + isola_entry_area + {ea_rax}]
    push rdi
    push rsi
    push qword ptr [rip + isola_entry_area + {ea_rcx}]
    push qword ptr [rip + isola_entry_area + {ea_rdx}]
    push rbx
    push rbp
    push r8
    push r9
    push r10
    push qword ptr [rip + isola_entry_area + {ea_r11}]
    push r12
    push r13
    push r14
    push r15
    xor ebp, ebp
    mov rdi, rsp
    call isola_syscall_dispatch
    jmp isola_gate_return_to_process

    /* ---- return to a process: RSP = its SyscallFrame on its kernel stack ---- */
    .global isola_gate_return_to_process
isola_gate_return_to_process:
    cli
    pop r15
    pop r14
    pop r13
    pop r12
    pop rax
    mov qword ptr [rip + isola_entry_area + {ea_r11}], rax
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rbx
    pop rax
    mov qword ptr [rip + isola_entry_area + {ea_rdx}], rax
    pop rax
    mov qword ptr [rip + isola_entry_area + {ea_rcx}], rax
    pop rsi
    pop rdi
    pop rax
    mov qword ptr [rip + isola_entry_area + {ea_rax}], rax
    pop rax
    mov qword ptr [rip + isola_entry_area + {ea_rip}], rax
    pop rax
    mov qword ptr [rip + isola_entry_area + {ea_rflags}], rax
    pop rax
    mov qword ptr [rip + isola_entry_area + {ea_rsp}], rax
    mov qword ptr [rip + isola_gate_cpu + {gc_in_process}], 1
    cmp qword ptr [rip + isola_gate_cpu + {gc_strict}], 0
    jne isola_gate_return_strict
    cmp qword ptr [rip + isola_gate_cpu + {gc_pku}], 0
    je 2f
    mov eax, dword ptr [rip + isola_gate_cpu + {gc_process_pkru}]
    lea rsp, [rip + isola_entry_area + {ea_rflags}]
    xor ecx, ecx
    xor edx, edx
    wrpkru
    cmp eax, dword ptr [rip + isola_published_pkru]
    jne isola_gate_abort
    jmp 3f
2:
    lea rsp, [rip + isola_entry_area + {ea_rflags}]
3:
    mov rax, qword ptr [rip + isola_entry_area + {ea_rax}]
    mov rcx, qword ptr [rip + isola_entry_area + {ea_rcx}]
    mov rdx, qword ptr [rip + isola_entry_area + {ea_rdx}]
    mov r11, qword ptr [rip + isola_entry_area + {ea_r11}]
    btr qword ptr [rip + isola_entry_area + {ea_rflags}], 9
    jc 4f
    popfq
    mov rsp, qword ptr [rip + isola_entry_area + {ea_rsp}]
    jmp qword ptr [rip + isola_entry_area + {ea_rip}]
4:
    popfq
    mov rsp, qword ptr [rip + isola_entry_area + {ea_rsp}]
    sti
    jmp qword ptr [rip + isola_entry_area + {ea_rip}]

    /* ---- return to ring 3 (level strict): the registers are in the entry
       area (U/S=0, out of a ring-3 process's reach); the way out is iretq
       to the user segments, with a user RIP and sanitized flags ---- */
isola_gate_return_strict:
    isola_gate_wrpkru_process
    /* Only a canonical lower-half RIP: iretq to a non-canonical one would
       fault in ring 0 (a sigreturn frame can hold any value). */
    mov rax, qword ptr [rip + isola_entry_area + {ea_rip}]
    shr rax, 47
    jnz isola_gate_abort
    lea rsp, [rip + isola_iret_area + 40]
    push {user_ss}
    push qword ptr [rip + isola_entry_area + {ea_rsp}]
    mov rax, qword ptr [rip + isola_entry_area + {ea_rflags}]
    and rax, {user_rflags}
    or rax, 0x202
    push rax
    push {user_cs}
    push qword ptr [rip + isola_entry_area + {ea_rip}]
    mov rax, qword ptr [rip + isola_entry_area + {ea_rax}]
    mov rcx, qword ptr [rip + isola_entry_area + {ea_rcx}]
    mov rdx, qword ptr [rip + isola_entry_area + {ea_rdx}]
    mov r11, qword ptr [rip + isola_entry_area + {ea_r11}]
    iretq

    /* ---- interrupt and exception stubs: vector v at base + 16 * v ---- */
    .p2align 4
    .global isola_gate_isr_stubs_mpk
isola_gate_isr_stubs_mpk:
    isola_gate_isr_stubs isola_gate_isr_common_mpk

    .p2align 4
    .global isola_gate_isr_stubs_none
isola_gate_isr_stubs_none:
    isola_gate_isr_stubs isola_gate_isr_common_none

    .p2align 4
    .global isola_gate_isr_stubs_strict
isola_gate_isr_stubs_strict:
    isola_gate_isr_stubs isola_gate_isr_common_strict

    /* Level strict: a trap from ring 3 loads the process's own PKRU (as the
       syscall entry does); a trap of kernel code keeps the PKRU it runs with. */
isola_gate_isr_common_strict:
    isola_gate_push_gprs
    cmp qword ptr [rip + isola_gate_cpu + {gc_in_process}], 0
    je isola_gate_isr_common
    isola_gate_wrpkru_process
    jmp isola_gate_isr_common

isola_gate_isr_common_mpk:
    isola_gate_push_gprs
    isola_gate_wrpkru_kernel
    jmp isola_gate_isr_common

isola_gate_isr_common_none:
    isola_gate_push_gprs

isola_gate_isr_common:
    /* A jump-in may bring IF=1 or DF=1: nothing may nest from here on. */
    cli
    cld
    /* Key-0 memory from here on: with a process PKRU this faults. The
       decision "process or kernel" is taken once, here, and carried by the
       code path: no later read of shared state can change it. */
    cmp qword ptr [rip + isola_gate_cpu + {gc_in_process}], 0
    jne isola_gate_isr_from_process

    /* The kernel was interrupted: handle it on this IST stack and return
       without touching PKRU (it is, and stays, the kernel's). */
    mov rdi, rsp
    /* The CPU aligned the IST stack; 176 bytes pushed keep it aligned. */
    call isola_trap_entry
    pop rax
    pop rbx
    pop rcx
    pop rdx
    pop rsi
    pop rdi
    pop rbp
    pop r8
    pop r9
    pop r10
    pop r11
    pop r12
    pop r13
    pop r14
    pop r15
    add rsp, 16
    iretq

    /* A process was interrupted (or jumped here). A genuine frame lies on
       an IST stack; anything else is a forged entry. */
isola_gate_isr_from_process:
    mov qword ptr [rip + isola_gate_cpu + {gc_in_process}], 0
    cmp rsp, qword ptr [rip + isola_gate_cpu + {gc_ist_low}]
    jb isola_gate_abort
    cmp rsp, qword ptr [rip + isola_gate_cpu + {gc_ist_high}]
    ja isola_gate_abort
    /* Copy the frame's registers to a SyscallFrame on the process's key-0
       kernel stack and continue there: the handler may sleep, switch, or
       take nested traps, and the way back is the return gate. */
    mov rsi, rsp
    mov rsp, qword ptr [rip + isola_gate_cpu + {gc_kernel_rsp}]
    push qword ptr [rsi + {tf_rsp}]
    push qword ptr [rsi + {tf_rflags}]
    push qword ptr [rsi + {tf_rip}]
    push qword ptr [rsi + {tf_rax}]
    push qword ptr [rsi + {tf_rdi}]
    push qword ptr [rsi + {tf_rsi}]
    push qword ptr [rsi + {tf_rcx}]
    push qword ptr [rsi + {tf_rdx}]
    push qword ptr [rsi + {tf_rbx}]
    push qword ptr [rsi + {tf_rbp}]
    push qword ptr [rsi + {tf_r8}]
    push qword ptr [rsi + {tf_r9}]
    push qword ptr [rsi + {tf_r10}]
    push qword ptr [rsi + {tf_r11}]
    push qword ptr [rsi + {tf_r12}]
    push qword ptr [rsi + {tf_r13}]
    push qword ptr [rsi + {tf_r14}]
    push qword ptr [rsi + {tf_r15}]
    mov rdi, rsp
    /* rsi: the IST frame itself (read-only for the handler: vector, error
       code, and where it lies, to tell a CPU-delivered trap from `int n`). */
    xor ebp, ebp
    call isola_process_trap
    jmp isola_gate_return_to_process

    /* ---- kernel-only PKRU loads (boot and in-kernel tests) ----
       Each checks the value loaded against an immediate or the key-15
       published value, and then that no process is running on this CPU:
       a process that jumps onto either WRPKRU is aborted, never returned to. */
    .global isola_gate_load_kernel_pkru
isola_gate_load_kernel_pkru:
    isola_gate_wrpkru_kernel
    cmp qword ptr [rip + isola_gate_cpu + {gc_in_process}], 0
    jne isola_gate_abort
    ret

    .global isola_gate_load_published_pkru
isola_gate_load_published_pkru:
    xor ecx, ecx
    xor edx, edx
    mov eax, dword ptr [rip + isola_published_pkru]
    wrpkru
    cmp eax, dword ptr [rip + isola_published_pkru]
    jne isola_gate_abort
    cmp qword ptr [rip + isola_gate_cpu + {gc_in_process}], 0
    jne isola_gate_abort
    ret

    /* ---- abort: kernel PKRU, kernel stack, the kernel kills the process ---- */
    .global isola_gate_abort
isola_gate_abort:
    cli
    isola_gate_wrpkru_kernel
    mov rsp, qword ptr [rip + isola_gate_cpu + {gc_kernel_rsp}]
    mov qword ptr [rip + isola_gate_cpu + {gc_in_process}], 0
    xor ebp, ebp
    call isola_gate_violation
    ud2
    .global isola_gate_text_end
isola_gate_text_end:
    .popsection
"#,
    kernel_pkru = const KERNEL_PKRU_BITS,
    ea_rax = const offset_of!(EntryArea, rax),
    ea_rcx = const offset_of!(EntryArea, rcx),
    ea_rdx = const offset_of!(EntryArea, rdx),
    ea_r11 = const offset_of!(EntryArea, r11),
    ea_rsp = const offset_of!(EntryArea, rsp),
    ea_rip = const offset_of!(EntryArea, rip),
    ea_rflags = const offset_of!(EntryArea, rflags),
    gc_kernel_rsp = const offset_of!(GateCpu, kernel_rsp),
    gc_process_pkru = const offset_of!(GateCpu, process_pkru),
    gc_in_process = const offset_of!(GateCpu, in_process),
    gc_ist_low = const offset_of!(GateCpu, ist_low),
    gc_ist_high = const offset_of!(GateCpu, ist_high),
    tf_rax = const offset_of!(TrapFrame, rax),
    tf_rbx = const offset_of!(TrapFrame, rbx),
    tf_rcx = const offset_of!(TrapFrame, rcx),
    tf_rdx = const offset_of!(TrapFrame, rdx),
    tf_rsi = const offset_of!(TrapFrame, rsi),
    tf_rdi = const offset_of!(TrapFrame, rdi),
    tf_rbp = const offset_of!(TrapFrame, rbp),
    tf_r8 = const offset_of!(TrapFrame, r8),
    tf_r9 = const offset_of!(TrapFrame, r9),
    tf_r10 = const offset_of!(TrapFrame, r10),
    tf_r11 = const offset_of!(TrapFrame, r11),
    tf_r12 = const offset_of!(TrapFrame, r12),
    tf_r13 = const offset_of!(TrapFrame, r13),
    tf_r14 = const offset_of!(TrapFrame, r14),
    tf_r15 = const offset_of!(TrapFrame, r15),
    tf_rip = const offset_of!(TrapFrame, rip),
    tf_rflags = const offset_of!(TrapFrame, rflags),
    tf_rsp = const offset_of!(TrapFrame, rsp),
    gc_pku = const offset_of!(GateCpu, pku),
    gc_strict = const offset_of!(GateCpu, strict),
    user_cs = const USER_CODE_SELECTOR,
    user_ss = const USER_DATA_SELECTOR,
    user_rflags = const USER_RFLAGS_MASK,
);
