//! The page cache: the frames that file mappings and program images map,
//! one set per file content, shared by every process (copy on write for
//! private writes).
//!
//! - A whole page of a file still in the initramfs archive, on a page of
//!   it (the host's writer puts every file's data on one), is the
//!   archive's own frame: nothing is copied or allocated, and identical
//!   files are identical page-aligned frames in every VM booted from the
//!   same image (what lets the host merge them).
//! - Any other page (a file's last, partial page; a file written since
//!   boot) is copied once into a frame of its own, kept here for the
//!   file's content, zeros past the end of the file.
//! - Executable views: the bytes of a file range mapped executable after
//!   the WRPKRU check (`pkru::scan`), with the pages that check rewrote in
//!   frames of their own. Computed once per file content and range, so a
//!   library is scanned once, not once per process.
//!
//! A content is `(inode, generation)` (`vfs::Fs::generation`): a write
//! gives the file a new one, and the cached frames of the old one are let
//! go on the next use, or when the inode is freed ([`forget`]).
//!
//! Frame ownership: the cache owns one reference to each frame it
//! allocated; every mapping takes one more (`frame::share`), so a page the
//! cache holds is always "shared" and a write to it copies it first.
//! Archive frames are never freed: the archive stays reserved for good.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use paging::{PAGE_SIZE, PhysAddr};
use spin::Mutex;
use syscall::Errno;
use vfs::InodeId;

use crate::arch::paging::{copy_to_phys, zero_frame};
use crate::mm::frame;

/// Where the initramfs archive is: its bytes and the physical address of
/// the first one.
struct Archive {
    bytes: &'static [u8],
    phys: u64,
}

static ARCHIVE: spin::Once<Archive> = spin::Once::new();

/// A range of a file mapped executable, as checked.
struct ExecView {
    offset: u64,
    len: u64,
    /// The rewritten pages (index from the start of the file): their own
    /// frames. Or the refusal: the file offset of a WRPKRU left in place.
    outcome: Result<BTreeMap<u64, PhysAddr>, u64>,
}

/// What the cache holds of one file's content.
struct CachedFile {
    generation: u64,
    /// Copied pages, by page index in the file.
    pages: BTreeMap<u64, PhysAddr>,
    exec_views: Vec<ExecView>,
    /// The loader's WRPKRU scan of the file as a program image passed.
    image_clean: bool,
}

impl CachedFile {
    fn release(self) {
        let views = self.exec_views.into_iter().filter_map(|view| view.outcome.ok());
        for frame in self.pages.into_values().chain(views.flat_map(BTreeMap::into_values)) {
            frame::release(frame);
        }
    }
}

static CACHE: Mutex<BTreeMap<InodeId, CachedFile>> = Mutex::new(BTreeMap::new());

/// Serves archive pages in place from now on, if the archive starts on a
/// page (QEMU loads it on one); otherwise every page is copied once.
pub fn set_archive(bytes: &'static [u8], phys: PhysAddr) {
    if phys.as_u64().is_multiple_of(PAGE_SIZE) {
        ARCHIVE.call_once(|| Archive { bytes, phys: phys.as_u64() });
    } else {
        log::warn!("initramfs at {:#x} is not page aligned: file pages will be copied", phys.as_u64());
    }
}

/// The archive's frame holding `page` (a whole page) if it lies there on a page.
fn in_place_frame(page: &[u8]) -> Option<PhysAddr> {
    let archive = ARCHIVE.get()?;
    let offset = (page.as_ptr() as usize).checked_sub(archive.bytes.as_ptr() as usize)?;
    let inside = offset.checked_add(page.len()).is_some_and(|end| end <= archive.bytes.len());
    let phys = archive.phys + offset as u64;
    (inside && page.len() as u64 == PAGE_SIZE && phys.is_multiple_of(PAGE_SIZE)).then(|| PhysAddr::new(phys))
}

/// The physical address of `data`'s first byte when all of it lies in the
/// archive starting on a page: its whole pages are then the archive's
/// frames one after the other, with no lookup per page.
fn in_place_base(data: &[u8]) -> Option<u64> {
    let archive = ARCHIVE.get()?;
    let offset = (data.as_ptr() as usize).checked_sub(archive.bytes.as_ptr() as usize)?;
    let inside = offset.checked_add(data.len()).is_some_and(|end| end <= archive.bytes.len());
    let phys = archive.phys + offset as u64;
    (inside && phys.is_multiple_of(PAGE_SIZE)).then_some(phys)
}

