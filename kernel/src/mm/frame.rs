//! Physical frames: a bitmap allocator (1 bit per 4 KiB frame, set = free),
//! and the global instance every other allocator draws from, with a reserve
//! that allocations made for processes (`allocate_user`) leave to the kernel.

use core::sync::atomic::{AtomicUsize, Ordering};

use paging::{PAGE_SIZE, PageTableEntry, PhysAddr};
use spin::Mutex;

/// The global allocator covers physical addresses below this (8 GiB).
pub const MAX_PHYS: u64 = 8 << 30;
const GLOBAL_WORDS: usize = (MAX_PHYS / PAGE_SIZE / 64) as usize;

/// Why a frame operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free frame (or run of frames) is left.
    OutOfFrames,
    /// The frame is outside the allocator's range or not page aligned.
    BadAddress(PhysAddr),
    /// The frame was not allocated (a double free).
    NotAllocated(PhysAddr),
}

/// A bitmap frame allocator over `[base, base + 64 * WORDS * 4 KiB)`.
pub struct FrameAllocator<const WORDS: usize> {
    base: u64,
    free_bits: [u64; WORDS],
    free: usize,
    /// Word to start the next search at: everything before it is allocated.
    hint: usize,
}

impl<const WORDS: usize> FrameAllocator<WORDS> {
    /// An allocator for frames from `base` on, with no frame free yet.
    pub const fn new(base: u64) -> Self {
        FrameAllocator { base, free_bits: [0; WORDS], free: 0, hint: 0 }
    }

    fn index(&self, frame: PhysAddr) -> Result<usize, FrameError> {
        let addr = frame.as_u64();
        let limit = self.base + (WORDS as u64) * 64 * PAGE_SIZE;
        if !addr.is_multiple_of(PAGE_SIZE) || addr < self.base || addr >= limit {
            return Err(FrameError::BadAddress(frame));
        }
        Ok(((addr - self.base) / PAGE_SIZE) as usize)
    }

    fn frame(&self, index: usize) -> PhysAddr {
        PhysAddr::new(self.base + index as u64 * PAGE_SIZE)
    }

    fn is_free(&self, index: usize) -> bool {
        self.free_bits[index / 64] & (1 << (index % 64)) != 0
    }

    fn set_free(&mut self, index: usize, free: bool) {
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        if free {
            self.free_bits[word] |= bit;
        } else {
            self.free_bits[word] &= !bit;
        }
    }

    /// Sets the bits of frames `[first, last)` to `free`, a word at a time,
    /// and returns how many bits changed.
    fn set_range(&mut self, first: usize, last: usize, free: bool) -> usize {
        let mut changed = 0;
        let mut index = first;
        while index < last {
            let word = index / 64;
            let low = index % 64;
            let high = (last - word * 64).min(64);
            let mask = if high - low == 64 { u64::MAX } else { ((1u64 << (high - low)) - 1) << low };
            let bits = &mut self.free_bits[word];
            if free {
                changed += (mask & !*bits).count_ones() as usize;
                *bits |= mask;
            } else {
                changed += (mask & *bits).count_ones() as usize;
                *bits &= !mask;
            }
            index = word * 64 + high;
        }
        changed
    }

    fn frame_span(&self, start: u64, end: u64, outward: bool) -> (usize, usize) {
        let limit = self.base + (WORDS as u64) * 64 * PAGE_SIZE;
        let (start, end) = if outward {
            (start & !(PAGE_SIZE - 1), end.next_multiple_of(PAGE_SIZE))
        } else {
            (start.next_multiple_of(PAGE_SIZE), end & !(PAGE_SIZE - 1))
        };
        let (start, end) = (start.clamp(self.base, limit), end.clamp(self.base, limit));
        (((start - self.base) / PAGE_SIZE) as usize, ((end.max(start) - self.base) / PAGE_SIZE) as usize)
    }

