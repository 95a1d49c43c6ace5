//! Shared objects (MAP_SHARED, docs/shared-memory.md): one set of frames
//! for every process that maps the object, across fork and across
//! unrelated processes mapping the same file, each object in a shared
//! domain with its own protection key (`pkru::KeyAllocator::allocate_shared`).
//!
//! - Anonymous objects (MAP_SHARED|MAP_ANONYMOUS, or of /dev/zero) are
//!   zeroed frames made on first touch.
//! - File objects (one per inode, whoever maps it) hold the file's pages
//!   as the mappings see them: a page is copied from the file on first
//!   touch, `write(2)` to the file is copied into the pages it has
//!   ([`file_written`]), `read(2)` reads through them ([`overlay_read`]),
//!   and msync, munmap and the last member's leaving write them back into
//!   the file ([`write_back`]), where exec, private mappings and every
//!   other reader find them.
//!
//! Frame references: the object owns one reference to each of its pages,
//! every mapping takes one more (`frame::share`); the pages go when the
//! last member leaves and the last mapping is gone.
//!
//! Locks: taken after the process table and the file system (fs before
//! this one, never the other way), and released before either is taken.

use alloc::vec::Vec;

use paging::{PAGE_SIZE, PhysAddr};
use pkru::Key;
use pkru::shared::{ObjectId, SharedObjects};
use spin::Mutex;
use vfs::InodeId;

use crate::arch::paging::{copy_from_phys, copy_to_phys, zero_frame};
use crate::mm::frame;

static OBJECTS: Mutex<SharedObjects<PhysAddr, InodeId>> = Mutex::new(SharedObjects::new());

/// Why a page of an object cannot be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    /// No frame is left.
    NoMemory,
    /// Past the end of the object: a page wholly past the end of its file,
    /// or past an anonymous object's size (SIGBUS, as on Linux).
    PastEnd,
}

/// A new anonymous object of `len_pages` pages, joined once (by its
/// creator); its key.
pub fn create_anonymous(len_pages: u64) -> (ObjectId, Key) {
    let mut objects = OBJECTS.lock();
    let id = objects.create(&mut crate::proc::KEYS.lock(), len_pages);
    (id, objects.get(id).map_or(Key::SHARED_RESERVED, |o| o.key))
}

/// The object of file `file`, joined once more (made if nobody maps the
/// file shared); its key.
pub fn join_file(file: InodeId) -> (ObjectId, Key) {
    let mut objects = OBJECTS.lock();
    let id = objects.join_file(&mut crate::proc::KEYS.lock(), file);
    (id, objects.get(id).map_or(Key::SHARED_RESERVED, |o| o.key))
}

/// Address spaces that map `id` (plus one for a SysV segment's own
/// hold on it); `None` once it is gone.
pub fn members(id: ObjectId) -> Option<u32> {
    OBJECTS.lock().get(id).map(|o| o.members())
}

/// Pages of `id` that have a frame (made by a first touch).
pub fn resident_pages(id: ObjectId) -> u64 {
    OBJECTS.lock().get(id).map_or(0, |o| o.pages().count() as u64)
}

/// One more member (fork).
pub fn join(id: ObjectId) {
    OBJECTS.lock().join(id);
}

/// One member fewer: a file object's pages go back to the file; with the
/// last member the object's own references to its pages are given back.
pub fn leave(id: ObjectId) {
    let file = OBJECTS.lock().get(id).and_then(|o| o.file);
    if file.is_some() {
        write_back(id, 0, u64::MAX);
    }
    let gone = OBJECTS.lock().leave(&mut crate::proc::KEYS.lock(), id);
    if let Some(object) = gone {
        let frames: Vec<PhysAddr> = object.pages().map(|(_, frame)| frame).collect();
        frame::release_all(&frames);
    }
}

/// Page `index` of `id` with one reference taken for the caller's
/// mapping: made on first use, zeroed (anonymous) or a copy of the file's
/// page (zeros past the file's end in its last page). A page past the end
/// of the object is refused even when a member had it before a truncation.
pub fn frame(id: ObjectId, index: u64) -> Result<PhysAddr, PageError> {
    let offset = index.saturating_mul(PAGE_SIZE);
    let (file, len_pages) = {
        let objects = OBJECTS.lock();
        let object = objects.get(id).ok_or(PageError::PastEnd)?;
        (object.file, object.len_pages)
    };
    // The file's size counts now, whatever it was at mmap.
    let past_end = match file {
        Some(file) => crate::fs::with(|fs| fs.metadata(file).map_or(0, |m| m.size)) <= offset,
        None => index >= len_pages,
    };
    if past_end {
        return Err(PageError::PastEnd);
    }
    if let Some(frame) = OBJECTS.lock().page(id, index) {
        frame::share(frame);
        return Ok(frame);
    }
    let new = frame::allocate_user().map_err(|_| PageError::NoMemory)?;
    zero_frame(new);
    if let Some(file) = file {
        let mut page = [0u8; PAGE_SIZE as usize];
        let copied = crate::fs::with(|fs| fs.read(file, offset, &mut page)).unwrap_or(0);
        copy_to_phys(new, &page[..copied]);
    }
    let mut objects = OBJECTS.lock();
    let frame = match objects.insert_page(id, index, new) {
        Ok(()) => new,
        Err(_) => {
            frame::free(new);
            objects.page(id, index).ok_or(PageError::PastEnd)?
        }
    };
    frame::share(frame);
    Ok(frame)
}

