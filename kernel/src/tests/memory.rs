//! Frame allocator, page map / unmap / protect, the kernel image's rights,
//! the heap, and kernel stack guard pages.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use paging::{Attributes, PAGE_SIZE, PageSize, PhysAddr, VirtAddr};
use pkru::Key;

use super::ScratchPage;
use crate::arch::{heap, layout, paging::phys_read_u64, paging::phys_write_u64, probe, section};
use crate::ktest::TestResult;
use crate::mm::frame::{self, FrameAllocator, FrameError};
use crate::mm::{self, kernel_data};
use crate::{ensure, ktest};

const PF_PRESENT: u64 = 1;
const PF_WRITE: u64 = 2;

ktest!(
    fn frame_allocate_and_free_restore_the_count() -> TestResult {
        let before = frame::free_frames();
        let frames: Vec<PhysAddr> = (0..16).map(|_| frame::allocate()).collect::<Result<_, _>>().map_err(|e| {
            crate::ktest::TestError::Failed(alloc::format!("allocate: {e:?}"))
        })?;
        ensure!(frame::free_frames() == before - 16, "free count did not drop by 16");
        for (i, a) in frames.iter().enumerate() {
            ensure!(a.as_u64() % PAGE_SIZE == 0, "frame {a:#x} not page aligned");
            ensure!(!frames[i + 1..].contains(a), "frame {a:#x} handed out twice");
        }
        for &a in &frames {
            frame::free(a);
        }
        ensure!(frame::free_frames() == before, "free count not restored");
        Ok(())
    }
);

ktest!(
    fn frame_double_free_is_an_error() -> TestResult {
        let a = frame::allocate().map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
        frame::free(a);
        let again = frame::with_global(|frames| frames.free(a));
        ensure!(again == Err(FrameError::NotAllocated(a)), "double free gave {again:?}");
        let outside = frame::with_global(|frames| frames.free(PhysAddr::new(frame::MAX_PHYS + PAGE_SIZE)));
        ensure!(matches!(outside, Err(FrameError::BadAddress(_))), "free outside the range gave {outside:?}");
        Ok(())
    }
);

ktest!(
    fn frame_exhaustion_is_an_error_not_a_crash() -> TestResult {
        // A private allocator over 64 real frames taken from the global one.
        let run = frame::with_global(|frames| frames.allocate_contiguous(64, 1))
            .map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
        let mut small: FrameAllocator<1> = FrameAllocator::new(run.as_u64());
        small.add_range(run.as_u64(), run.as_u64() + 64 * PAGE_SIZE);
        let mut taken = Vec::new();
        for _ in 0..64 {
            match small.allocate() {
                Ok(a) => taken.push(a),
                Err(e) => return Err(crate::ktest::TestError::Failed(alloc::format!("early {e:?}"))),
            }
        }
        let exhausted = small.allocate();
        ensure!(exhausted == Err(FrameError::OutOfFrames), "65th allocation gave {exhausted:?}");
        ensure!(small.allocate_contiguous(2, 1) == Err(FrameError::OutOfFrames), "contiguous run from nothing");
        small.free(taken[10]).map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
        ensure!(small.allocate() == Ok(taken[10]), "the freed frame is not handed out again");
        for a in taken {
            frame::free(a);
        }
        Ok(())
    }
);

ktest!(
    fn frame_contiguous_runs_are_aligned() -> TestResult {
        let run = frame::with_global(|frames| frames.allocate_contiguous(512, 512))
            .map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
        ensure!(run.as_u64() % (2 << 20) == 0, "2 MiB run at {run:#x} is not 2 MiB aligned");
        for i in 0..512 {
            frame::free(PhysAddr::new(run.as_u64() + i * PAGE_SIZE));
        }
        Ok(())
    }
);

ktest!(
    fn page_map_write_read_unmap() -> TestResult {
        let page = ScratchPage::map(kernel_data()).map_err(crate::ktest::TestError::Failed)?;
        probe::write_u64(page.virt, 0x1234_5678_9abc_def0)
            .map_err(|f| crate::ktest::TestError::Failed(alloc::format!("write faulted: {f:?}")))?;
        ensure!(phys_read_u64(page.frame) == 0x1234_5678_9abc_def0, "the frame does not hold what was written");
        phys_write_u64(page.frame, 42);
        ensure!(probe::read_u64(page.virt) == Ok(42), "the mapping does not show the frame");
        let t = mm::with_kernel_space(|s| s.translate(page.virt));
        ensure!(t.is_some_and(|t| t.phys == page.frame && t.size == PageSize::Size4K), "translate: {t:?}");
        mm::with_kernel_space(|s| s.unmap(page.virt))
            .map_err(|e| crate::ktest::TestError::Failed(alloc::format!("unmap: {e}")))?;
        let fault = probe::read_u64(page.virt);
        ensure!(matches!(fault, Err(f) if f.error_code & PF_PRESENT == 0), "read after unmap: {fault:?}");
        // Map it again so that the drop's unmap finds it.
        mm::with_kernel_space(|s| s.map(page.virt, page.frame, PageSize::Size4K, kernel_data()))
            .map_err(|e| crate::ktest::TestError::Failed(alloc::format!("remap: {e}")))?;
        Ok(())
    }
);