    /// Marks the frames of `[start, end)` free (rounded inwards to whole frames;
    /// parts outside the allocator's range are ignored).
    pub fn add_range(&mut self, start: u64, end: u64) {
        let (first, last) = self.frame_span(start, end, false);
        self.free += self.set_range(first, last, true);
        self.hint = 0;
    }

    /// Marks the frames overlapping `[start, end)` in use.
    pub fn reserve_range(&mut self, start: u64, end: u64) {
        let (first, last) = self.frame_span(start, end, true);
        self.free -= self.set_range(first, last, false);
    }

    /// One frame, the lowest free one.
    pub fn allocate(&mut self) -> Result<PhysAddr, FrameError> {
        for word in self.hint..WORDS {
            let bits = self.free_bits[word];
            if bits != 0 {
                let index = word * 64 + bits.trailing_zeros() as usize;
                self.set_free(index, false);
                self.free -= 1;
                self.hint = word;
                return Ok(self.frame(index));
            }
        }
        self.hint = WORDS;
        Err(FrameError::OutOfFrames)
    }

    /// `count` consecutive frames whose first frame index is a multiple of
    /// `align_frames` (relative to physical 0).
    pub fn allocate_contiguous(&mut self, count: usize, align_frames: usize) -> Result<PhysAddr, FrameError> {
        if count == 0 || count > self.free {
            return Err(FrameError::OutOfFrames);
        }
        let align = align_frames.max(1);
        let total = WORDS * 64;
        let base_index = (self.base / PAGE_SIZE) as usize;
        let mut start = self.hint * 64;
        while start + count <= total {
            let misalign = (base_index + start) % align;
            if misalign != 0 {
                start += align - misalign;
                continue;
            }
            match (start..start + count).find(|&i| !self.is_free(i)) {
                Some(taken) => start = taken + 1,
                None => {
                    for index in start..start + count {
                        self.set_free(index, false);
                    }
                    self.free -= count;
                    return Ok(self.frame(start));
                }
            }
        }
        Err(FrameError::OutOfFrames)
    }

    /// Returns a frame. Freeing a frame that is not allocated is an error, not
    /// a silent corruption of the free count.
    pub fn free(&mut self, frame: PhysAddr) -> Result<(), FrameError> {
        let index = self.index(frame)?;
        if self.is_free(index) {
            return Err(FrameError::NotAllocated(frame));
        }
        self.set_free(index, true);
        self.free += 1;
        self.hint = self.hint.min(index / 64);
        Ok(())
    }

    /// Number of free frames.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// One frame, unless that would leave `reserve` frames or fewer free
    /// (what processes may take: the rest is the kernel's).
    pub fn allocate_keeping(&mut self, reserve: usize) -> Result<PhysAddr, FrameError> {
        if self.free <= reserve {
            return Err(FrameError::OutOfFrames);
        }
        self.allocate()
    }
}

static GLOBAL: Mutex<FrameAllocator<GLOBAL_WORDS>> = Mutex::new(FrameAllocator::new(0));

/// Runs `f` on the global frame allocator.
pub fn with_global<R>(f: impl FnOnce(&mut FrameAllocator<GLOBAL_WORDS>) -> R) -> R {
    f(&mut GLOBAL.lock())
}

/// One frame from the global allocator, for the kernel's own use (the
/// in-kernel tests): it may take the reserve.
#[cfg(feature = "ktest")]
pub fn allocate() -> Result<PhysAddr, FrameError> {
    GLOBAL.lock().allocate()
}

/// Frames user-driven allocations leave free for the kernel (its heap grows
/// into them; see `reserve_for`). 0 until `set_reserve` at boot.
static RESERVE: AtomicUsize = AtomicUsize::new(0);

/// The reserve for `ram_bytes` of RAM: 1/64 of it, between 2 and 16 MiB
/// (4 MiB at 256 MiB; docs/limits.md).
pub const fn reserve_for(ram_bytes: u64) -> usize {
    let bytes = ram_bytes / 64;
    let bytes = if bytes < 2 << 20 { 2 << 20 } else if bytes > 16 << 20 { 16 << 20 } else { bytes };
    (bytes / PAGE_SIZE) as usize
}

