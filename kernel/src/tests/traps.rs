//! Exceptions the kernel recovers from, and the periodic timer.

use paging::VirtAddr;

use crate::arch::{cpu, probe};
use crate::{ensure, ktest, time, trap};

ktest!(
    fn breakpoint_is_handled_and_resumed() -> TestResult {
        let before = trap::breakpoints();
        cpu::breakpoint();
        cpu::breakpoint();
        ensure!(trap::breakpoints() == before + 2, "expected 2 more breakpoints, saw {}", trap::breakpoints() - before);
        Ok(())
    }
);

ktest!(
    fn page_fault_on_unmapped_address_is_recovered() -> TestResult {
        // In the kernel-stack range but in no slot that has been handed out.
        let addr = VirtAddr::new(crate::arch::layout::KERNEL_STACKS_BASE + (1 << 40));
        let read = probe::read_u64(addr);
        ensure!(matches!(read, Err(f) if f.error_code & 1 == 0), "read of unmapped memory: {read:?}");
        let write = probe::write_u64(addr, 5);
        ensure!(matches!(write, Err(f) if f.error_code & 3 == 2), "write to unmapped memory: {write:?}");
        Ok(())
    }
);

ktest!(
    fn timer_ticks_at_its_rate() -> TestResult {
        let clock = time::clock().ok_or(crate::ktest::TestError::Failed("no clock".into()))?;
        let start_ticks = trap::ticks();
        let start = cpu::rdtsc();
        let deadline = start + time::us_to_cycles(2_000_000);
        while trap::ticks() < start_ticks + 5 {
            ensure!(cpu::rdtsc() < deadline, "only {} ticks in 2 s", trap::ticks() - start_ticks);
            cpu::halt();
        }
        let elapsed_us = time::cycles_to_us(cpu::rdtsc() - start);
        let expected_us = 5 * 1_000_000 / time::TIMER_HZ;
        // Generous bounds: TCG timing is only roughly real time.
        ensure!(
            elapsed_us >= expected_us * 6 / 10 && elapsed_us <= expected_us * 4,
            "5 ticks took {elapsed_us} us, expected about {expected_us} us (tsc {} Hz)",
            clock.tsc_hz
        );
        Ok(())
    }
);