/// The frame of page `index`: the archive's own for a whole page of an
/// in-place file (`base`), else [`frame_of`]. Inline: every page of a
/// fault-around window comes through here.
#[inline(always)]
fn page_frame(pages: &mut BTreeMap<u64, PhysAddr>, data: &[u8], base: Option<u64>, index: u64) -> Result<PhysAddr, Errno> {
    match base {
        Some(base) if (index + 1) * PAGE_SIZE <= data.len() as u64 => Ok(PhysAddr::new(base + index * PAGE_SIZE)),
        _ => frame_of(pages, data, index),
    }
}

/// The cache's record of `(id, generation)`, made fresh if it held an older content.
fn entry(cache: &mut BTreeMap<InodeId, CachedFile>, id: InodeId, generation: u64) -> &mut CachedFile {
    if cache.get(&id).is_some_and(|cached| cached.generation != generation)
        && let Some(stale) = cache.remove(&id)
    {
        stale.release();
    }
    cache
        .entry(id)
        .or_insert_with(|| CachedFile { generation, pages: BTreeMap::new(), exec_views: Vec::new(), image_clean: false })
}

/// A frame holding `bytes` (at most a page), zeros after them.
fn copied_frame(bytes: &[u8]) -> Result<PhysAddr, Errno> {
    let frame = frame::allocate_user().map_err(|_| Errno::ENOMEM)?;
    zero_frame(frame);
    copy_to_phys(frame, bytes);
    Ok(frame)
}

/// The bytes of page `index` of `data` (fewer at the end, none past it).
fn page_bytes(data: &[u8], index: u64) -> &[u8] {
    let start = usize::try_from(index.saturating_mul(PAGE_SIZE)).unwrap_or(usize::MAX).min(data.len());
    let end = start.saturating_add(PAGE_SIZE as usize).min(data.len());
    &data[start..end]
}

/// The frame of page `index` of the content, from the archive or copied once.
fn frame_of(pages: &mut BTreeMap<u64, PhysAddr>, data: &[u8], index: u64) -> Result<PhysAddr, Errno> {
    let bytes = page_bytes(data, index);
    if let Some(frame) = in_place_frame(bytes) {
        return Ok(frame);
    }
    if let Some(&frame) = pages.get(&index) {
        return Ok(frame);
    }
    let frame = copied_frame(bytes)?;
    pages.insert(index, frame);
    Ok(frame)
}

/// The frames of pages `[first, first + count)` of the file `id` whose
/// content (generation `generation`) is `data`, each with one reference
/// taken for the caller's mapping (`frame::release` gives it back). The
/// pages must hold some of the file's bytes (`first + count` at most
/// `data.len()` rounded up to pages).
pub fn frames(id: InodeId, generation: u64, data: &[u8], first: u64, count: u64) -> Result<Vec<PhysAddr>, Errno> {
    let mut cache = CACHE.lock();
    let cached = entry(&mut cache, id, generation);
    let mut out = Vec::new();
    out.try_reserve_exact(count as usize).map_err(|_| Errno::ENOMEM)?;
    let base = in_place_base(data);
    for index in first..first + count {
        // Frames the cache made stay its own on failure: nothing to give back.
        out.push(page_frame(&mut cached.pages, data, base, index)?);
    }
    frame::share_all(&out);
    Ok(out)
}

/// A range of a file checked for WRPKRU as one piece when it was mapped
/// executable (`[offset, offset + len)`, in bytes): the key of its checked
/// bytes in the cache, kept by every part of the mapping, so that pages
/// faulted in later come from the same check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeRange {
    pub offset: u64,
    pub len: u64,
}