/// Sets the reserve (frames).
pub fn set_reserve(frames: usize) {
    RESERVE.store(frames, Ordering::Relaxed);
}

/// The reserve, in frames.
pub fn reserve() -> usize {
    RESERVE.load(Ordering::Relaxed)
}

/// One frame for a process: its pages, its page tables, its kernel stack.
/// Fails once only the reserve is left, so the kernel's own allocations
/// never fail at a process's hand.
pub fn allocate_user() -> Result<PhysAddr, FrameError> {
    GLOBAL.lock().allocate_keeping(reserve())
}

/// Frames processes may still take.
pub fn user_available() -> usize {
    GLOBAL.lock().free_frames().saturating_sub(reserve())
}

/// Gives a frame back to the global allocator. A bad free is a kernel bug.
pub fn free(frame: PhysAddr) {
    if let Err(error) = GLOBAL.lock().free(frame) {
        panic!("bad frame free: {error:?}");
    }
}

/// Free frames in the global allocator.
pub fn free_frames() -> usize {
    GLOBAL.lock().free_frames()
}

/// Extra mappings of each frame shared copy-on-write between address spaces
/// (0: one owner), indexed by frame number; sized for RAM at boot.
/// 32 bits: one process may map a page of a file up to `MAX_REGIONS` times,
/// and the page cache's frames are mapped by every process.
static SHARED: Mutex<alloc::vec::Vec<u32>> = Mutex::new(alloc::vec::Vec::new());

/// Sizes the sharing counts for frames below `top` (called once the heap exists).
pub fn init_sharing(top: u64) {
    *SHARED.lock() = alloc::vec![0; (top / PAGE_SIZE) as usize];
}

fn frame_index(frame: PhysAddr) -> usize {
    (frame.as_u64() / PAGE_SIZE) as usize
}

/// One more address space maps `frame` (fork).
pub fn share(frame: PhysAddr) {
    let mut shared = SHARED.lock();
    let count = shared.get_mut(frame_index(frame)).expect("shared frame outside RAM");
    *count = count.checked_add(1).expect("more than 2^32 mappings of one frame");
}

/// One more mapping of each of `frames` (one lock for them all).
pub fn share_all(frames: &[PhysAddr]) {
    let mut shared = SHARED.lock();
    for &frame in frames {
        let count = shared.get_mut(frame_index(frame)).expect("shared frame outside RAM");
        *count = count.checked_add(1).expect("more than 2^32 mappings of one frame");
    }
}

/// [`release`] of each of `frames`, a lock of the counts and one of the
/// allocator per 64 frames (no allocation: frames go back as memory runs out).
pub fn release_all(frames: &[PhysAddr]) {
    for chunk in frames.chunks(64) {
        let mut last = [PhysAddr::new(0); 64];
        let mut count_last = 0;
        {
            let mut shared = SHARED.lock();
            for &frame in chunk {
                match shared.get_mut(frame_index(frame)) {
                    Some(count) if *count > 0 => *count -= 1,
                    _ => {
                        last[count_last] = frame;
                        count_last += 1;
                    }
                }
            }
        }
        free_all(&last[..count_last]);
    }
}

/// Frees `frames` (their last mappings went) under one lock.
fn free_all(frames: &[PhysAddr]) {
    if frames.is_empty() {
        return;
    }
    let mut global = GLOBAL.lock();
    for &frame in frames {
        if let Err(error) = global.free(frame) {
            panic!("bad frame free: {error:?}");
        }
    }
}

/// Frames to [`release`], gathered to go back 64 at a time (an unmap
/// walk hands them over one by one); the rest go when it is dropped.
pub struct ReleaseBatch {
    frames: [PhysAddr; 64],
    len: usize,
}

impl ReleaseBatch {
    pub fn new() -> ReleaseBatch {
        ReleaseBatch { frames: [PhysAddr::new(0); 64], len: 0 }
    }

