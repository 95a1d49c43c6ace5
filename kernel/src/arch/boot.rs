//! PVH entry: the Xen PVH note, the 32-bit entry QEMU jumps to, the early page
//! tables, the switch to long mode, and the jump into Rust in the higher half.
//!
//! The early tables map the first GiB twice: identity (so the 32-bit code keeps
//! running while paging turns on) and at `KERNEL_VMA` (where Rust is linked).
//! `mm::init` replaces them with the kernel's own tables right away.

use core::arch::global_asm;

use super::layout::KERNEL_VMA;
use crate::boot_info::{BootInfo, MemoryRegion, MemoryType};

global_asm!(
    r#"
    .pushsection .note.Xen, "a"
    .p2align 2
    .long 4                 /* namesz */
    .long 4                 /* descsz */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start32
    .popsection

    .pushsection .boot.bss, "aw", @nobits
    .p2align 12
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096
    .popsection

    .pushsection .boot.data, "aw"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
    .popsection

    .pushsection .boot.text, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    rdtsc                       /* boot time starts here */
    movl %eax, %esi
    movl %edx, %edi
    movl %ebx, %ebp             /* hvm_start_info physical address */

    xorl %ecx, %ecx             /* boot_pd: 512 x 2 MiB pages, identity */
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax             /* present | writable | 2 MiB */
    movl %eax, boot_pd(,%ecx,8)
    movl $0, boot_pd+4(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    movl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt_low
    movl %eax, boot_pdpt_high + 510*8
    movl $boot_pdpt_low, %eax
    orl $3, %eax
    movl %eax, boot_pml4
    movl $boot_pdpt_high, %eax
    orl $3, %eax
    movl %eax, boot_pml4 + 511*8

    movl %cr4, %eax
    orl $(1 << 5), %eax         /* PAE */
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx      /* EFER: long mode, no-execute */
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax   /* paging, write-protect, protected mode */
    movl %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $boot_long_mode

    .code64
boot_long_mode:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_high, %rax
    jmp *%rax
    .popsection

    .pushsection .bss.boot_stack, "aw", @nobits
    .p2align 4
boot_stack:     .skip 65536
boot_stack_top:
    .popsection

    .pushsection .text.boot_high, "ax"
boot_high:
    movabsq $boot_stack_top, %rsp
    movl %edi, %eax
    shlq $32, %rax
    movl %esi, %esi
    orq %rax, %rsi              /* rsi = boot TSC */
    movl %ebp, %edi             /* rdi = hvm_start_info */
    xorl %ebp, %ebp             /* end of the frame-pointer chain */
    call isola_kernel_start
    ud2
    .popsection
"#,
    options(att_syntax)
);

/// `hvm_start_info` magic (Xen's `XEN_HVM_START_MAGIC_VALUE`).
const PVH_MAGIC: u32 = 0x336e_c578;
/// E820 type of usable RAM.
const E820_RAM: u32 = 1;

/// Reads a value from physical memory below 1 GiB through the early alias.
///
/// # Safety
/// The early tables must be active and `phys + size_of::<T>()` below 1 GiB.
unsafe fn early_read<T: Copy>(phys: u64) -> T {
    // SAFETY: the caller guarantees the early alias maps `phys`.
    unsafe { core::ptr::read_unaligned((KERNEL_VMA + phys) as *const T) }
}

/// The Rust side of the PVH entry, on the boot stack with the early tables.
#[unsafe(no_mangle)]
extern "C" fn isola_kernel_start(start_info: u64, boot_tsc: u64) -> ! {
    super::serial::init();
    let mut info = BootInfo::empty(boot_tsc);
    // SAFETY: QEMU passes hvm_start_info below 1 GiB, which the early tables alias.
    let magic: u32 = unsafe { early_read(start_info) };
    if magic == PVH_MAGIC {
        // SAFETY: offsets of hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h).
        let (version, modules, modlist, cmdline, memmap, entries): (u32, u32, u64, u64, u64, u32) = unsafe {
            (
                early_read(start_info + 4),
                early_read(start_info + 12),
                early_read(start_info + 16),
                early_read(start_info + 24),
                early_read(start_info + 40),
                early_read(start_info + 48),
            )
        };
        if cmdline != 0 {
            let mut len = 0;
            while len < info.cmdline.len() {
                // SAFETY: the command line is a NUL-terminated string QEMU placed in low memory.
                let byte: u8 = unsafe { early_read(cmdline + len as u64) };
                if byte == 0 {
                    break;
                }
                info.cmdline[len] = byte;
                len += 1;
            }
            info.cmdline_len = len;
        }
        if modules > 0 && modlist != 0 {
            // SAFETY: hvm_modlist_entry is {paddr u64, size u64, cmdline_paddr u64, reserved u64}.
            let (paddr, size): (u64, u64) = unsafe { (early_read(modlist), early_read(modlist + 8)) };
            if size > 0 {
                info.initrd = Some((paddr, size));
            }
        }
        if version >= 1 {
            for i in 0..u64::from(entries) {
                // SAFETY: hvm_memmap_table_entry is {addr u64, size u64, type u32, reserved u32}.
                let (addr, size, kind): (u64, u64, u32) = unsafe {
                    let entry = memmap + i * 24;
                    (early_read(entry), early_read(entry + 8), early_read(entry + 16))
                };
                let kind = if kind == E820_RAM { MemoryType::Usable } else { MemoryType::Reserved };
                info.push_region(MemoryRegion { start: addr, end: addr.saturating_add(size), kind });
            }
        }
    }
    crate::kernel_start(info, magic == PVH_MAGIC)
}