ktest!(
    fn page_protect_read_only_faults_writes() -> TestResult {
        let page = ScratchPage::map(kernel_data()).map_err(crate::ktest::TestError::Failed)?;
        let read_only = Attributes { writable: false, ..kernel_data() };
        mm::with_kernel_space(|s| s.protect(page.virt, read_only))
            .map_err(|e| crate::ktest::TestError::Failed(alloc::format!("protect: {e}")))?;
        let write = probe::write_u64(page.virt, 1);
        ensure!(
            matches!(write, Err(f) if f.error_code & (PF_PRESENT | PF_WRITE) == PF_PRESENT | PF_WRITE),
            "write to a read-only page: {write:?}"
        );
        ensure!(probe::read_u64(page.virt) == Ok(0), "read of a read-only page failed");
        let wx = Attributes { writable: true, executable: true, ..kernel_data() };
        let refused = mm::with_kernel_space(|s| s.protect(page.virt, wx));
        ensure!(refused.is_err(), "writable+executable was accepted");
        Ok(())
    }
);

ktest!(
    fn kernel_image_is_mapped_w_xor_x() -> TestResult {
        let image = section::image();
        let check = |what: &str, addr: u64, writable: bool, executable: bool, user: bool| -> TestResult {
            let t = mm::with_kernel_space(|s| s.translate(VirtAddr::new(addr)));
            let Some(t) = t else {
                return Err(crate::ktest::TestError::Failed(alloc::format!("{what} at {addr:#x} not mapped")));
            };
            ensure!(
                t.attrs.writable == writable && t.attrs.executable == executable && t.attrs.user == user,
                "{what} at {addr:#x}: {:?}",
                t.attrs
            );
            ensure!(t.attrs.key == Key::KERNEL, "{what} has key {:?}", t.attrs.key);
            Ok(())
        };
        check("text", image.text.start, false, true, true)?;
        check("rodata", image.rodata.start, false, false, true)?;
        check("data", image.data.start, true, false, true)?;
        check("bss", image.bss.start, true, false, true)?;
        check("cpu tables (U/S=0)", image.cpu_tables.start, true, false, false)?;
        check("direct map", layout::DIRECT_MAP_BASE + (1 << 20), true, false, true)?;
        let write = probe::write_u64(VirtAddr::new(image.text.start), 0);
        ensure!(write.is_err(), "kernel text accepted a write");
        Ok(())
    }
);

ktest!(
    fn null_page_is_unmapped() -> TestResult {
        let read = probe::read_u64(VirtAddr::new(0));
        ensure!(matches!(read, Err(f) if f.error_code & PF_PRESENT == 0), "read of address 0: {read:?}");
        Ok(())
    }
);

ktest!(
    fn heap_allocates_grows_and_frees() -> TestResult {
        let (total_before, _) = heap::stats();
        let boxed = Box::new(0xfeed_u64);
        ensure!(*boxed == 0xfeed, "box lost its value");
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(if i % 2 == 0 { "ab" } else { "c" });
        }
        ensure!(text.len() == 150, "string has {} bytes", text.len());
        // 8 MiB: more than the initial heap, so the heap must grow from the frame allocator.
        let mut big: Vec<u64> = Vec::new();
        big.try_reserve_exact(1 << 20).map_err(|_| crate::ktest::TestError::Failed("8 MiB allocation failed".into()))?;
        big.extend((0..1u64 << 20).map(|i| i * 3));
        ensure!(big[(1 << 20) - 1] == ((1 << 20) - 1) * 3, "big vector lost data");
        let (total_after, _) = heap::stats();
        ensure!(total_after > total_before, "heap did not grow ({total_before} -> {total_after})");
        drop(big);
        Ok(())
    }
);

ktest!(
    fn kernel_stacks_have_guard_pages() -> TestResult {
        let stack = mm::allocate_stack(4).map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e}")))?;
        ensure!(mm::stack_guard_page(stack.guard.as_u64()) == Some(stack.guard.as_u64()), "guard not recognized");
        let below_top = VirtAddr::new(stack.top.as_u64() - 8);
        ensure!(probe::write_u64(below_top, 7).is_ok(), "top of stack not writable");
        let guard = probe::read_u64(stack.guard);
        ensure!(matches!(guard, Err(f) if f.error_code & PF_PRESENT == 0), "guard page readable: {guard:?}");
        let lowest = VirtAddr::new(stack.guard.as_u64() + PAGE_SIZE);
        ensure!(probe::read_u64(lowest).is_ok(), "lowest stack page not mapped");
        Ok(())
    }
);

ktest!(
    fn frame_reserve_is_left_to_the_kernel() -> TestResult {
        // A private allocator over 64 real frames, 16 of them reserved.
        let run = frame::with_global(|frames| frames.allocate_contiguous(64, 1))
            .map_err(|e| crate::ktest::TestError::Failed(alloc::format!("{e:?}")))?;
        let mut small: FrameAllocator<1> = FrameAllocator::new(run.as_u64());
        small.add_range(run.as_u64(), run.as_u64() + 64 * PAGE_SIZE);
        let mut taken = Vec::new();
        while let Ok(a) = small.allocate_keeping(16) {
            taken.push(a);
        }
        ensure!(taken.len() == 48, "user allocations took {} frames of 64 with 16 reserved", taken.len());
        ensure!(small.free_frames() == 16, "{} frames left", small.free_frames());
        ensure!(small.allocate().is_ok(), "the kernel cannot take the reserve");
        for i in 0..64 {
            frame::free(PhysAddr::new(run.as_u64() + i * PAGE_SIZE));
        }
        // The global reserve is set at boot: 1/64 of RAM, 2 to 16 MiB.
        let reserve = frame::reserve();
        ensure!(reserve == frame::reserve_for(mm::total_bytes()) && reserve >= 512, "reserve {reserve} frames");
        ensure!(frame::user_available() + reserve == frame::free_frames(), "user_available is free minus the reserve");
        ensure!(frame::reserve_for(256 << 20) == 1024 && frame::reserve_for(8 << 30) == 4096, "reserve_for");
        Ok(())
    }
);