    #[inline]
    pub fn push(&mut self, frame: PhysAddr) {
        self.frames[self.len] = frame;
        self.len += 1;
        if self.len == self.frames.len() {
            release_all(&self.frames);
            self.len = 0;
        }
    }
}

impl Drop for ReleaseBatch {
    fn drop(&mut self) {
        release_all(&self.frames[..self.len]);
    }
}

/// The frames' mapping counts, locked for one run of [`Shares::add`]
/// (fork's copy of a page table, which counts each frame as it copies it).
pub struct Shares<'a> {
    /// The counts as a slice taken once: the loop keeps its bounds in
    /// registers instead of reading the vector's header at every page.
    counts: &'a mut [u32],
    added: usize,
}

impl Shares<'_> {
    /// One more mapping of the frame `leaf` holds.
    #[inline(always)]
    pub fn add(&mut self, leaf: PageTableEntry) {
        let mappings = self.counts.get_mut(frame_index(leaf.addr())).expect("shared frame outside RAM");
        *mappings = mappings.checked_add(1).expect("more than 2^32 mappings of one frame");
        // At most one per page table entry: no overflow.
        self.added = self.added.wrapping_add(1);
    }
}

/// Runs `f` with the counts locked (one lock per page table); how many
/// mappings it added. `f` must not free or share frames by other means.
#[inline(always)]
pub fn with_shares(f: impl FnOnce(&mut Shares<'_>)) -> usize {
    let mut guard = SHARED.lock();
    let mut shares = Shares { counts: guard.as_mut_slice(), added: 0 };
    f(&mut shares);
    shares.added
}

/// [`release`] of each frame that the page-table entries `entries` hold (a
/// page table's part of an unmapped range): a lock of the counts, and of
/// the allocator if any frame goes, per 64 entries. How many.
pub fn release_entries(entries: &[u64]) -> usize {
    let mut count: usize = 0;
    for chunk in entries.chunks(64) {
        // Which of the chunk's entries hold a frame whose last mapping goes.
        let mut last: u64 = 0;
        {
            let mut shared = SHARED.lock();
            let counts = shared.as_mut_slice();
            // Eight empty entries are skipped at once: a region's tables
            // are mostly empty slots (a reserved stack, a heap's tail).
            for (g, group) in chunk.chunks(8).enumerate() {
                if group.iter().fold(0, |any, &raw| any | raw) == 0 {
                    continue;
                }
                // Indexed, not enumerated: the counter's overflow check
                // was a fifth of the loop.
                #[allow(clippy::needless_range_loop)]
                for j in 0..group.len() {
                    let leaf = PageTableEntry::from_raw(group[j]);
                    if !leaf.holds_frame() {
                        continue;
                    }
                    // At most one per entry: no overflow.
                    count = count.wrapping_add(1);
                    match counts.get_mut(frame_index(leaf.addr())) {
                        Some(mappings) if *mappings > 0 => *mappings -= 1,
                        _ => last |= 1 << (g * 8 + j),
                    }
                }
            }
        }
        if last != 0 {
            let mut global = GLOBAL.lock();
            while last != 0 {
                let i = last.trailing_zeros() as usize;
                last &= last - 1;
                if let Err(error) = global.free(PageTableEntry::from_raw(chunk[i]).addr()) {
                    panic!("bad frame free: {error:?}");
                }
            }
        }
    }
    count
}

/// Whether other address spaces map `frame` too.
pub fn is_shared(frame: PhysAddr) -> bool {
    SHARED.lock().get(frame_index(frame)).is_some_and(|&count| count > 0)
}

/// One mapping of `frame` goes away: the frame is freed with its last one.
pub fn release(frame: PhysAddr) {
    {
        let mut shared = SHARED.lock();
        if let Some(count) = shared.get_mut(frame_index(frame))
            && *count > 0
        {
            *count -= 1;
            return;
        }
    }
    free(frame);
}