/// [`frames`] for pages `[first, first + count)` of the file range `code`
/// mapped executable: the pages `check` rewrote (it gets the range's
/// bytes, and returns the offset in them of a WRPKRU it leaves, or
/// nothing) in frames of their own, the others shared as for any mapping.
/// Checked once per content and range (`count` 0 only checks);
/// `Err(Ok(at))` is a refusal at file offset `at`.
pub fn exec_frames(
    id: InodeId,
    generation: u64,
    data: &[u8],
    code: CodeRange,
    first: u64,
    count: u64,
    check: impl FnOnce(&mut [u8]) -> Option<usize>,
) -> Result<Vec<PhysAddr>, Result<u64, Errno>> {
    let mut cache = CACHE.lock();
    let CachedFile { pages, exec_views, .. } = entry(&mut cache, id, generation);
    let position = exec_views.iter().position(|view| view.offset == code.offset && view.len == code.len);
    let view = match position {
        Some(at) => &exec_views[at],
        None => {
            let view = check_range(data, code.offset, code.len, check).map_err(Err)?;
            exec_views.push(view);
            exec_views.last().expect("just pushed")
        }
    };
    // The rewritten pages are few (glibc's one pkey_set).
    let rewritten = view.outcome.as_ref().map_err(|&at| Ok(at))?;
    let mut out = Vec::new();
    out.try_reserve_exact(count as usize).map_err(|_| Err(Errno::ENOMEM))?;
    let base = in_place_base(data);
    for index in first..first + count {
        let frame = match rewritten.get(&index) {
            Some(&frame) => frame,
            None => page_frame(pages, data, base, index).map_err(Err)?,
        };
        out.push(frame);
    }
    frame::share_all(&out);
    Ok(out)
}

/// The check of a file's bytes about to be mapped executable: glibc's
/// `pkey_set` WRPKRU defused (`pkru::scan::defuse_pkey_set`), each
/// unintended `0F 01 EF` rewritten into an equivalent encoding
/// (`pkru::rewrite::neutralize`, docs/dynamic.md). Returns what was
/// rewritten, or the refusal (a WRPKRU left in place).
pub fn neutralize_code(data: &mut [u8]) -> Result<Vec<pkru::rewrite::Rewrite>, pkru::rewrite::Refusal> {
    pkru::scan::defuse_pkey_set(data);
    pkru::rewrite::neutralize(data)
}

/// Runs `check` on a copy of the file's bytes in `[offset, offset + len)`
/// and keeps the pages it changed.
fn check_range(data: &[u8], offset: u64, len: u64, check: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<ExecView, Errno> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
    let end = usize::try_from(offset.saturating_add(len)).unwrap_or(usize::MAX).min(data.len());
    let original = &data[start..end];
    let mut copy = crate::fs::copy_charged(original)?;
    if let Some(at) = check(&mut copy) {
        return Ok(ExecView { offset, len, outcome: Err(offset + at as u64) });
    }
    let mut rewritten = BTreeMap::new();
    for (i, (new, old)) in copy.chunks(PAGE_SIZE as usize).zip(original.chunks(PAGE_SIZE as usize)).enumerate() {
        if new != old {
            match copied_frame(new) {
                Ok(frame) => {
                    rewritten.insert(offset / PAGE_SIZE + i as u64, frame);
                }
                Err(error) => {
                    rewritten.into_values().for_each(frame::release);
                    return Err(error);
                }
            }
        }
    }
    Ok(ExecView { offset, len, outcome: Ok(rewritten) })
}

/// How the loader is to treat the WRPKRU scan of file `id`'s content as a
/// program image: already passed once (the file is scanned once per
/// content, not once per exec), or still to do.
pub fn image_scan(id: InodeId, generation: u64) -> loader::WrpkruScan {
    let cache = CACHE.lock();
    match cache.get(&id) {
        Some(cached) if cached.generation == generation && cached.image_clean => loader::WrpkruScan::AlreadyClean,
        _ => loader::WrpkruScan::Scan,
    }
}

/// Records that the content passed the loader's scan.
pub fn image_scanned_clean(id: InodeId, generation: u64) {
    entry(&mut CACHE.lock(), id, generation).image_clean = true;
}

/// Lets go of everything cached for `id` (its inode is freed).
pub fn forget(id: InodeId) {
    if let Some(cached) = CACHE.lock().remove(&id) {
        cached.release();
    }
}

/// Frames the cache holds of its own (copied and rewritten pages), for the
/// memory listing.
pub fn cached_frames() -> usize {
    CACHE
        .lock()
        .values()
        .map(|cached| {
            let views: usize = cached.exec_views.iter().map(|view| view.outcome.as_ref().map_or(0, BTreeMap::len)).sum();
            cached.pages.len() + views
        })
        .sum()
}
