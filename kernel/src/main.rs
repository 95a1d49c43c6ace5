//! The Isola kernel: boots from PVH, sets up memory, traps, time and the
//! isolation level, prints the banner, then runs its job (for now: nothing to
//! run, or the in-kernel tests in a test build).
//!
//! `arch/` holds every `unsafe` block and all assembly; the modules here are
//! safe code on top of it.

#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod boot_info;
mod cmdline;
mod console;
mod control;
mod cpu_features;
mod fasync;
mod fs;
mod isolation;
mod locks;
mod ktest;
mod mm;
mod net;
mod panic;
mod proc;
mod procfs;
mod pty;
mod random;
mod syscalls;
mod sysv;
mod time;
mod timerfd;
mod trap;

#[cfg(feature = "ktest")]
mod tests;

use spin::Once;

use crate::boot_info::BootInfo;
use crate::cpu_features::CpuFeatures;

/// Pages of the boot CPU's kernel stack (a guard page lies below it).
const KERNEL_STACK_PAGES: u64 = 16;

/// Boot facts needed after the switch to the kernel stack.
struct Boot {
    info: BootInfo,
    features: CpuFeatures,
    usable_bytes: u64,
    stack: mm::KernelStack,
}

static BOOT: Once<Boot> = Once::new();

/// First Rust code after the PVH entry, on the boot stack with the early tables.
pub fn kernel_start(info: BootInfo, pvh_ok: bool) -> ! {
    console::init_logger();
    arch::gdt::init();
    arch::idt::init(arch::gate::GateLevel::None);
    if !pvh_ok {
        panic!("not started through PVH (bad hvm_start_info magic)");
    }
    let features = CpuFeatures::detect();
    let enabled = arch::cpu::enable_features(features.xsave, features.supported_xcr0);
    assert!(
        !enabled.xcr0.contains(x86::controlregs::Xcr0::XCR0_PKRU_STATE),
        "XCR0 bit 9 (PKRU) must stay clear"
    );
    let memory = match mm::init(&info) {
        Ok(memory) => memory,
        Err(error) => panic!("cannot build the kernel page tables: {error}"),
    };
    let stack = match mm::allocate_stack(KERNEL_STACK_PAGES) {
        Ok(stack) => stack,
        Err(error) => panic!("cannot allocate the boot kernel stack: {error}"),
    };
    BOOT.call_once(|| Boot { info, features, usable_bytes: memory.usable_bytes, stack });
    arch::stack::switch_to(stack.top.as_u64(), kernel_main)
}

