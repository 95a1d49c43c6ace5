//! The kernel's side of the `pkru` gates: the per-CPU entry area (U/S=0),
//! the gate state (key 0), the published PKRU (key-15 page), the syscall
//! MSRs, and entering a process. The gate code itself is in `pkru::gate`.

use core::ptr::{addr_of, addr_of_mut};

use pkru::Pkru;
use pkru::gate::{EntryArea, GateCpu, SyscallFrame};

use x86::msr;

use super::gdt::{KERNEL_CODE, USER_STAR_BASE};

/// Scratch for the gates, in `.cpu_tables` (U/S=0); never trusted.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".cpu_tables")]
static mut isola_entry_area: EntryArea =
    EntryArea { rax: 0, rcx: 0, rdx: 0, r11: 0, rsp: 0, rip: 0, rflags: 0, spare: 0 };

/// Where the `strict` return gate builds its `iretq` frame (U/S=0: a ring-3
/// process cannot reach it).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".cpu_tables")]
static mut isola_iret_area: [u64; 5] = [0; 5];

/// The gates' trusted state, in key-0 memory.
#[unsafe(no_mangle)]
static mut isola_gate_cpu: GateCpu =
    GateCpu { kernel_rsp: 0, process_pkru: 0, in_process: 0, ist_low: 0, ist_high: 0, pku: 0, strict: 0 };

/// The PKRU this CPU is meant to run, on the key-15 page (`.published`):
/// processes may read it, only the kernel writes it (through the direct map).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".published")]
static mut isola_published_pkru: [u64; 512] = [0; 512];

/// RFLAGS bits `syscall` clears: TF, IF, DF, IOPL, NT, AC.
const SYSCALL_FLAG_MASK: u64 = 0x100 | 0x200 | 0x400 | 0x3000 | 0x4000 | 0x4_0000;

/// Which gates to use: the isolation level as the gates see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateLevel {
    /// Ring-3 processes, the caller's PKRU in the kernel, `iretq` out.
    Strict,
    /// Ring-0 processes, the kernel's PKRU in the kernel.
    Mpk,
    /// No PKU: no WRPKRU at all.
    None,
}

/// Points LSTAR at the gate of the level, and STAR/FMASK at the kernel's
/// segments and the flags to clear; tells the gates whether to switch PKRU
/// and how to leave.
pub fn init(level: GateLevel) {
    let entry = match level {
        GateLevel::Strict => pkru::gate::isola_gate_syscall_strict as *const () as u64,
        GateLevel::Mpk => pkru::gate::isola_gate_syscall_mpk as *const () as u64,
        GateLevel::None => pkru::gate::isola_gate_syscall_none as *const () as u64,
    };
    let pku = level != GateLevel::None;
    let ist = super::gdt::ist_stacks();
    // SAFETY: single CPU, interrupts off during boot; the gate state is only
    // read by the gates, which do not run before a process exists.
    unsafe {
        let gate = &mut *addr_of_mut!(isola_gate_cpu);
        gate.pku = u64::from(pku);
        gate.strict = u64::from(level == GateLevel::Strict);
        gate.ist_low = ist.start;
        gate.ist_high = ist.end - core::mem::size_of::<pkru::gate::TrapFrame>() as u64;
    }
    // SAFETY: the MSRs configure `syscall`, which only processes execute; the
    // entry points are the gate's, and the selectors those of the boot GDT.
    unsafe {
        msr::wrmsr(msr::IA32_LSTAR, entry);
        msr::wrmsr(msr::IA32_STAR, (u64::from(USER_STAR_BASE) << 48) | (u64::from(KERNEL_CODE) << 32));
        msr::wrmsr(msr::IA32_FMASK, SYSCALL_FLAG_MASK);
    }
}

/// The virtual address of the key-15 page (mapped with key 15, read-only).
pub fn published_page() -> u64 {
    addr_of!(isola_published_pkru) as u64
}

/// Called by the gate's abort with the kernel PKRU on the process's kernel
/// stack: a process jumped into a gate with a forged state.
#[unsafe(no_mangle)]
extern "C" fn isola_gate_violation() -> ! {
    crate::proc::gate_violation()
}

/// Entry from the syscall gate, on the process's kernel stack.
#[unsafe(no_mangle)]
extern "C" fn isola_syscall_dispatch(frame: *mut SyscallFrame) {
    // SAFETY: the gate passes the frame it built on this kernel stack.
    let frame = unsafe { &mut *frame };
    crate::syscalls::dispatch(frame);
}

/// Sets the FS base (the process's TLS pointer, `arch_prctl(ARCH_SET_FS)`).
pub fn set_fs_base(value: u64) {
    // SAFETY: the kernel never uses FS; the base only matters to the process.
    unsafe { msr::wrmsr(msr::IA32_FS_BASE, value) };
}

fn published_slot() -> *mut u64 {
    let published = super::paging::phys_to_virt(super::paging::kernel_image_phys(published_page()));
    published.as_u64() as *mut u64
}

/// The PKRU published on the key-15 page for this CPU.
#[cfg(feature = "ktest")]
pub fn published() -> Pkru {
    // SAFETY: the slot is the kernel's writable alias of the key-15 page.
    Pkru::from_bits(unsafe { published_slot().read_volatile() } as u32)
}

/// Publishes `pkru` on the key-15 page (what the return gate and the
/// published-PKRU load compare against).
pub fn publish(pkru: Pkru) {
    // SAFETY: as in `published`; interrupts are off or the value is the
    // running process's own (the gates read it only on a return).
    unsafe { published_slot().write_volatile(u64::from(pkru.bits())) };
}

/// Makes the gates enter and leave the process whose kernel stack ends at
/// `kernel_stack_top` and whose PKRU is `pkru`, publishing that PKRU on the
/// key-15 page for the exit gate's compare.
pub fn set_process(kernel_stack_top: u64, pkru: Pkru) {
    // SAFETY: interrupts are off on the only CPU; the gates read this state
    // only when a process enters or leaves, never during this update.
    unsafe {
        let gate = &mut *addr_of_mut!(isola_gate_cpu);
        gate.kernel_rsp = kernel_stack_top;
        gate.process_pkru = u64::from(pkru.bits());
    }
    publish(pkru);
}
