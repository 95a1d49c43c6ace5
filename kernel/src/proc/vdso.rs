//! The vDSO in every process: the image's frames and the vvar frame, filled
//! once at boot and kept by the kernel for good; each exec maps the same
//! frames, read-only, with the process's own key, at a random place below
//! the stack's reach (`[vvar]` right below `[vdso]`); and the kernel's writes of
//! the vvar page under its sequence count (docs/dynamic.md, "vDSO").

use alloc::vec::Vec;

use paging::{PAGE_SIZE, PhysAddr};
use spin::{Mutex, Once};
use syscall::Errno;

use super::memory::{Memory, Prot, RegionKind, STACK_TOP};
use crate::arch::paging::{copy_to_phys, publish_u64, zero_frame};

/// The kernel's frames: never freed, so every mapping is one more share of them.
struct Frames {
    vvar: PhysAddr,
    image: Vec<PhysAddr>,
    /// getcpu may use rdtscp (IA32_TSC_AUX holds the CPU number).
    rdtscp: bool,
}

static FRAMES: Once<Frames> = Once::new();
/// The vvar page's sequence count; the lock also keeps writers one at a time.
static SEQ: Mutex<u64> = Mutex::new(0);

/// Copies the image into frames of its own, sets up TSC_AUX for getcpu
/// (one CPU: CPU 0, node 0) and publishes the clock. After the wall clock.
pub fn init() -> Result<(), &'static str> {
    let allocate = || {
        let frame = crate::mm::frame::with_global(|frames| frames.allocate()).map_err(|_| "no memory for the vDSO")?;
        zero_frame(frame);
        Ok::<PhysAddr, &'static str>(frame)
    };
    let vvar = allocate()?;
    let mut image = Vec::new();
    for chunk in vdso::IMAGE.chunks(PAGE_SIZE as usize) {
        let frame = allocate()?;
        copy_to_phys(frame, chunk);
        image.push(frame);
    }
    let rdtscp = crate::arch::cpu::set_tsc_aux(0, 0);
    FRAMES.call_once(|| Frames { vvar, image, rdtscp });
    publish();
    Ok(())
}

/// Writes what `time` says about the clocks to the vvar page: the count
/// turns odd, the words change, the count turns even (each store ordered
/// after the ones before), so a reader that saw the same even count before
/// and after read one consistent state.
pub fn publish() {
    let Some(frames) = FRAMES.get() else { return };
    let words = crate::time::vvar(frames.rdtscp).words();
    let mut seq = SEQ.lock();
    let word = |index: usize| PhysAddr::new(frames.vvar.as_u64() + 8 * index as u64);
    *seq += 1;
    publish_u64(word(vdso::word::SEQ), *seq);
    for (index, &value) in words.iter().enumerate() {
        publish_u64(word(vdso::word::FLAGS + index), value);
    }
    *seq += 1;
    publish_u64(word(vdso::word::SEQ), *seq);
}

/// Bytes one page directory covers: the stack's shares its tables with the vDSO.
const PAGE_DIRECTORY_SPAN: u64 = 1 << 30;

/// Where `[vvar]` starts for `len` bytes: a random page below the stack's
/// reach (its growth limit, with a guard page between), in the gigabyte
/// whose page directory the stack already has, so that a process with
/// nothing else there (a static program: no ld.so in the mmap area) pays
/// one page table for the vDSO instead of three. Linux 6.1 puts it in the
/// stack's 2 MiB, above the stack top, where Isola's fixed stack top leaves
/// no room. About 2^18 places; the mmap area if that range is taken.
fn place(memory: &mut Memory, len: u64) -> Result<u64, Errno> {
    let bottom = STACK_TOP & !(PAGE_DIRECTORY_SPAN - 1);
    let top = memory.stack_limit.saturating_sub(PAGE_SIZE + len);
    if top > bottom {
        let mut bytes = [0u8; 8];
        crate::random::fill(&mut bytes);
        let start = bottom + u64::from_le_bytes(bytes) % ((top - bottom) / PAGE_SIZE + 1) * PAGE_SIZE;
        if !memory.overlaps(start, start + len) {
            return Ok(start);
        }
    }
    memory.find_free(len)
}

/// Maps `[vvar]` and `[vdso]` into `memory` at a random place below the
/// stack's reach ([`place`]) and returns the image's address
/// (AT_SYSINFO_EHDR), or None before `init`.
pub fn map_into(memory: &mut Memory) -> Result<Option<u64>, Errno> {
    let Some(frames) = FRAMES.get() else { return Ok(None) };
    let vvar_len = vdso::VVAR_PAGES * PAGE_SIZE;
    let len = vvar_len + frames.image.len() as u64 * PAGE_SIZE;
    let start = place(memory, len)?;
    // One reference per mapping, as the page cache hands out frames: the
    // kernel's own keeps every frame "shared", so a write after mprotect
    // copies it first and munmap or exit only drops the reference.
    let referenced = |list: &[PhysAddr]| {
        list.iter().for_each(|&frame| crate::mm::frame::share(frame));
        list.to_vec()
    };
    let read = Prot { read: true, write: false, exec: false };
    let image_start = start + vvar_len;
    memory.map_frames(start, image_start, read, RegionKind::Vvar, None, referenced(&[frames.vvar]))?;
    let read_exec = Prot { read: true, write: false, exec: true };
    let image_end = image_start + frames.image.len() as u64 * PAGE_SIZE;
    if let Err(error) = memory.map_frames(image_start, image_end, read_exec, RegionKind::Vdso, None, referenced(&frames.image)) {
        memory.unmap_range(start, image_start);
        return Err(error);
    }
    Ok(Some(image_start))
}