/// The rest of boot, on a kernel stack with a guard page.
extern "C" fn kernel_main() -> ! {
    let boot = BOOT.get().expect("boot facts are set before the stack switch");
    if let Err(error) = mm::init_heap() {
        panic!("cannot set up the kernel heap: {error:?}");
    }
    // Start from the architectural initial FPU/SIMD state, with the same
    // XRSTOR every context switch uses: a VMM that cannot run it (this
    // project's software KVM stops on XRSTOR) fails here, before the banner,
    // so `isola run --accel auto` falls back to TCG instead of failing later.
    arch::context::FpuState::new().restore();
    let args = cmdline::parse(boot.info.cmdline());
    log::set_max_level(args.log_level);
    let level = match isolation::init(args.isolation, &boot.features) {
        Ok(level) => level,
        Err(why) => panic!("{why}"),
    };
    let gates = match level {
        isolation::Level::Strict => arch::gate::GateLevel::Strict,
        isolation::Level::Mpk => arch::gate::GateLevel::Mpk,
        isolation::Level::None => arch::gate::GateLevel::None,
    };
    arch::idt::init(gates);
    arch::gate::init(gates);
    if level == isolation::Level::Strict {
        // Processes in ring 3: the kernel half becomes supervisor-only, then
        // SMEP and SMAP make the kernel refuse user pages itself.
        mm::with_kernel_space(|space| arch::paging::make_kernel_half_supervisor(space));
        arch::cpu::enable_smep_smap();
    }
    if let Err(error) = mm::seal_descriptor_tables() {
        panic!("cannot make the descriptor tables read-only: {error}");
    }
    let clock = match time::init(&boot.features) {
        Ok(clock) => clock,
        Err(why) => panic!("timer setup failed: {why}"),
    };
    arch::cpu::enable_interrupts();

    let boot_us = time::cycles_to_us(arch::cpu::rdtsc().wrapping_sub(boot.info.boot_tsc));
    kprintln!(
        "Isola {} | isolation: {} | boot: {}.{:03} ms | cpu: {} | memory: {} MiB | tsc: {} MHz ({})",
        env!("CARGO_PKG_VERSION"),
        level.name(),
        boot_us / 1000,
        boot_us % 1000,
        boot.features.brand(),
        boot.usable_bytes >> 20,
        clock.tsc_hz / 1_000_000,
        match clock.source {
            time::ClockSource::Cpuid => "cpuid",
            time::ClockSource::ApicCalibrated => "apic-calibrated",
        }
    );
    // After the banner: reading the RTC may wait out an update cycle.
    time::init_wall_clock(boot.info.boot_tsc, args.epoch_secs);
    if let Err(why) = proc::vdso::init() {
        panic!("vDSO setup failed: {why}");
    }
    log::info!("cmdline: {}", boot.info.cmdline());
    log::debug!(
        "memory: {} MiB free; boot stack {:#x}..{:#x}, guard page at {:#x}",
        (mm::frame::free_frames() as u64 * paging::PAGE_SIZE) >> 20,
        boot.stack.guard.as_u64() + paging::PAGE_SIZE,
        boot.stack.top.as_u64(),
        boot.stack.guard.as_u64()
    );
    log::debug!("clock: tsc {} Hz, apic timer {} Hz, tick {} Hz", clock.tsc_hz, clock.apic_hz, time::TIMER_HZ);
    if level == isolation::Level::None {
        // The host said so before the boot (isola: using ..., isolation none).
        log::info!("no PKU: processes will not be isolated from each other or from the kernel");
    }

    // Test kernels are the same kernel with another job (cargo features).
    if cfg!(feature = "ktest") {
        ktest::run_all();
    }
    if cfg!(feature = "ktest-stack-overflow") {
        kprintln!("running the kernel stack overflow test: recursing until the guard page");
        let depth = arch::stack::overflow(0);
        panic!("recursion of depth {depth} returned without hitting the guard page");
    }

    let initramfs = boot.info.initrd.map(|(start, len)| {
        let start = paging::PhysAddr::new(start);
        (arch::paging::reserved_phys_slice(start, len), start)
    });
    if let Err(why) = fs::init(initramfs) {
        panic!("{why}");
    }
    if let Err(why) = fs::mount_volumes(cmdline::volumes(boot.info.cmdline())) {
        panic!("{why}");
    }
    match net::Addressing::parse(args.ip, args.gateway) {
        Ok(addressing) => net::init(addressing),
        Err(why) => {
            log::warn!("{why}; using 10.0.2.15/24 via 10.0.2.2");
            net::init(net::Addressing::QEMU_USER);
        }
    }
    match args.init {
        Some(path) => {
            proc::TRACE.store(args.trace, core::sync::atomic::Ordering::Relaxed);
            proc::sched::PS_ON_EXIT.store(args.ps_on_exit, core::sync::atomic::Ordering::Relaxed);
            if args.control {
                control::enable();
            }
            start_first_program(path)
        }
        None => {
            log::info!("no program to run; shutting down");
            shutdown(0)
        }
    }
}

/// Loads the first program with the argv and envp the host packed into the
/// initramfs, and runs it. A program that cannot start ends the VM with 126
/// (127 when it does not exist), as a shell reports it.
fn start_first_program(path: &str) -> ! {
    let split = |file: &[u8]| -> alloc::vec::Vec<alloc::vec::Vec<u8>> {
        let Ok(text) = fs::read_whole(vfs::ROOT, file) else { return alloc::vec::Vec::new() };
        text.bytes.split(|&b| b == 0).filter(|s| !s.is_empty()).map(<[u8]>::to_vec).collect()
    };
    let mut argv = split(b"/.isola/argv");
    if argv.is_empty() {
        argv.push(path.as_bytes().to_vec());
    }
    let envp = split(b"/.isola/envp");
    match proc::exec::load_first(path, &argv, &envp) {
        Ok(process) => {
            log::debug!("starting {path} as pid 1 with key {}", process.memory.key.index());
            proc::set_name(process.pid, &process.name, &process.cmdline, &process.exe);
            proc::sched::start(process)
        }
        Err(error) => {
            knotice!("isola: cannot execute {path}: {} ({})", error.reason, error.errno.name());
            shutdown(if error.errno == syscall::Errno::ENOENT { 127 } else { 126 })
        }
    }
}

/// Ends the VM with `status`: prints the status line the host reads and
/// leaves through isa-debug-exit with its low 7 bits.
pub fn shutdown(status: u8) -> ! {
    if let Some((received, sent)) = net::with_if_up(|st| st.eth_frames()).flatten() {
        log::debug!("net: eth0 received {received} frames, sent {sent}");
    }
    let since_boot = BOOT.get().map_or(0, |boot| arch::cpu::rdtsc().wrapping_sub(boot.info.boot_tsc));
    log::debug!("uptime {} ms ({} timer ticks)", time::cycles_to_us(since_boot) / 1000, trap::ticks());
    kprintln!("isola: exit status {status}");
    arch::exit::qemu_exit(u32::from(status & 0x7f))
}