/// Writes the pages `[first, end)` of file object `id` that differ from
/// the file back into it, within its size (a mapping never makes a file
/// longer). Pages that match are left alone: no new content, no mtime.
pub fn write_back(id: ObjectId, first: u64, end: u64) {
    let (file, pages) = {
        let objects = OBJECTS.lock();
        let Some(file) = objects.get(id).and_then(|o| o.file) else { return };
        let pages: Vec<(u64, PhysAddr)> = objects.pages_in(id, first, end).collect();
        (file, pages)
    };
    if pages.is_empty() {
        return;
    }
    crate::fs::with(|fs| {
        let Ok(size) = fs.metadata(file).map(|m| m.size) else { return };
        let mut page = [0u8; PAGE_SIZE as usize];
        let mut current = [0u8; PAGE_SIZE as usize];
        for (index, frame) in pages {
            let offset = index.saturating_mul(PAGE_SIZE);
            if offset >= size {
                break;
            }
            let len = (size - offset).min(PAGE_SIZE) as usize;
            copy_from_phys(frame, &mut page[..len]);
            let n = fs.read(file, offset, &mut current[..len]).unwrap_or(0);
            if n != len || page[..len] != current[..len] {
                // In place within the size: the write cannot grow the file
                // (nor does a seal stop it: the mapping was allowed).
                let _ = fs.write_from_mapping(file, offset, &page[..len]);
            }
        }
    });
}

/// read(2) of `[offset, offset + buf.len())` of `file`, already read from
/// the file into `buf`: the bytes of pages a shared mapping holds are
/// taken from it (what its writers wrote, written back or not). Called
/// with the file system locked.
pub fn overlay_read(file: InodeId, offset: u64, buf: &mut [u8]) {
    let objects = OBJECTS.lock();
    let Some(id) = objects.of_file(file) else { return };
    let end = offset.saturating_add(buf.len() as u64);
    for (index, frame) in objects.pages_in(id, offset / PAGE_SIZE, end.div_ceil(PAGE_SIZE)) {
        let page_start = index * PAGE_SIZE;
        let (from, to) = (page_start.max(offset), (page_start + PAGE_SIZE).min(end));
        let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
        copy_from_phys(PhysAddr::new(frame.as_u64() + (from - page_start)), dst);
    }
}

/// write(2) of `data` at `offset` into `file` (done): the pages a shared
/// mapping holds get the bytes too, so the mappings see the write.
/// Called with the file system locked.
pub fn file_written(file: InodeId, offset: u64, data: &[u8]) {
    let objects = OBJECTS.lock();
    let Some(id) = objects.of_file(file) else { return };
    let end = offset.saturating_add(data.len() as u64);
    for (index, frame) in objects.pages_in(id, offset / PAGE_SIZE, end.div_ceil(PAGE_SIZE)) {
        let page_start = index * PAGE_SIZE;
        let (from, to) = (page_start.max(offset), (page_start + PAGE_SIZE).min(end));
        let src = &data[(from - offset) as usize..(to - offset) as usize];
        copy_to_phys(PhysAddr::new(frame.as_u64() + (from - page_start)), src);
    }
}

/// truncate of `file` to `len` bytes (done): what the mappings hold past
/// the new end is zeros, as the file is (a later growth reads zeros there).
/// Called with the file system locked.
pub fn file_truncated(file: InodeId, len: u64) {
    let objects = OBJECTS.lock();
    let Some(id) = objects.of_file(file) else { return };
    let zeros = [0u8; PAGE_SIZE as usize];
    for (index, frame) in objects.pages_in(id, len / PAGE_SIZE, u64::MAX) {
        let page_start = index * PAGE_SIZE;
        let from = len.max(page_start) - page_start;
        copy_to_phys(PhysAddr::new(frame.as_u64() + from), &zeros[from as usize..]);
    }
}

/// Whether any process maps `file` MAP_SHARED (what `F_SEAL_WRITE`
/// refuses with EBUSY; Linux counts only mappings through descriptors open
/// for writing, which is every mapping of a memfd but a reopened one's).
pub fn is_mapped_shared(file: InodeId) -> bool {
    OBJECTS.lock().of_file(file).is_some()
}

/// Writes every page of `file`'s shared object (if processes map it
/// shared) back into it: before a private mapping takes the file's pages,
/// so that it starts from what the shared mappings wrote.
pub fn write_back_file(file: InodeId) {
    let id = OBJECTS.lock().of_file(file);
    if let Some(id) = id {
        write_back(id, 0, u64::MAX);
    }
}
